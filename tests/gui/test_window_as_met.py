"""Issue 26, headless: what a new user met in the window (stale labels, unticked compares, silent fallbacks...).

The real-window test (test_real_window.py) checks the points that need a real X window and mouse; these check
the same behaviour offscreen, fast, and the points that need no window manager.
"""

from __future__ import annotations

import copy

import pytest

pytest.importorskip("PySide6")

from netmem_gui.core.config import RunConfig
from netmem_gui.core.records import record
from netmem_gui.core.reports.tables import MIB

from .conftest import run_async
from .test_library_compare import _tiny_run

pytestmark = pytest.mark.qt


@pytest.fixture(scope="module")
def real() -> record.Record:
    return _tiny_run()


def _shifted(rec: record.Record, by_bytes: int) -> record.Record:
    """The same run with every memory figure `by_bytes` higher: another baseline."""
    out = copy.deepcopy(rec)
    out["samples"]["rss_bytes"] = [v + by_bytes for v in out["samples"]["rss_bytes"]]
    for cp in out["checkpoints"]:
        cp["rss_bytes"] += by_bytes
    for key in ("baseline_rss_bytes", "peak_rss_bytes", "final_rss_bytes"):
        out["summary"][key] += by_bytes
    return out


def test_the_baseline_label_follows_the_run_shown(window, real):
    from netmem_gui.gui.plot import RecordSource

    other = _shifted(real, 40 * MIB)
    for rec in (real, other, real):
        window.plot.show_source(RecordSource(rec))
        expected = f"baseline {rec['summary']['baseline_rss_bytes'] / MIB:.2f} MB"
        assert window.plot.baseline.label.toPlainText() == expected
        assert window.plot.baseline.value() == pytest.approx(rec["summary"]["baseline_rss_bytes"] / MIB)


def test_compare_from_the_library_ticks_this_sessions_runs(window, loop):
    async def two_runs():
        for _ in range(2):
            window.start_run(RunConfig(scenario="connections", connections=5, interval_ms=20))
            await window.wait_idle()

    run_async(loop, two_runs())
    ids = [e.library_id for e in window.entries]
    assert all(ids)
    dialog = window.show_library()
    dialog.select_ids(ids)
    assert dialog.compare_button.isEnabled()
    dialog.compare_button.click()
    view = window.compare_view
    assert view is not None and view.isVisible()
    assert sorted(view.chosen()) == sorted(e.title for e in window.entries)
    assert view.comparison is not None


@pytest.mark.parametrize(("kind", "field", "words"), [("attach", "attach_pid", "Process (PID)"),
                                                      ("spawn", "spawn", "Command")])
def test_a_target_left_empty_is_an_error_on_its_field_not_the_echo_server(window, dialogs, kind, field, words):
    window.form.set_kind(kind)
    window.form.controls[field].clear() if field == "spawn" else window.form.controls[field].setValue(0)
    assert window.start_run() is None
    assert window.entries == []  # nothing ran: no silent fallback to the built-in server
    (title, text), = dialogs
    assert title == "Cannot start the run"
    assert f"'{words}'" in text and "--" not in text, text
    assert window.form.controls[field].hasFocus() or window.focusWidget() is window.form.controls[field]


