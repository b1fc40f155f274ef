"""A small run on each host in the window: samples reach the plot while it runs, and the summary is shown."""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")
pytest.importorskip("qasync")

from netmem_gui.core.config import RunConfig
from netmem_gui.core.reports import figures

from .conftest import finished_on_screen, run_async

pytestmark = pytest.mark.qt

SMALL = {
    "connections": {"connections": 20},
    "messages": {"messages": 200},
}


async def _run_watching_plot(window, config):
    entry = window.start_run(config)
    assert entry is not None, window.statusBar().currentMessage()
    seen_live = 0
    while entry.live:
        if window.plot.source is not None and window.plot.source.live:
            seen_live = max(seen_live, window.plot.sample_count())
        await asyncio.sleep(0.02)
    await finished_on_screen(window, entry)
    return entry, seen_live


@pytest.mark.parametrize("host", ["isolated", "inapp"])
@pytest.mark.parametrize("scenario", ["connections", "messages"])
def test_small_run_fills_plot_and_summary(window, loop, host, scenario):
    config = RunConfig(scenario=scenario, host=host, interval_ms=20, **SMALL[scenario])
    entry, _ = run_async(loop, _run_watching_plot(window, config))
    run = entry.run
    assert run.completed, run.stop_reason
    samples = len(run.samples)
    assert window.plot.sample_count() == samples
    # Even on a loaded machine, whose loop may get to the server's start late: the load waits for the sampler.
    assert samples > 0
    assert len(window.plot.checkpoint_dots.data) == len(run.checkpoints)
    # A labelled marker for every phase the run went through.
    labels = [line.label.format for line in window.plot.phase_lines]
    assert labels[0] == scenario and labels[1:] == [p["phase"] for p in run.phases[1:]]

    rec = window.summary.shown_record
    assert rec is not None and rec["completed"] and scenario in rec["scenarios"]
    text = window.summary.toPlainText()
    assert "Baseline rule (final RSS > baseline RSS + 1 MiB)" in text
    assert "no scenario of this run repeats cycles" in text
    assert window.live_panel.values["baseline_rule"].text() in ("OK", "POSSIBLE LEAK")
    assert window.live_panel.values["leak_verdict"].text() == "–"  # one round, or messages: no trend verdict
    assert window.live_panel.values["rss_bytes"].text().endswith(" MB")
    assert window.run_list.count() == 1 and window.run_list.item(0).text().endswith("done")
    assert window.progress.text() == "finished"
    if scenario == "connections":
        assert rec["scenarios"]["connections"]["connections_created"] == 20
        # Written as the summary and `netmem compare` write it (figures.text: 1,434 B, 12.3 KB).
        per_connection = figures.find("connections.per_connection_bytes")
        assert window.live_panel.values["per_connection_bytes"].text() == figures.text(
            per_connection, rec["scenarios"]["connections"]["per_connection_bytes"])
    else:
        assert rec["scenarios"]["messages"]["messages_echoed"] == 200
        assert window.live_panel.values["messages_per_s"].text() != "–"
    assert rec["measured"]["role"] == ("server" if host == "isolated" else "app")


@pytest.mark.parametrize("host", ["isolated", "inapp"])
def test_samples_reach_the_plot_while_running(window, loop, host):
    # Stability runs for a fixed time, long enough for many frames whatever the machine's speed.
    config = RunConfig(scenario="stability", duration_s=1.5, host=host, interval_ms=20)
    entry, seen_live = run_async(loop, _run_watching_plot(window, config))
    assert entry.run.completed, entry.run.stop_reason
    assert seen_live > 0, "no sample reached the plot while the run was going"
    assert window.plot.sample_count() == len(entry.run.samples) >= seen_live
    assert window.summary.shown_record["scenarios"]["stability"]["cycles"] > 0


def test_every_run_stays_in_the_list_and_selection_switches(window, loop):
    first, _ = run_async(loop, _run_watching_plot(window, RunConfig(scenario="connections", connections=20,
                                                                      interval_ms=20)))
    second, _ = run_async(loop, _run_watching_plot(window, RunConfig(scenario="messages", messages=200,
                                                                       interval_ms=20, host="inapp")))
    assert window.run_list.count() == 2
    window.run_list.setCurrentRow(0)
    assert window.summary.shown_record["config"]["scenario"] == "connections"
    assert window.plot.sample_count() == len(first.run.samples)
    window.run_list.setCurrentRow(1)
    assert window.summary.shown_record["config"]["scenario"] == "messages"
    assert window.plot.sample_count() == len(second.run.samples)


def test_invalid_settings_show_an_error_and_start_nothing(window, loop, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    shown = []
    monkeypatch.setattr(QMessageBox, "critical", lambda parent, title, text, *a: shown.append(text))

    async def attempt():
        return window.start_run(RunConfig(scenario="connections", connections=10**9))

    assert run_async(loop, attempt()) is None
    assert shown and "connections" in shown[0]
    assert window.run_list.count() == 0 and window.active is None


def test_zooming_pauses_follow_and_a_resumes_it(window, loop):
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    async def go():
        entry = window.start_run(RunConfig(scenario="connections", connections=20, interval_ms=20))
        await window.wait_idle()
        return entry

    entry = run_async(loop, go())
    t, _, _ = entry.run.samples.view()
    view = window.plot.getPlotItem().getViewBox()
    (x0, x1), _ = view.viewRange()
    # Following: all the data is in view (the finished run is shown from its record, whose times are kept to
    # 0.1 ms, and its first sample can come a few microseconds before the run's first phase).
    assert x0 <= t[0] + 1e-4 and x1 >= t[-1] - 1e-4

    view.scaleBy((0.25, 0.25))
    view.sigRangeChangedManually.emit([True, True])  # what a wheel or drag emits
    assert not window.plot.following and "paused" in window.follow_state.text()

    window.activateWindow()
    window.setFocus()
    QTest.keyClick(window, Qt.Key.Key_A)
    assert window.plot.following and window.follow_state.text() == "following the data"
    (x0, x1), _ = view.viewRange()
    assert x0 <= t[0] + 1e-4 and x1 >= t[-1] - 1e-4
