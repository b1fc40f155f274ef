"""Big records in the window: one opens in a child process, and its JSON or CSV is exported in a thread, while the
window goes on; shown or written whole, errors in one line, opening cancellable."""

from __future__ import annotations

import asyncio
import csv

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")
pytest.importorskip("qasync")

from netmem_gui.core.config import RunConfig
from netmem_gui.core.records import opening, record
from netmem_gui.core.runs import library
from tests.core.long_records import with_samples

from .conftest import run_async, until

pytestmark = pytest.mark.qt

SAMPLES = 200_000


@pytest.fixture
def short_record(window, loop):
    """A real run's record, made in the window (which lists it: the tests count rows from there)."""
    async def go():
        entry = window.start_run(RunConfig(scenario="messages", messages=200, interval_ms=20, host="inapp"))
        await window.wait_idle()
        return entry

    return run_async(loop, go()).record()


@pytest.fixture
def long_file(short_record, tmp_path):
    path = tmp_path / "long.json"
    record.save(with_samples(short_record, SAMPLES), path)
    assert opening.needs_child(path)
    return path


class Watch:
    """A Qt timer on the window's thread, counting its ticks while the window is opening a record in a child."""

    def __init__(self, window):
        from PySide6.QtCore import QTimer

        self.window = window
        self.ticks = 0
        self.progress = set()
        self.timer = QTimer()
        self.timer.setInterval(20)
        self.timer.timeout.connect(self._tick)
        self.timer.start()

    def _tick(self):
        if self.window.opening is not None:
            self.ticks += 1
            if self.window.open_label.isVisible():
                self.progress.add(self.window.open_label.text().split("…")[0])


def test_a_big_record_opens_while_the_window_goes_on(window, loop, long_file, dialogs):
    watch = Watch(window)
    rows = window.run_list.count()
    assert run_async(loop, window.open_file(str(long_file)))
    watch.timer.stop()
    assert not dialogs and window.run_list.count() == rows + 1
    entry = window.current_entry()
    assert "long.json" in entry.title and window.summary.shown_record is entry.rec
    assert window.plot.sample_count() == SAMPLES == len(entry.rec["samples"]["t_s"])
    assert entry.rec == record.load(long_file)
    # The window's thread went on handling events while the child read the file, and showed how far it had got.
    assert watch.ticks >= 3
    assert watch.progress and all(text.startswith(f"Opening long.json ({_size(long_file)}): ")
                                  for text in watch.progress), watch.progress
    assert not window.open_label.isVisible() and not window.open_cancel.isVisible()


def _size(path):
    from netmem_gui.core.reports import tables

    return tables.size(path.stat().st_size)


def test_open_record_starts_it_and_the_record_follows(window, loop, long_file, dialogs):
    rows = window.run_list.count()
    assert window.open_record(str(long_file))  # returns at once: the child is still reading
    assert window.run_list.count() == rows
    run_async(loop, until(lambda: window.run_list.count() == rows + 1, 60, "the record opened"))
    assert window.plot.sample_count() == SAMPLES and not dialogs