@pytest.mark.parametrize(("setup", "field"), [
    (lambda f: (f.set_kind("attach"), f.controls["attach_pid"].setValue(1)), "address"),
    (lambda f: (f.set_kind("spawn"), f.controls["spawn"].setText("server --no-port")), "spawn"),
    (lambda f: (f.scenario.setCurrentText("observe"), f.set_kind("builtin")), "target_kind"),
    (lambda f: f.controls["server"].setText("nocolon"), "server"),
    (lambda f: (f.set_kind("spawn"), f.controls["spawn"].setText("srv {port}"), f.controls["server"].setText("a:b")),
     "server"),
    (lambda f: (f.set_kind("spawn"), f.controls["spawn"].setText("srv {port}"), f.set_advanced(True),
                f.controls["inject_leak_bytes"].setValue(64)), "inject_leak_bytes"),
    (lambda f: (f.set_kind("spawn"), f.controls["spawn"].setText("srv {port} 'open")), "spawn"),
    (lambda f: (f.set_kind("spawn"), f.controls["spawn"].setText("srv {port}"), f.controls["path"].setText("x")),
     "path"),
    (lambda f: (f.scenario.setCurrentText("messages"), f.set_kind("spawn"), f.controls["spawn"].setText("s {port}"),
                f.controls["protocol"].setCurrentText("idle")), "protocol"),
])
def test_form_errors_speak_the_forms_words(qtbot, setup, field):
    from netmem_gui.gui.form import FormError, RunForm

    form = RunForm()
    qtbot.addWidget(form)
    setup(form)
    with pytest.raises(FormError) as error:
        form.config()
    assert error.value.field == field
    assert "--" not in str(error.value), str(error.value)


def test_a_command_with_port_leaves_the_address_empty_and_unused(qtbot):
    from netmem_gui.gui.form import RunForm

    form = RunForm()
    qtbot.addWidget(form)
    form.set_kind("spawn")
    form.controls["address"].setText("127.0.0.1:6379")
    form.controls["spawn"].setText("redis-server --port {port}")
    address = form.controls["address"]
    assert address.text() == "" and not address.isEnabled() and "{port}" in address.placeholderText()
    assert form.config().address is None  # the core would refuse {port} with an address


def test_a_pid_typed_in_brings_its_listening_address(qtbot):
    import os
    import socket

    from netmem_gui.gui.form import RunForm

    form = RunForm()
    qtbot.addWidget(form)
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        form.scenario.setCurrentText("connections")
        form.set_kind("attach")
        form.controls["attach_pid"].setValue(os.getpid())
        form.controls["attach_pid"].editingFinished.emit()
        assert form.controls["address"].text() == f"127.0.0.1:{port}"
        assert form.config().address == f"127.0.0.1:{port}"


def test_pick_shows_a_dual_stack_server_once_and_names_a_hidden_one():
    from netmem_gui.core.targets.processes import Listener
    from netmem_gui.gui.pick import merged

    rows = merged([Listener("::", 6379, 7, "redis-server", "redis-server *:6379"),
                   Listener("0.0.0.0", 6379, 7, "redis-server", "redis-server *:6379"),
                   Listener("0.0.0.0", 22, None, "?", "")])
    assert [(x.port, x.host, x.pid) for x in rows] == [(22, "0.0.0.0", None), (6379, "0.0.0.0", 7)]
    assert rows[1].address == "127.0.0.1:6379"


def test_target_text_says_what_was_measured():
    from netmem_gui.core.reports.tables import target_text

    assert target_text({"attach_pid": None, "spawn": None, "server": None}) == "echo server"
    assert target_text({"attach_pid": 4242, "spawn": None}) == "pid 4242 attached"
    assert target_text({"attach_pid": 4242}, {"kind": "attach", "name": "redis-server"}) == "redis-server attached"
    assert target_text({"attach_pid": None, "spawn": "/usr/bin/redis-server --port {port}"}) == "redis-server spawned"
    assert target_text({"spawn": "x"}, {"kind": "spawn", "name": "nginx"}) == "nginx spawned"
    assert target_text({"server": "chat:handle"}) == "your server chat:handle"
    assert target_text({"server": "chat:handle"}, {"kind": "server", "module": "chat", "attr": "serve"}) \
        == "your server chat:serve"


def test_run_list_and_compare_legend_say_what_was_measured(window, loop):
    async def two_runs():
        for _ in range(2):
            window.start_run(RunConfig(scenario="connections", connections=5, interval_ms=20))
            await window.wait_idle()

    run_async(loop, two_runs())
    texts = [window.run_list.item(i).text() for i in range(window.run_list.count())]
    assert texts == ["#1 connections · echo server · isolated · done", "#2 connections · echo server · isolated · done"]
    view = window.show_compare([e.title for e in window.entries])
    assert len(view.key) == 2 and all("echo server" in text for text in view.key), view.key


