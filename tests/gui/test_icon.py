"""The app icon ships as package data and is shown by the app and its main window."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")

pytestmark = pytest.mark.qt


def test_icon_loads_in_every_size(qapp):
    from netmem_gui.gui.icon import SIZES, app_icon

    icon = app_icon()
    assert not icon.isNull()
    assert sorted(s.width() for s in icon.availableSizes()) == sorted(SIZES)


def test_main_window_shows_the_app_icon(window):
    assert not window.windowIcon().isNull()
    assert window.windowIcon().cacheKey() != 0
    assert 256 in [s.width() for s in window.windowIcon().availableSizes()]
