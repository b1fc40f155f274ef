import a_module_that_is_not_installed_anywhere  # noqa: F401
