"""The trend leak verdict, the Advanced settings, the allocation sites table and the event-loop lag plot."""

from __future__ import annotations

import asyncio
import json

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")
pytest.importorskip("qasync")

from netmem_gui.core.config import RunConfig
from netmem_gui.core.records import record

from .conftest import finished_on_screen, run_async

pytestmark = pytest.mark.qt


async def _run(window, config, watch=None):
    """Run `config` in the window to the end; `watch()` is called every frame while it runs."""
    entry = window.start_run(config)
    assert entry is not None, window.statusBar().currentMessage()
    seen = []
    while entry.live:
        if watch is not None:
            seen.append(watch())
        await asyncio.sleep(0.04)
    await finished_on_screen(window, entry)
    return entry, seen


def test_injected_leak_shows_possible_leak_beside_the_baseline_rule(window, loop):
    config = RunConfig(scenario="stability", duration_s=2.0, interval_ms=50, inject_leak_bytes=65536,
                       trace_allocations=True)
    entry, _ = run_async(loop, _run(window, config))
    assert entry.run.completed, entry.run.stop_reason

    panel = window.live_panel.values
    assert panel["leak_verdict"].text() == "POSSIBLE LEAK"
    assert "B/cycle" in panel["leak_growth"].text() and "95 % CI" in panel["leak_growth"].text()
    assert "traced" in panel["leak_growth"].toolTip()
    assert panel["baseline_rule"].text() == "POSSIBLE LEAK"  # 2 s x 64 KB per cycle is far over 1 MiB

    text = window.summary.toPlainText()
    assert "Leak verdict (growth per cycle in steady state): POSSIBLE LEAK (stability)" in text
    assert "B/cycle (95 % CI" in text
    assert "Baseline rule (final RSS > baseline RSS + 1 MiB): POSSIBLE LEAK" in text

    # With tracing, the allocation sites are in their tab, the largest growth first, with units.
    table = window.allocations
    tab = window.details.indexOf(table)
    assert window.details.isTabEnabled(tab) and table.rowCount() > 0
    assert window.details.tabText(tab) == f"Allocation sites ({table.rowCount()})"
    growth = [float(table.item(r, 2).data(256)) for r in range(table.rowCount())]
    assert growth == sorted(growth, reverse=True)
    assert table.item(0, 2).text().endswith(" KB") and ":" in table.item(0, 1).text()


def test_advanced_settings_persist_and_reach_the_run_config(qapp, qtbot, loop):
    from netmem_gui.gui.settings import make_settings
    from netmem_gui.gui.window import MainWindow

    first = MainWindow(make_settings())
    qtbot.addWidget(first)
    assert not first.form.advanced.isChecked()  # collapsed, and off, by default
    assert first.form.config().inject_leak_bytes == 0
    first.form.scenario.setCurrentText("connections")
    first.form.set_advanced(True)
    first.form.inject_leak_bytes.setValue(4096)
    first.form.trace_allocations.setChecked(True)
    first.form.rounds.setValue(20)
    config = first.form.config()
    assert (config.inject_leak_bytes, config.trace_allocations, config.rounds) == (4096, True, 20)
    assert "slows" in first.form.trace_allocations.toolTip() and "leak" in first.form.inject_leak_bytes.toolTip()
    first.close()

    second = MainWindow(make_settings())
    qtbot.addWidget(second)
    assert second.form.advanced.isChecked()
    assert second.form.config() == config
    # Unticked, the section's values don't apply, but they are kept for when it is ticked again.
    second.form.set_advanced(False)
    assert second.form.config() == RunConfig(scenario="connections")
    second.close()
    third = MainWindow(make_settings())
    qtbot.addWidget(third)
    assert not third.form.advanced.isChecked() and third.form.inject_leak_bytes.value() == 4096
    third.form.set_advanced(True)
    assert third.form.config() == config


def test_lag_plot_fills_during_an_inapp_run_and_from_its_record(window, loop, tmp_path):
    # Long enough for the lag strip's catch-up (at least once a second) to come while the run is live: a
    # 3000-message run can end within a few frames on an idle machine, before the strip's first repaint.
    config = RunConfig(scenario="stability", duration_s=3.0, interval_ms=20, host="inapp")
    entry, seen = run_async(loop, _run(window, config, window.lag_plot.point_count))
    assert entry.run.completed and max(seen) > 0  # points while the run went on
    rec = entry.record()
    assert window.lag_plot.point_count() == len(rec["loop_lag"]["t_s"]) > 0
    assert "in-app workload thread" in window.lag_plot.getPlotItem().titleLabel.text
    assert "Event-loop lag of the in-app workload thread's loop" in window.summary.toPlainText()
    assert "Sampler's own CPU:" in window.summary.toPlainText()
    # The X axes move together.
    window.plot.getPlotItem().setXRange(0.5, 0.7, padding=0)
    x0, x1 = window.lag_plot.getPlotItem().getViewBox().viewRange()[0]
    assert (round(x0, 3), round(x1, 3)) == (0.5, 0.7)

    path = tmp_path / "run.json"
    record.save(rec, str(path))
    assert window.open_record(str(path))
    assert window.lag_plot.point_count() == len(rec["loop_lag"]["t_s"])


def test_old_record_without_lag_or_trend_verdict_opens(window, loop, tmp_path):
    entry, _ = run_async(loop, _run(window, RunConfig(scenario="messages", messages=200, interval_ms=20)))
    rec = entry.record()
    for key in ("loop_lag", "cycle_series", "allocations"):
        rec.pop(key)
    for key in ("leak_verdict", "loop_lag_p50_s", "loop_lag_p99_s", "loop_lag_max_s", "sampler_cpu_percent"):
        rec["summary"].pop(key)
    path = tmp_path / "old.json"
    path.write_text(json.dumps(rec), encoding="utf-8")
    assert window.open_record(str(path))
    assert window.lag_plot.point_count() == 0
    assert "not in this record" in window.lag_plot.getPlotItem().titleLabel.text
    text = window.summary.toPlainText()
    assert "Event-loop lag" not in text and "Baseline rule" in text
    assert window.live_panel.values["leak_verdict"].text() == "–"
    assert not window.details.isTabEnabled(window.details.indexOf(window.allocations))


def test_allocation_sites_from_an_edited_record(window, tmp_path):
    from netmem_gui.gui.allocations import sites_of

    sites = [{"file": f"/x/mod{i}.py", "line": i, "size_bytes": 1000 * i, "size_diff_bytes": size,
              "count": i, "count_diff": i} for i, size in enumerate((2048, 65536, -512), start=1)]
    rec = _tiny_record(window)
    rec["allocations"] = {"stability": {"from": "cycle 10", "to": "cycle 80", "sites": sites}}
    path = tmp_path / "alloc.json"
    record.save(rec, str(path))
    assert window.open_record(str(path))
    table = window.allocations
    assert table.rowCount() == 3
    assert [table.item(r, 1).text() for r in range(3)] == ["/x/mod2.py:2", "/x/mod1.py:1", "/x/mod3.py:3"]
    assert table.item(0, 2).text() == "+64.0 KB" and table.item(2, 2).text() == "-0.5 KB"
    assert [s["line"] for _, s in sites_of(rec)] == [2, 1, 3]
    assert "Allocation sites that grew: 3" not in window.summary.toPlainText()  # no such scenario in the run


def _tiny_record(window):
    from netmem_gui.core.runs.run import Run

    run = Run(RunConfig(scenario="stability"))
    run.handle({"type": "phase", "scenario": "stability", "phase": "start", "t": run.t0})
    run.handle({"type": "end", "completed": True, "reason": None})
    return run.record()
