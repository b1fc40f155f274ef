"""The app's kernel socket memory strip and the backpressure scenario's figures in the summary panel."""

from __future__ import annotations

import asyncio
import json
import sys

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")
pytest.importorskip("qasync")

from netmem_gui.core.config import RunConfig
from netmem_gui.core.records import record

from .conftest import finished_on_screen, run_async

pytestmark = [pytest.mark.qt, pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux's netlink")]


async def _run(window, config):
    entry = window.start_run(config)
    assert entry is not None, window.statusBar().currentMessage()
    while entry.live:
        await asyncio.sleep(0.04)
    await finished_on_screen(window, entry)
    return entry


def test_the_kernel_strip_and_the_backpressure_verdict_in_the_app(window, loop, tmp_path):
    # netmem's own echo server writes every byte it gets and never pauses: the kernel holds its send buffers. The
    # isolated host: in-app, the test process's own freed memory (hundreds of MB by now) takes the growth unseen.
    config = RunConfig(scenario="backpressure", duration_s=3.0, send_limit_mb=32, interval_ms=50)
    entry = run_async(loop, _run(window, config))
    assert entry.run.completed, entry.run.stop_reason
    rec = entry.record()
    readings = len(rec["kernel_sockets"]["t_s"])
    assert readings >= 1 and window.kernel_plot.point_count() == readings
    assert "Kernel socket memory of the measured process" in window.kernel_plot.getPlotItem().titleLabel.text
    text = window.summary.toPlainText()
    assert "Backpressure: UNBOUNDED" in text and "Kernel socket memory, peak" in text
    assert "Memory grows with unread output" in text

    path = tmp_path / "run.json"
    record.save(rec, str(path))
    assert window.open_record(str(path))
    assert window.kernel_plot.point_count() == readings

    elsewhere = {**rec, "kernel_sockets": {**rec["kernel_sockets"], "available": False,
                                           "reason": "not available on this system (Linux only: netlink sock_diag)",
                                           **{k: [] for k in ("t_s", "sockets", "recv_queue_bytes", "send_queue_bytes",
                                                              "recv_memory_bytes", "send_memory_bytes")}}}
    path.write_text(json.dumps(elsewhere), encoding="utf-8")
    assert window.open_record(str(path))
    assert window.kernel_plot.point_count() == 0
    assert "not available on this system" in window.kernel_plot.getPlotItem().titleLabel.text

    old = dict(rec)
    old.pop("kernel_sockets")
    path.write_text(json.dumps(old), encoding="utf-8")
    assert window.open_record(str(path))
    assert "not in this record" in window.kernel_plot.getPlotItem().titleLabel.text


def test_the_kernel_strip_shows_for_backpressure_runs_and_on_demand(window, loop):
    """Under every run, three strips squeezed the RSS plot to a few pixels at 1280x800 (docs/locust.png)."""
    entry = run_async(loop, _run(window, RunConfig(scenario="connections", connections=20, interval_ms=20)))
    assert entry.rec["kernel_sockets"] and not window.kernel_plot.isVisible()
    window.kernel_plot.toggle_action.setChecked(True)  # View > Kernel socket memory strip
    assert window.kernel_plot.isVisible()
    window.kernel_plot.toggle_action.setChecked(False)
    assert not window.kernel_plot.isVisible()
    assert window.kernel_plot.toggle_action in window.menuBar().actions()[2].menu().actions()