def test_a_figure_reads_the_same_in_the_panel_and_the_summary(window, real):
    from netmem_gui.gui import live

    rec = copy.deepcopy(real)
    rec["summary"]["delta_bytes"] = 19_575_000  # 18.67 MB; the panel wrote it "+19116 KB"
    window.live_panel.show_figures(live.from_record(rec))
    window.summary.show_record(rec, "#1")
    panel = window.live_panel.values["delta_bytes"].text()
    assert panel == "+18.67 MB"
    assert "Memory delta from baseline: 18.67 MB" in window.summary.toPlainText()
    assert window.live_panel.values["peak_bytes"].text() in window.summary.toPlainText()


def test_the_baseline_rule_is_not_a_red_alarm_beside_no_findings(window, real):
    from netmem_gui.gui import live
    from netmem_gui.gui.panels import VERDICT_COLOURS

    rec = copy.deepcopy(real)
    rec["summary"]["baseline_rule"]["verdict"] = "POSSIBLE LEAK"
    rec["findings"] = []
    window.live_panel.show_figures(live.from_record(rec))
    window.summary.show_record(rec, "#1")
    assert VERDICT_COLOURS["POSSIBLE LEAK"] not in window.live_panel.values["baseline_rule"].styleSheet()
    assert VERDICT_COLOURS["POSSIBLE LEAK"] not in window.summary.toHtml().split("Baseline rule")[1]
    assert "shown for comparison" in window.summary.toPlainText()


def test_the_growth_per_cycle_says_what_limit_it_is_ok_against():
    from netmem_gui.gui.live import _fit_text

    fit = {"slope_bytes_per_cycle": 47.2, "ci_low_bytes_per_cycle": 45.0, "ci_high_bytes_per_cycle": 49.9,
           "confidence": 0.95, "min_effect_bytes_per_cycle": 128.0}
    assert _fit_text(fit) == "+47 B/cycle (95 % CI +45 to +50, limit 128 B/cycle)"
    fit["leak_threshold_bytes_per_cycle"] = 346.2  # a short run: its warm-up budget spread over few cycles
    assert _fit_text(fit) == "+47 B/cycle (95 % CI +45 to +50, OK under 128, leak over 346 B/cycle)"
    # Not judged (others' load moved with the cycles): the reason only, no slope that reads as a leak.
    fit.update(slope_bytes_per_cycle=330.0, reason="not judged: the load changed with the cycles",
               load_term={"collinearity_r_squared": 0.96, "terms": [{"unit": "connection", "bytes_per_unit": None,
                                                                     "load_min": 0.0, "load_max": 60.0}]})
    assert _fit_text(fit) == "not judged: the load changed with the cycles"


def test_enter_in_the_settings_starts_a_run(window, loop, qtbot):
    from PySide6.QtCore import Qt

    window.form.set_config(RunConfig(scenario="connections", connections=5, interval_ms=20))
    window.activateWindow()
    window.form.label.setFocus()
    qtbot.keyClick(window.form.label, Qt.Key.Key_Return)
    assert len(window.entries) == 1 and window.active is not None
    run_async(loop, window.wait_idle())


def test_closing_during_a_run_asks_first(window, loop, monkeypatch, questions):
    from PySide6.QtWidgets import QMessageBox

    async def go():
        window.start_run(RunConfig(scenario="stability", duration_s=30, interval_ms=20))
        monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.No)
        window.close()
        assert window.isVisible() and window.active is not None and not window.active.stop.is_set()
        monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
        window.close()
        assert window.active.stop.is_set()  # stopping; the window closes once the run has
        await window.wait_idle()

    run_async(loop, go())
    assert not window.isVisible()


def test_a_spin_box_says_its_maximum(qtbot):
    from netmem_gui.gui.form import RunForm

    form = RunForm()
    qtbot.addWidget(form)
    assert "at most 100,000" in form.controls["connections"].toolTip()


