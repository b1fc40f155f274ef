"""The run library dialog and the compare view: listing, labelling, deleting, opening, overlays, the diff, exports."""

from __future__ import annotations

import asyncio
import copy
import json
import threading

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")
pytest.importorskip("qasync")

from netmem_gui.core.config import RunConfig
from netmem_gui.core.records import record
from netmem_gui.core.reports import compare
from netmem_gui.core.running.execute import execute
from netmem_gui.core.runs import library
from netmem_gui.core.runs.run import Run

from .conftest import run_async

pytestmark = pytest.mark.qt


def _tiny_run() -> record.Record:
    """A real connections run (10 connections, 20 ms sampling), on a loop of its own thread, away from Qt's."""
    run = Run(RunConfig(scenario="connections", connections=10, interval_ms=20, host="inapp").validate())
    thread = threading.Thread(target=lambda: asyncio.run(execute(run)))
    thread.start()
    thread.join(120)
    assert run.completed, run.stop_reason
    return record.validate(run.record())


@pytest.fixture(scope="module")
def real() -> record.Record:
    return _tiny_run()


def regressed_copy(rec: record.Record) -> record.Record:
    """Another run (later start, other samples) whose peak RSS and per-connection overhead grew well past 10 %."""
    out = copy.deepcopy(rec)
    out["started_at"] = out["started_at"][:-4] + "999Z"
    out["samples"]["t_s"] = [t + 1e-4 for t in out["samples"]["t_s"]]
    out["samples"]["rss_bytes"] = [int(v * 1.5) for v in out["samples"]["rss_bytes"]]
    out["summary"]["peak_rss_bytes"] = int(out["summary"]["peak_rss_bytes"] * 1.5)
    out["scenarios"]["connections"]["per_connection_bytes"] += 4000.0
    out["label"] = "after the change"
    return record.validate(out)


def _select(dialog, entry_id):
    row = [e.id for e in dialog.entries].index(entry_id)
    dialog.table.clearSelection()
    dialog.table.selectRow(row)


def test_a_run_in_the_window_is_saved_to_the_library(window, loop, library_in_tmp):
    async def go():
        entry = window.start_run(RunConfig(scenario="connections", connections=10, interval_ms=20))
        await window.wait_idle()
        return entry

    entry = run_async(loop, go())
    entries = library.list_runs()
    assert [e.id for e in entries] == [entry.library_id]
    assert entries[0].path.parent == library_in_tmp  # the test's folder, never the user's
    assert entries[0].scenario == "connections" and entries[0].counts["connections"] == 10
    assert entry.library_id in window.statusBar().currentMessage()


def test_library_lists_labels_deletes_and_opens(window, real, library_in_tmp, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    from netmem_gui.gui.library_view import DAMAGED_BRUSH

    base = library.save_run(real)
    new = library.save_run(regressed_copy(real))
    (library_in_tmp / "19990101T000000Z-all-broken.json").write_text("{ not json", encoding="utf-8")

    dialog = window.show_library()
    assert dialog.table.rowCount() == 3
    texts = {e.id: [dialog.table.item(r, c).text() for c in range(dialog.table.columnCount())]
             for r, e in enumerate(dialog.entries)}
    broken = texts["19990101T000000Z-all-broken"]
    assert any(t.startswith("DAMAGED: ") for t in broken)
    damaged_row = [e.id for e in dialog.entries].index("19990101T000000Z-all-broken")
    assert dialog.table.item(damaged_row, 0).background() == DAMAGED_BRUSH
    assert texts[new.id][1] == "after the change" and texts[new.id][2] == "connections"
    assert texts[new.id][3] == "echo server"  # what was measured (#26)
    assert texts[new.id][5].startswith("10/")  # connections / messages / cycles
    assert texts[base.id][6].endswith(" MB") and texts[base.id][8] == "yes"

    # Label, through the (replaced) question for the text.
    dialog._ask_label = lambda parent, current: "baseline"
    _select(dialog, base.id)
    assert dialog.label_selected()
    assert record.load(base.path)["label"] == "baseline"
    assert dialog.table.item([e.id for e in dialog.entries].index(base.id), 1).text() == "baseline"

    # Open into the window's run list.
    _select(dialog, new.id)
    dialog.open_selected()
    assert window.run_list.count() == 1 and "after the change" in window.run_list.item(0).text()

    # Delete asks first: "No" keeps the file, "Yes" removes it (a damaged file too).
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a) or QMessageBox.StandardButton.No)
    _select(dialog, "19990101T000000Z-all-broken")
    assert dialog.delete_selected() == 0 and len(asked) == 1 and dialog.table.rowCount() == 3
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    _select(dialog, "19990101T000000Z-all-broken")
    assert dialog.delete_selected() == 1
    assert dialog.table.rowCount() == 2 and not (library_in_tmp / "19990101T000000Z-all-broken.json").exists()

    # Refresh picks up what changed behind the dialog's back.
    library.delete(new.id)
    dialog.refresh()
    assert [e.id for e in dialog.entries] == [base.id]


