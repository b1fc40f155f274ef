"""Draw netmem's app icon with QPainter and write every size the app and the installers need.

    python packaging/make_icons.py

Writes netmem_gui/resources/netmem-SIZE.png (runtime, package data) and resources/netmem.ico and
resources/netmem.icns (packaging only). Re-run it after changing the drawing and commit the results.
"""

from __future__ import annotations

import os
import struct
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QGuiApplication, QImage, QPainter, QPainterPath, QPen

ROOT = Path(__file__).resolve().parents[1]
RUNTIME_DIR = ROOT / "netmem_gui" / "resources"
PACKAGING_DIR = ROOT / "resources"
PNG_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
# ICNS element types that hold PNG data, by pixel size (ic10 is 512@2x, drawn at 1024).
ICNS_TYPES = {16: b"icp4", 32: b"icp5", 64: b"icp6", 128: b"ic07", 256: b"ic08", 512: b"ic09", 1024: b"ic10"}

CHIP = QColor("#1f2a44")
PIN = QColor("#9aa7bd")
CURVE = QColor("#35d07f")
GRID = QColor("#2f3d5c")


def draw(size: int) -> QImage:
    """The icon at `size` px: a memory chip whose die shows a rising-then-settling RSS curve."""
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    p = QPainter(image)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.scale(size / 64, size / 64)  # draw on a 64-unit canvas
    # Pins: four a side; at 16 px only three fit legibly.
    pins = 3 if size < 24 else 4
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(PIN)
    for i in range(pins):
        at = 14 + (36 / (pins - 1)) * i
        for x, y, w, h in ((2, at - 2.5, 10, 5), (52, at - 2.5, 10, 5), (at - 2.5, 2, 5, 10), (at - 2.5, 52, 5, 10)):
            p.drawRoundedRect(QRectF(x, y, w, h), 1.5, 1.5)
    p.setBrush(CHIP)
    p.drawRoundedRect(QRectF(8, 8, 48, 48), 7, 7)
    if size >= 48:  # faint grid lines only where they don't turn into mush
        p.setPen(QPen(GRID, 1.2))
        for y in (22, 32, 42):
            p.drawLine(QPointF(14, y), QPointF(50, y))
    curve = QPainterPath(QPointF(14, 47))
    curve.cubicTo(QPointF(22, 46), QPointF(24, 22), QPointF(32, 21))
    curve.cubicTo(QPointF(38, 20), QPointF(42, 30), QPointF(50, 29))
    pen = QPen(CURVE, 5.0 if size < 32 else 4.0)
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    p.setPen(pen)
    p.setBrush(Qt.BrushStyle.NoBrush)
    p.drawPath(curve)
    p.end()
    return image


def png_bytes(image: QImage) -> bytes:
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    return bytes(data)


def ico(pngs: dict[int, bytes]) -> bytes:
    """An ICO file of PNG-compressed images (read by Windows Vista and later)."""
    header = struct.pack("<HHH", 0, 1, len(pngs))
    entries, blobs, offset = b"", b"", 6 + 16 * len(pngs)
    for size, blob in pngs.items():
        side = 0 if size >= 256 else size  # 0 means 256 in an ICO directory entry
        entries += struct.pack("<BBBBHHII", side, side, 0, 0, 1, 32, len(blob), offset)
        blobs += blob
        offset += len(blob)
    return header + entries + blobs


def icns(pngs: dict[int, bytes]) -> bytes:
    """An ICNS file of PNG elements (read by macOS 10.7 and later)."""
    body = b"".join(ICNS_TYPES[size] + struct.pack(">I", 8 + len(blob)) + blob for size, blob in pngs.items())
    return b"icns" + struct.pack(">I", 8 + len(body)) + body


def main() -> int:
    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])
    RUNTIME_DIR.mkdir(exist_ok=True)
    pngs = {size: png_bytes(draw(size)) for size in (*PNG_SIZES, 1024)}
    for size in PNG_SIZES:
        (RUNTIME_DIR / f"netmem-{size}.png").write_bytes(pngs[size])
    (PACKAGING_DIR / "netmem.ico").write_bytes(ico({s: pngs[s] for s in ICO_SIZES}))
    (PACKAGING_DIR / "netmem.icns").write_bytes(icns({s: pngs[s] for s in ICNS_TYPES}))
    del app
    print(f"wrote {len(PNG_SIZES)} PNGs to {RUNTIME_DIR.relative_to(ROOT)}/ and netmem.ico, netmem.icns to resources/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
