"""Export a run (JSON, PNG, SVG, CSV), open the record again, refuse malformed files, keep settings."""

from __future__ import annotations

import asyncio
import csv
import json

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")
pytest.importorskip("qasync")

from netmem_gui.core.config import RunConfig
from netmem_gui.core.records import record

from .conftest import run_async

pytestmark = pytest.mark.qt




def _finished_run(window, loop):
    async def go():
        entry = window.start_run(RunConfig(scenario="messages", messages=200, interval_ms=20))
        await window.wait_idle()
        await asyncio.sleep(0.05)
        return entry

    entry = run_async(loop, go())
    assert entry.run.completed
    return entry


def test_export_all_kinds_and_reopen(window, loop, tmp_path, dialogs):
    from PySide6.QtGui import QImage

    entry = _finished_run(window, loop)
    paths = {kind: tmp_path / f"run{kind}" for kind in (".json", ".png", ".svg", ".csv")}
    for path in paths.values():
        assert window.export_to(str(path)), dialogs

    saved = record.load(paths[".json"])
    assert saved == json.loads(record.dumps(entry.record()))  # the core's record, as the CLI writes it
    image = QImage(str(paths[".png"]))
    assert not image.isNull() and image.width() >= 1600
    assert "<svg" in paths[".svg"].read_text(encoding="utf-8")
    with open(paths[".csv"], newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["t_s", "rss_bytes", "vms_bytes"]
    assert len(rows) - 1 == len(saved["samples"]["t_s"]) > 0
    assert int(rows[1][1]) == saved["samples"]["rss_bytes"][0]

    assert window.open_record(str(paths[".json"]))
    assert window.run_list.count() == 2 and window.run_list.currentRow() == 1
    assert window.summary.shown_record == saved
    assert window.plot.sample_count() == len(saved["samples"]["t_s"])
    assert len(window.plot.checkpoint_dots.data) == len(saved["checkpoints"])
    assert not dialogs


def test_export_with_unknown_suffix_says_so(window, loop, tmp_path, dialogs):
    _finished_run(window, loop)
    assert not window.export_to(str(tmp_path / "run.txt"))
    assert "unknown export type" in dialogs[-1][1]


@pytest.mark.parametrize(("content", "problem"), [
    ("{not json", "not JSON"),
    ("", "empty file"),
    ('{"schema": "something/else"}', "not a netmem.run/1 record"),
    ('{"schema": "netmem.run/1", "label": 3}', "invalid record"),
])
def test_malformed_file_gives_an_error_naming_the_problem(window, loop, tmp_path, dialogs, content, problem):
    entry = _finished_run(window, loop)
    bad = tmp_path / "bad.json"
    bad.write_text(content, encoding="utf-8")

    assert not window.open_record(str(bad))
    assert len(dialogs) == 1
    _, text = dialogs[0]
    assert "bad.json" in text and problem in text
    # Nothing lost: the run is still listed, selected and shown, and the window still works.
    assert window.run_list.count() == 1 and window.current_entry() is entry
    assert window.summary.shown_record is not None
    assert window.start_button.isEnabled()


def test_missing_file_names_it(window, dialogs, tmp_path):
    assert not window.open_record(str(tmp_path / "nowhere.json"))
    assert "no such file" in dialogs[0][1]


def test_last_settings_persist_between_sessions(qapp, qtbot, loop):
    from netmem_gui.gui.settings import make_settings
    from netmem_gui.gui.window import MainWindow

    first = MainWindow(make_settings())
    qtbot.addWidget(first)
    first.form.set_config(RunConfig(scenario="messages", connections=7, messages=1234, message_size=64,
                                    duration_s=3.5, host="inapp", interval_ms=30))
    first.close()

    second = MainWindow(make_settings())
    qtbot.addWidget(second)
    assert second.form.config() == RunConfig(scenario="messages", connections=7, messages=1234, message_size=64,
                                             duration_s=3.5, host="inapp", interval_ms=30)


def test_unreadable_settings_fall_back_to_the_defaults(qapp, qtbot, loop, private_settings):
    from netmem_gui.gui.settings import make_settings
    from netmem_gui.gui.window import MainWindow

    with open(private_settings, "w", encoding="utf-8") as handle:
        handle.write("[run]\nscenario=bogus\nmessages=lots\n")
    win = MainWindow(make_settings())
    qtbot.addWidget(win)
    assert win.form.config() == RunConfig()


def test_every_control_has_a_tooltip_and_shortcuts_exist(window):
    from PySide6.QtWidgets import QAbstractSpinBox, QComboBox, QLineEdit, QPushButton

    widgets = [w for kind in (QAbstractSpinBox, QComboBox, QLineEdit, QPushButton) for w in window.findChildren(kind)]
    assert len(widgets) >= 10
    for widget in widgets:
        if widget.isVisibleTo(window) and not isinstance(widget.parent(), QAbstractSpinBox):
            assert widget.toolTip(), f"{widget!r} has no tooltip"
    keys = {a.text(): [s.toString() for s in a.shortcuts()] for a in window.actions()}
    assert keys["&Start run"] == ["Ctrl+R"]
    assert keys["S&top run"] == ["Esc", "Ctrl+."]
    assert keys["&Open run record…"] == ["Ctrl+O"]
    assert keys["&Export…"] == ["Ctrl+E"]
    assert keys["&Follow data"] == ["A"]
