"""Exports of a run: its JSON record (the core's), the plot as PNG or SVG, the samples as CSV."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pyqtgraph as pg
import pyqtgraph.exporters  # registers the exporters on pg

from ..core import record
from ..core.record import Record

KINDS = {".json": "Run record (*.json)", ".png": "Plot as PNG (*.png)", ".svg": "Plot as SVG (*.svg)",
         ".csv": "Samples as CSV (*.csv)"}
FILTERS = ";;".join(KINDS.values())


class ExportError(ValueError):
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
    tmp = Path(path).with_name(f".{Path(path).name}.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["t_s", "rss_bytes", "vms_bytes"])
        out.writerows(zip(s["t_s"], s["rss_bytes"], s["vms_bytes"], strict=True))
    os.replace(tmp, path)


def write_plot(plot_item: pg.PlotItem, path: str | os.PathLike[str], kind: str) -> None:
    exporter = (pg.exporters.SVGExporter(plot_item) if kind == ".svg" else pg.exporters.ImageExporter(plot_item))
    if kind == ".png":
        # Twice the on-screen size, so the PNG stays sharp in documents.
        exporter.parameters()["width"] = max(1600, int(plot_item.sceneBoundingRect().width() * 2))
    exporter.export(os.fspath(path))
    if not Path(path).exists():
        raise ExportError(f"{os.fspath(path)}: the plot could not be written")


def export(rec: Record, plot_item: pg.PlotItem, path: str | os.PathLike[str], kind: str) -> None:
    """Write one export; RecordError or OSError when the file can't be written."""
    record.check_writable(path)
    if kind == ".json":
        record.save(rec, path)
    elif kind == ".csv":
        write_csv(rec, path)
    else:
        write_plot(plot_item, path, kind)
