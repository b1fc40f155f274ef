"""The app's Target section: the kind of target, the Pick… dialog over this machine's real listening sockets, and a
run attached to a real redis-server whose plot names the process."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")
pytest.importorskip("qasync")

from PySide6.QtCore import Qt

from netmem_gui.core.config import ConfigError

from .conftest import finished_on_screen, run_async

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core"))
from servers import redis_server

pytestmark = pytest.mark.qt


def test_the_target_section_makes_each_kind_of_config(qtbot):
    from netmem_gui.gui.form import RunForm

    form = RunForm()
    qtbot.addWidget(form)
    assert form.kind() == "builtin" and not form.controls["attach_pid"].isEnabled()
    assert form.config().target_kind() == "builtin"
    form.set_kind("spawn")
    form.controls["spawn"].setText("redis-server --port {port} --save ''")
    form.controls["protocol"].setCurrentText("redis")
    config = form.config()
    assert config.target_kind() == "spawn" and config.spawn == "redis-server --port {port} --save ''"
    assert config.protocol == "redis" and config.attach_pid is None
    assert not form.controls["attach_pid"].isEnabled() and form.controls["spawn"].isEnabled()
    form.set_kind("attach")
    with pytest.raises(ConfigError, match=r"'Process \(PID\)'") as no_pid:
        form.config()  # no PID yet: an error naming the field, never the built-in server instead
    assert no_pid.value.field == "attach_pid" and "--" not in str(no_pid.value)
    # Back to the built-in server: the target rows keep their values but are not used.
    form.set_kind("builtin")
    assert form.config().target_kind() == "builtin" and form.config().protocol == "echo"
    form.set_config(config)
    assert form.kind() == "spawn" and form.controls["spawn"].text() == config.spawn


def test_pick_lists_a_real_redis_and_attaches_in_two_clicks(qtbot):
    from netmem_gui.gui.form import RunForm
    from netmem_gui.gui.pick import PickDialog

    form = RunForm()
    qtbot.addWidget(form)
    with redis_server() as (proc, port):
        dialog = PickDialog(form)
        qtbot.addWidget(dialog)
        ours = [x for x in dialog.shown() if x.port == port]
        assert [(x.pid, x.name) for x in ours] == [(proc.pid, "redis-server")]
        dialog.filter.setText(f"redis {port}")
        assert [x.port for x in dialog.shown()] == [port]
        assert dialog.table.rowCount() == 1 and dialog.table.item(0, 2).text() == str(proc.pid)
        assert dialog.table.item(0, 3).text() == "redis-server"
        # The two clicks: the row, then OK (a double click does both).
        dialog.table.selectRow(0)
        assert dialog.buttons.button(dialog.buttons.StandardButton.Ok).isEnabled()
        qtbot.mouseClick(dialog.buttons.button(dialog.buttons.StandardButton.Ok), Qt.MouseButton.LeftButton)
        assert dialog.result() == dialog.DialogCode.Accepted and dialog.chosen is not None
        form.attach(dialog.chosen)
        config = form.config()
        assert (config.target_kind(), config.attach_pid, config.address, config.protocol) == (
            "attach", proc.pid, f"127.0.0.1:{port}", "redis")
        dialog.filter.setText("no-such-process-listens-here")
        assert dialog.table.rowCount() == 0 and "hidden by the filter" in dialog.status.text()


def test_a_run_attached_to_redis_names_it_on_the_plot(window, loop):
    with redis_server() as (proc, port):
        form = window.form
        form.scenario.setCurrentText("connections")
        form.controls["connections"].setValue(40)
        form.controls["interval_ms"].setValue(20)
        form.set_kind("attach")
        form.controls["attach_pid"].setValue(proc.pid)
        form.controls["address"].setText(f"127.0.0.1:{port}")
        form.controls["protocol"].setCurrentText("redis")
        entry = window.start_run()
        assert entry is not None, window.statusBar().currentMessage()
        run_async(loop, finished_on_screen(window, entry))
        assert entry.rec["completed"], entry.rec["stop_reason"]
        assert entry.rec["target"]["name"] == "redis-server"
        title = window.plot.getPlotItem().titleLabel.text
        assert f"RSS of redis-server (pid {proc.pid}, attached, 127.0.0.1:{port})" in title
        assert proc.poll() is None


def test_a_spawned_command_that_never_listens_leaves_no_run_in_the_window_or_the_library(window, loop, dialogs):
    """As on the command line: the window used to keep an empty, incomplete run of it (and save it)."""
    from netmem_gui.core.runs import library

    form = window.form
    form.scenario.setCurrentText("connections")
    form.set_kind("spawn")
    form.controls["spawn"].setText("false {port}")
    entry = window.start_run()
    assert entry is not None, window.statusBar().currentMessage()
    run_async(loop, window.wait_idle())
    assert window.entries == [] and window.run_list.count() == 0 and window.active is None
    assert [title for title, _ in dialogs] == ["Cannot start the run"]
    assert "exited with status 1 before it listened" in dialogs[0][1]
    assert entry.outcome is not None and entry.outcome.status == 2 and library.list_runs() == []