def test_a_bad_big_file_gives_one_line(window, loop, long_file, dialogs, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(long_file.read_text(encoding="utf-8").replace('"lag_s": [\n  ', '"lag_s": [\n  -1.0,\n  ', 1),
                   encoding="utf-8")
    rows = window.run_list.count()
    assert not run_async(loop, window.open_file(str(bad)))
    assert len(dialogs) == 1 and window.run_list.count() == rows
    title, text = dialogs[0]
    assert title == "Cannot open the run record" and "\n" not in text
    assert "bad.json" in text and "a negative lag" in text
    assert window.start_button.isEnabled()


def test_cancel_stops_opening(window, loop, long_file, dialogs):
    async def go():
        task = asyncio.ensure_future(window.open_file(str(long_file)))
        await until(lambda: window.open_cancel.isVisible(), 30, "the Cancel button")
        window.open_cancel.click()
        return await task

    rows = window.run_list.count()
    assert not run_async(loop, go())
    assert window.run_list.count() == rows and not dialogs
    assert "cancelled" in window.statusBar().currentMessage()
    assert not window.open_cancel.isVisible() and window.opening is None


def test_the_library_and_the_compare_view_open_big_records_in_a_child(window, loop, short_record, long_file, dialogs):
    big = library.save_run(record.load(long_file))
    view = window.show_compare([big.id, window.entries[0].title])
    assert view.comparison is None and "Opening" in view.verdict.text() and big.id in view.verdict.text()
    run_async(loop, until(lambda: view.comparison is not None, 60, "the comparison"))
    assert sorted(curve.xData.size for curve in view.curves) == [len(short_record["samples"]["t_s"]), SAMPLES]
    assert not view.opening and not dialogs

    dialog = window.show_library()
    row = [e.id for e in dialog.entries].index(big.id)
    dialog.table.selectRow(row)
    rows = window.run_list.count()
    dialog.open_selected()
    run_async(loop, until(lambda: window.run_list.count() == rows + 1, 60, "the record opened"))
    assert window.plot.sample_count() == SAMPLES and not dialogs


def test_big_records_open_one_at_a_time_in_the_order_asked(window, loop, long_file, tmp_path, dialogs):
    second = tmp_path / "second.json"
    second.write_bytes(long_file.read_bytes())
    opened = []  # the job in the child each time the window's timer looks: never two, and in order

    async def go():
        first_task = asyncio.ensure_future(window.open_file(str(long_file)))
        second_task = asyncio.ensure_future(window.open_file(str(second)))
        while not (first_task.done() and second_task.done()):
            if window.opening is not None and (not opened or opened[-1] != window.opening.path):
                opened.append(window.opening.path)
                assert window.opening.path == str(long_file) or first_task.done(), "two opened at once"
            await asyncio.sleep(0.01)
        return first_task.result(), second_task.result()

    rows = window.run_list.count()
    assert run_async(loop, go()) == (True, True)
    assert opened == [str(long_file), str(second)]
    assert [window.run_list.item(r).text().split(" · ")[0] for r in (rows, rows + 1)] == ["long.json", "second.json"]
    assert not dialogs


def test_cancel_also_stops_the_records_waiting_their_turn(window, loop, long_file, tmp_path, dialogs):
    second = tmp_path / "second.json"
    second.write_bytes(long_file.read_bytes())

    async def go():
        tasks = [asyncio.ensure_future(window.open_file(str(p))) for p in (long_file, second)]
        await until(lambda: window.open_cancel.isVisible(), 30, "the Cancel button")
        window.open_cancel.click()
        return [await t for t in tasks]

    rows = window.run_list.count()
    assert run_async(loop, go()) == [False, False]
    assert window.run_list.count() == rows and not dialogs and window.opening is None


def test_unticking_a_big_record_in_the_compare_view_stops_reading_it(window, loop, short_record, long_file, dialogs):
    from PySide6.QtCore import Qt

    big = library.save_run(record.load(long_file))
    view = window.show_compare([big.id, window.entries[0].title])
    job = view.opening[big.id]
    assert "untick a run to stop" in view.verdict.text()
    row = [c.name for c in view.candidates].index(big.id)
    view.run_list.item(row).setCheckState(Qt.CheckState.Unchecked)
    assert job.cancelled
    run_async(loop, until(lambda: not view.opening, 60, "the reading stopped"))
    assert big.id not in view.records and view.comparison is None and not dialogs
    assert view.verdict.text() == "Tick two or more runs on the left to compare them."


def test_a_big_record_exports_while_the_window_goes_on(window, loop, long_file, dialogs, tmp_path):
    from PySide6.QtCore import QTimer

    from netmem_gui.gui import exporting

    assert run_async(loop, window.open_file(str(long_file)))
    rec = window.current_entry().record()
    assert exporting.in_thread(rec, ".csv") and exporting.in_thread(rec, ".json")
    assert not exporting.in_thread(rec, ".png")  # the plot is drawn by Qt, on the window's thread
    out = tmp_path / "long.csv"
    seen = []  # what the status bar said on each tick of a timer on the window's thread
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: seen.append(window.statusBar().currentMessage()))

    async def go():
        assert window.export_to(str(out))
        assert not out.exists()  # it returned at once: the thread writes the file afterwards
        timer.start()
        await until(lambda: window.statusBar().currentMessage() == f"Exported {out}", 60, "the CSV exported")
        timer.stop()

    run_async(loop, go())
    assert not dialogs
    # The window's thread went on handling events while the worker wrote the CSV (200,000 rows).
    assert f"Exporting long.csv ({SAMPLES:,} samples)…" in seen
    with open(out, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["t_s", "rss_bytes", "vms_bytes"] and len(rows) == SAMPLES + 1
    assert [float(rows[-1][0]), int(rows[-1][1]), int(rows[-1][2])] == [
        rec["samples"][column][-1] for column in ("t_s", "rss_bytes", "vms_bytes")]

    as_json = tmp_path / "long-copy.json"
    assert run_async(loop, window.export_file(str(as_json)))
    assert record.load(as_json) == record.load(long_file) and not dialogs


def test_a_big_export_that_fails_says_why_in_one_line(window, loop, long_file, dialogs, tmp_path):
    assert run_async(loop, window.open_file(str(long_file)))
    missing = tmp_path / "no-such-folder" / "long.csv"
    assert not run_async(loop, window.export_file(str(missing)))
    assert len(dialogs) == 1
    title, text = dialogs[0]
    assert title == "Cannot export" and "\n" not in text and "no-such-folder" in text
    assert not missing.parent.exists()


def test_the_library_dialog_labels_a_big_record_while_it_goes_on(window, loop, long_file, dialogs):
    big = library.save_run(record.load(long_file))
    dialog = window.show_library()
    dialog._ask_label = lambda parent, current: "overnight"
    dialog.table.selectRow([e.id for e in dialog.entries].index(big.id))

    async def go():
        assert dialog.label_selected()
        # It returned at once: the record is rewritten in a thread, and meanwhile the run can't be relabelled or
        # deleted (the rewrite would bring a deleted file back).
        assert dialog.labelling == big.id and dialog.where.text() == f"Labelling {big.id}…"
        assert not dialog.label_button.isEnabled() and not dialog.delete_button.isEnabled()
        assert not dialog.label_selected() and dialog.delete_selected() == 0
        await until(lambda: dialog.labelling is None, 60, "the label written")

    run_async(loop, go())
    assert not dialogs
    row = [e.id for e in dialog.entries].index(big.id)
    assert dialog.table.item(row, 1).text() == "overnight" and dialog.label_button.isEnabled()
    labelled = record.load(big.path)
    assert labelled["label"] == "overnight" and labelled["samples"] == record.load(long_file)["samples"]