def test_compare_view_overlays_diffs_and_exports(window, real, tmp_path):
    from PySide6.QtGui import QImage

    from netmem_gui.gui.compare_view import REGRESSED_BRUSH

    # A positive per-connection figure in BASE, as on a quiet machine: a tiny run on a busy one can fit 0 B or
    # less, and growth from 0 or less regresses at any threshold (the rule the threshold check below relies on).
    real = copy.deepcopy(real)
    real["scenarios"]["connections"]["per_connection_bytes"] = 1500.0
    base = library.save_run(real)
    new = library.save_run(regressed_copy(real))
    view = window.show_compare([new.id, base.id])
    assert view.ordered() == [base.id, new.id]  # the older run is BASE

    # Two curves, each named in the key above the plot (not in a legend over it), in their own colours.
    assert len(view.plot.getPlotItem().listDataItems()) == 2 == len(view.curves)
    assert len(view.key) == 2 and view.plot.getPlotItem().legend is None
    assert all(text.split(" (")[0] in view.plot.getPlotItem().titleLabel.text for text in view.key)
    assert view.curves[0].opts["pen"].color() != view.curves[1].opts["pen"].color()

    cmp = view.comparison
    assert cmp is not None and cmp.regressed
    scopes = len({row.figure.scope for row in cmp.rows})
    assert view.table.rowCount() == len(cmp.rows) + scopes
    titles = [view.table.item(r, 0).text() for r in range(view.table.rowCount())]
    peak_row = titles.index("Peak RSS (gated)")
    assert view.table.item(peak_row, 5).text() == "▲ REGRESSED"
    assert view.table.item(peak_row, 2).background() == REGRESSED_BRUSH
    assert view.table.item(peak_row, 4).text() == "+50.0 %"
    baseline_row = titles.index("Baseline RSS")
    assert view.table.item(baseline_row, 2).background() != REGRESSED_BRUSH
    assert "REGRESSED" in view.verdict.text()

    # A threshold above the growth: nothing regresses any more.
    view.threshold.setValue(1000.0)
    assert not view.comparison.regressed
    assert view.table.item(peak_row, 5).text() == ""
    assert "No gated figure regressed" in view.verdict.text()
    view.threshold.setValue(10.0)
    assert view.comparison.regressed

    # Phase alignment keeps both curves (NaN between phases).
    view.align_box.setCurrentText("start of each phase")
    assert len(view.curves) == 2 and view.curves[1].xData.size > 0

    # Exports: the CLI's own text, and a picture.
    expected = compare.compare([record.load(base.path), record.load(new.path)], [base.id, new.id], 10.0)
    view.export_to(tmp_path / "c.md")
    view.export_to(tmp_path / "c.json")
    view.export_to(tmp_path / "c.png")
    assert (tmp_path / "c.md").read_text(encoding="utf-8") == compare.render(expected, "markdown") + "\n"
    assert (tmp_path / "c.json").read_text(encoding="utf-8") == compare.render(expected, "json") + "\n"
    assert json.loads((tmp_path / "c.json").read_text())["regressed"] is True
    image = QImage(str(tmp_path / "c.png"))
    assert not image.isNull() and image.width() == view.width()


def test_compare_view_offers_session_runs_and_library_runs_once(window, real, tmp_path):
    saved = library.save_run(real)
    path = tmp_path / "opened.json"
    record.save(regressed_copy(real), path)
    assert window.open_record(str(path))
    view = window.show_compare()
    names = [c.name for c in view.candidates]
    assert names[0] == window.entries[0].title and saved.id in names and len(names) == 2
    assert view.comparison is None and "Tick two or more" in view.verdict.text()
    view.choose(names)
    assert view.comparison is not None and len(view.curves) == 2
    # A saved session run is offered once: as the session's run, not again from the library.
    window.entries[0].library_id = saved.id
    view = window.show_compare()
    assert [c.name for c in view.candidates] == [window.entries[0].title]


def test_fewer_than_two_runs_show_a_hint_and_export_says_why(window, real, tmp_path):
    library.save_run(real)
    view = window.show_compare()
    assert view.comparison is None and len(view.curves) == 0
    with pytest.raises(ValueError, match="two or more"):
        view.export_to(tmp_path / "c.md")