def test_compare_export_says_where_it_went_and_esc_closes(window, loop, tmp_path, monkeypatch, qtbot):
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QFileDialog

    async def two_runs():
        for _ in range(2):
            window.start_run(RunConfig(scenario="connections", connections=5, interval_ms=20))
            await window.wait_idle()

    run_async(loop, two_runs())
    view = window.show_compare([e.title for e in window.entries])
    target = tmp_path / "cmp.md"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), ""))
    view.export_dialog(".md")
    assert target.exists() and view.export_state.text() == f"Saved {target}"
    view.activateWindow()
    qtbot.keyClick(view, Qt.Key.Key_Escape)
    assert not view.isVisible()


def test_a_missing_libxcb_cursor_gets_its_one_line_fix(monkeypatch):
    import ctypes.util

    from netmem_gui.gui import app

    monkeypatch.setattr(ctypes.util, "find_library", lambda name: None)
    monkeypatch.setattr(app.sys, "platform", "linux")
    assert app.xcb_cursor_missing({"DISPLAY": ":0"})
    assert app.xcb_cursor_missing({"DISPLAY": ":0", "QT_QPA_PLATFORM": "xcb"})
    assert not app.xcb_cursor_missing({"DISPLAY": ":0", "QT_QPA_PLATFORM": "offscreen"})
    assert not app.xcb_cursor_missing({"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0"})
    assert not app.xcb_cursor_missing({})
    assert "apt-get install libxcb-cursor0" in app.XCB_CURSOR_FIX
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: "libxcb-cursor.so.0")
    assert not app.xcb_cursor_missing({"DISPLAY": ":0"})


def test_the_plot_keeps_its_key_and_labels_off_the_data(window, real, qtbot):
    from netmem_gui.gui.plot import LABEL_ROOM, RecordSource

    plot = window.plot
    plot.show_source(RecordSource(real))
    item = plot.getPlotItem()
    assert item.legend is None  # no legend box over the data; the key is a line under the title
    title = item.titleLabel.text
    assert "checkpoint" in title and "hover" not in title  # nor "hover for its label" in exported pictures
    (_, _), (low, high) = item.getViewBox().viewRange()
    top = max(real["samples"]["rss_bytes"] + [cp["rss_bytes"] for cp in real["checkpoints"]]) / 2**20
    # The phase labels' rows (the top fifth and more of the plot) are above every sample and checkpoint.
    assert (high - top) / (high - low) > LABEL_ROOM / (1 + LABEL_ROOM) * 0.9


def test_a_long_title_is_cut_short_not_clipped(window, real):
    from netmem_gui.gui.plot import RecordSource

    plot = window.plot
    plot.show_source(RecordSource(real))
    plot.resize(360, 300)
    assert plot.shown_title.endswith("…") and plot.getPlotItem().titleLabel.toolTip().startswith("RSS of")
    plot.resize(1400, 300)
    assert not plot.shown_title.endswith("…")


def test_a_verdict_not_judged_says_why_once():
    from netmem_gui.gui.panels import verdicts_html

    fit = {"verdict": "INCONCLUSIVE", "reason": "not judged: the load changed with the cycles",
           "slope_bytes_per_cycle": 330.0, "ci_low_bytes_per_cycle": 323.0, "ci_high_bytes_per_cycle": 337.0,
           "confidence": 0.95, "min_effect_bytes_per_cycle": 128.0,
           "load_term": {"collinearity_r_squared": 0.96, "terms": [{"unit": "connection", "bytes_per_unit": None,
                                                                    "load_min": 0.0, "load_max": 60.0}]}}
    rec = {"scenarios": {"stability": {"leak_verdict": {"verdict": "INCONCLUSIVE", "rss": fit, "traced": None,
                                                        "host_drift_included": False}}},
           "summary": {"leak_verdict": {"verdict": "INCONCLUSIVE"},
                       "baseline_rule": {"verdict": "OK", "rule": "final RSS > baseline RSS + 1 MiB"}}}
    text = verdicts_html(rec)
    assert text.count("not judged: the load changed with the cycles") == 1 and "330" not in text
