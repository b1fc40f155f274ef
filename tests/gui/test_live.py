"""The window's figures, read from a run and its analysis (Qt-free: runs without PySide6)."""

from __future__ import annotations

import time

from netmem_gui.core.config import RunConfig
from netmem_gui.core.runs.run import Run
from netmem_gui.gui import live

MIB = 1024 * 1024


def _checkpoint(run: Run, scenario: str, label: str, at: float, rss: int, connections: int = 0) -> None:
    run.handle({"type": "checkpoint", "scenario": scenario, "label": label, "t": run.t0 + at, "rss": rss,
                "vms": 2 * rss, "connections": connections, "messages": 0})


def test_figures_while_sending_messages_come_from_the_run():
    run = Run(RunConfig(scenario="messages"))
    run.handle({"type": "phase", "scenario": "messages", "phase": "start", "t": run.t0})
    _checkpoint(run, "messages", "Baseline", 0.0, 20 * MIB)
    _checkpoint(run, "messages", "After connecting clients", 0.5, 21 * MIB, connections=1)
    run.handle({"type": "phase", "scenario": "messages", "phase": "send", "t": run.t0 + 1.0})
    run.handle({"type": "progress", "scenario": "messages", "done": 3000, "total": 10000, "unit": "messages"})
    for i, rss in enumerate((20 * MIB, 22 * MIB, 21 * MIB)):
        run.samples.append(0.1 * i, rss, 2 * rss)

    fig = live.from_run(run, now_s=3.0)
    assert fig.rss_bytes == 21 * MIB
    assert fig.baseline_bytes == 20 * MIB and fig.delta_bytes == MIB
    assert fig.peak_bytes == 22 * MIB  # the analysis's peak over samples and checkpoints
    assert fig.open_connections == 1
    assert fig.messages_per_s == 1500.0  # 3000 echoed in the 2 s since sending began
    assert fig.baseline_rule is None  # only once the run has ended
    assert fig.leak_verdict is None and fig.leak_growth is None  # messages repeats no cycles: no trend verdict


def test_connections_in_flight_and_per_connection_fit():
    run = Run(RunConfig(scenario="connections", connections=100))
    run.handle({"type": "phase", "scenario": "connections", "phase": "start", "t": run.t0})
    _checkpoint(run, "connections", "Baseline", 0.0, 20 * MIB)
    _checkpoint(run, "connections", "After server start", 0.1, 20 * MIB)
    run.handle({"type": "phase", "scenario": "connections", "phase": "connect", "t": run.t0 + 0.2})
    _checkpoint(run, "connections", "After 50 connections", 0.3, 20 * MIB + 50 * 10240, connections=50)
    run.handle({"type": "progress", "scenario": "connections", "done": 70, "total": 100, "unit": "connections"})
    fig = live.from_run(run, now_s=time.monotonic() - run.t0)
    assert fig.open_connections == 70
    assert round(fig.per_connection_bytes) == 10240


def test_from_record_reads_the_final_figures():
    run = Run(RunConfig(scenario="stability"))
    run.handle({"type": "phase", "scenario": "stability", "phase": "start", "t": run.t0})
    _checkpoint(run, "stability", "Baseline", 0.0, 20 * MIB)
    _checkpoint(run, "stability", "After stability run", 5.0, 23 * MIB)
    run.handle({"type": "end", "completed": True, "reason": None})
    fig = live.from_record(run.record())
    assert fig.rss_bytes == 23 * MIB and fig.delta_bytes == 3 * MIB
    assert fig.baseline_rule == "POSSIBLE LEAK"
    assert fig.leak_verdict == "INCONCLUSIVE"  # no cycles at all: too few to tell
    assert fig.messages_per_s is None and fig.per_connection_bytes is None
