"""The app icon, loaded through importlib.resources so a checkout, a wheel and a frozen bundle all find it."""

from __future__ import annotations

from importlib import resources

from PySide6.QtGui import QIcon, QPixmap

SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def app_icon() -> QIcon:
    """netmem's icon in every size it ships, so each platform picks a crisp one."""
    icon = QIcon()
    files = resources.files("netmem_gui.resources")
    for size in SIZES:
        pixmap = QPixmap()
        # Bytes rather than a path: a resource need not be a file on disk (zipped installs).
        if pixmap.loadFromData(files.joinpath(f"netmem-{size}.png").read_bytes(), "PNG"):
            icon.addPixmap(pixmap)
    return icon
