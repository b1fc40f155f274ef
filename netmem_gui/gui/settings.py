"""Where the app keeps its last-used settings (QSettings), and how tests point it somewhere private."""

from __future__ import annotations

import os

from PySide6.QtCore import QSettings

ORGANISATION = "netmem"
APPLICATION = "netmem-gui"
# An INI file to use instead of the user's settings: tests and demos set it so they never share state.
SETTINGS_ENV = "NETMEM_GUI_SETTINGS"


def make_settings() -> QSettings:
    path = os.environ.get(SETTINGS_ENV)
    if path:
        return QSettings(path, QSettings.Format.IniFormat)
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORGANISATION, APPLICATION)
