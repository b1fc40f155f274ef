"""Exports of a run: its JSON record (the core's), the plot as PNG or SVG, the samples as CSV."""

from __future__ import annotations

import csv
import io
import itertools
import os
from pathlib import Path

import pyqtgraph as pg
import pyqtgraph.exporters  # registers the exporters on pg
from PySide6.QtCore import QBuffer, QByteArray, QIODevice
from PySide6.QtGui import QImage, QPixmap

from ..core.errors import NetmemError
from ..core.records import files, record
from ..core.records.record import Record

KINDS = {".json": "Run record (*.json)", ".png": "Plot as PNG (*.png)", ".svg": "Plot as SVG (*.svg)",
         ".csv": "Samples as CSV (*.csv)"}
FILTERS = ";;".join(KINDS.values())
# From this many samples a record's JSON or CSV is written in a worker thread while the window goes on: the CSV
# of 1,000,000 samples takes about a second, and at this size (about 4 MB of record, where opening also moves
# to a child) an export would hold up a frame or two.
IN_THREAD_FROM_SAMPLES = 50_000
DATA_KINDS = (".json", ".csv")
CSV_CHUNK_ROWS = 10_000  # about 10 ms of writing


class ExportError(NetmemError, ValueError):
    """An export that can't be made; one line for the user."""


def kind_of(path: str | os.PathLike[str], chosen_filter: str = "") -> str:
    """The export kind (a suffix) from the file name, else from the filter the user picked in the dialog."""
    suffix = Path(path).suffix.lower()
    if suffix in KINDS:
        return suffix
    for kind, name in KINDS.items():
        if name == chosen_filter:
            return kind
    raise ExportError(f"{os.fspath(path)}: unknown export type; use .json, .png, .svg or .csv")


def with_suffix(path: str, kind: str) -> str:
    return path if Path(path).suffix.lower() == kind else path + kind


def write_csv(rec: Record, path: str | os.PathLike[str]) -> None:
    """One row per sample: time in seconds, RSS and VMS in bytes."""
    s = rec["samples"]
    text = io.StringIO(newline="")
    out = csv.writer(text)
    out.writerow(["t_s", "rss_bytes", "vms_bytes"])
    rows = zip(s["t_s"], s["rss_bytes"], s["vms_bytes"], strict=True)
    # In chunks: writerows is one C call that holds the GIL until it returns (1M rows: about a second), so a
    # worker thread writing a big record's CSV would stop the window all the same; between chunks it can go on.
    while chunk := list(itertools.islice(rows, CSV_CHUNK_ROWS)):
        out.writerows(chunk)
    files.write_user_file(path, text.getvalue(), ExportError)


def picture_bytes(picture: QImage | QPixmap, fmt: str = "PNG") -> bytes:
    """A picture encoded as `fmt` (PNG, JPG, ...), in memory: files are written by the core's one writer."""
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    ok = picture.save(buffer, fmt.upper())
    buffer.close()
    if not ok:
        raise ExportError(f"the picture could not be encoded as {fmt}")
    return bytes(data.data())


def save_picture(picture: QImage | QPixmap, path: str | os.PathLike[str]) -> None:
    """Write a picture (a screenshot, a plot) in the format its suffix names; ExportError naming the path if not."""
    fmt = Path(path).suffix.lstrip(".") or "png"
    try:
        data = picture_bytes(picture, fmt)
    except ExportError as exc:
        raise ExportError(f"{os.fspath(path)}: {exc}") from None
    files.write_user_file(path, data, ExportError)


def write_plot(plot: pg.PlotWidget, path: str | os.PathLike[str], kind: str) -> None:
    item = plot.getPlotItem()
    if kind == ".png":
        exporter = pg.exporters.ImageExporter(item)
        # Twice the on-screen size, so the PNG stays sharp in documents.
        exporter.parameters()["width"] = max(1600, int(item.sceneBoundingRect().width() * 2))
        save_picture(exporter.export(toBytes=True), path)
        return
    try:
        data = pg.exporters.SVGExporter(item).export(toBytes=True)
    except ValueError:
        # pyqtgraph 0.14's SVG exporter can't parse the closed paths ("... Z") newer Qt writes
        # (pyqtgraph issue #3495); Qt's own SVG generator draws the same widget as vectors.
        data = _qt_svg(plot)
    files.write_user_file(path, data, ExportError)


def _qt_svg(plot: pg.PlotWidget) -> bytes:
    from PySide6.QtCore import QRect, QSize
    from PySide6.QtGui import QPainter
    from PySide6.QtSvg import QSvgGenerator

    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    generator = QSvgGenerator()
    generator.setOutputDevice(buffer)
    generator.setSize(QSize(plot.width(), plot.height()))
    generator.setViewBox(QRect(0, 0, plot.width(), plot.height()))
    generator.setTitle("netmem RSS plot")
    painter = QPainter(generator)
    try:
        plot.render(painter)
    finally:
        painter.end()
    buffer.close()
    return bytes(data.data())


def in_thread(rec: Record, kind: str) -> bool:
    """Whether this export is written in a worker thread: a big record's JSON or CSV (the plot's kinds draw
    with Qt, on the window's thread, and their cost does not grow with the samples)."""
    return kind in DATA_KINDS and len(rec["samples"]["t_s"]) >= IN_THREAD_FROM_SAMPLES


def export(rec: Record, plot: pg.PlotWidget | None, path: str | os.PathLike[str], kind: str) -> None:
    """Write one export with the core's one writer (atomic, mode kept); RecordError or ExportError, naming the
    path, when the file can't be written. JSON and CSV touch no Qt object, so they can run in any thread."""
    record.check_writable(path)
    if kind == ".json":
        record.save(rec, path)
    elif kind == ".csv":
        write_csv(rec, path)
    elif plot is not None:
        write_plot(plot, path, kind)
    else:
        raise ExportError(f"{os.fspath(path)}: a {kind} export draws the plot; none was given")
