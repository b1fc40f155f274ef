"""Stopping a run half way: every socket closed, children ended, the partial run kept and marked incomplete."""

from __future__ import annotations

import psutil
import pytest
from conftest import run_to_end, small_config

from netmem_gui.core.records import record


def open_sockets() -> int:
    return len([c for c in psutil.Process().net_connections(kind="tcp")])


@pytest.mark.parametrize("host", ["inapp", "isolated"])
def test_stop_mid_run_keeps_a_valid_incomplete_record(host):
    before = open_sockets()
    run = run_to_end(small_config("stability", host, duration_s=30), stop_after_s=1.5)
    assert not run.completed
    assert run.stop_reason == "stopped before the end"
    rec = record.validate(run.record())
    assert rec["completed"] is False
    assert rec["checkpoints"][0]["label"] == "Baseline"
    assert rec["scenarios"]["stability"]["cycles"] > 0
    assert open_sockets() <= before
    assert psutil.Process().children(recursive=True) == []


def test_a_dead_workload_process_ends_the_run_with_a_reason():
    import asyncio
    import threading

    from netmem_gui.core.running.execute import execute
    from netmem_gui.core.runs.run import Run

    run = Run(small_config("stability", "isolated", duration_s=30))

    def kill_load_child_when_running(event):
        if event["type"] == "checkpoint" and event["label"] == "After server start":
            load = psutil.Process().children()[0]
            threading.Timer(0.3, load.kill).start()

    run.subscribe(kill_load_child_when_running)
    asyncio.run(execute(run))
    assert not run.completed
    assert run.stop_reason.startswith("the workload process failed")
    record.validate(run.record())
