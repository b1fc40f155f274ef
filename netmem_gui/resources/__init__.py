"""Files the running app loads through importlib.resources (the app icon); packaging-only files live in resources/."""
