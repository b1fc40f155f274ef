"""The sampler and its buffer."""

from __future__ import annotations

import os
import time

import numpy as np

from netmem_gui.core.config import RunConfig
from netmem_gui.core.measuring.sampler import SampleBuffer, Sampler
from netmem_gui.core.running import execute as execute_module
from netmem_gui.core.runs import run as run_module
from netmem_gui.core.runs.run import Run


def test_buffer_grows_and_keeps_every_sample_in_order():
    buf = SampleBuffer(capacity=4)
    early = buf.view()
    for i in range(1000):
        buf.append(i * 0.01, 1000 + i, 5000 + i)
    t, rss, vms = buf.view()
    assert len(buf) == 1000 and t.size == 1000
    assert np.array_equal(rss, np.arange(1000) + 1000)
    assert vms[-1] == 5999
    assert early[0].size == 0  # a view taken before growing is still a valid (shorter) view


def test_sampler_samples_a_process_at_its_interval():
    buf = SampleBuffer()
    sampler = Sampler(os.getpid(), 0.01, time.monotonic(), buf)
    sampler.start()
    time.sleep(0.5)
    sampler.stop()
    t, rss, vms = buf.view()
    assert 15 <= t.size <= 55  # about 50 at 10 ms; a busy CI machine skips some ticks rather than bunching them
    assert np.all(np.diff(t) > 0)
    assert np.all(rss > 0) and np.all(vms >= rss)


def test_sampler_stops_by_itself_when_the_process_is_gone():
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.3)"])
    buf = SampleBuffer()
    sampler = Sampler(child.pid, 0.01, time.monotonic(), buf)
    sampler.start()
    child.wait()
    sampler._thread.join(timeout=2)
    assert not sampler._thread.is_alive()
    assert len(buf) >= 5


def test_a_sampler_stopped_at_once_still_has_its_first_sample():
    """A tiny run's target and end events can be handled back to back, before the sampler's thread first runs:
    the run must still have a sample."""
    import threading

    buf = SampleBuffer()
    sampler = Sampler(os.getpid(), 0.01, time.monotonic(), buf)
    gate = threading.Event()
    body = sampler._loop
    # The thread is held back until the stop has happened, as a busy machine may do.
    sampler._thread = threading.Thread(target=lambda: (gate.wait(5), body()), daemon=True)
    sampler.start()
    sampler._stopped = True
    sampler._running.release()
    gate.set()
    sampler._thread.join(timeout=5)
    assert len(buf) == 1 and buf.view()[1][0] > 0


def test_a_sampler_of_a_process_already_gone_takes_nothing_and_stops_cleanly():
    import subprocess
    import sys

    import psutil

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        # Exited but not reaped yet: its /proc entry is still there, answering zeros.
        deadline = time.monotonic() + 10
        while psutil.Process(child.pid).status() != psutil.STATUS_ZOMBIE and time.monotonic() < deadline:
            time.sleep(0.01)
        buf = SampleBuffer()
        sampler = Sampler(child.pid, 0.01, time.monotonic(), buf)
        sampler.start()
        sampler.stop()
        assert len(buf) == 0 and not sampler._thread.is_alive()
    finally:
        child.wait()


class FakeClock:
    """The figures' clock, moved by hand; `cost` is how far each computation of the figures moves it."""

    def __init__(self, monkeypatch, run, cost=0.0):
        self.now = 1000.0
        monkeypatch.setattr(run_module, "_clock", lambda: self.now)
        compute = run._compute_figures

        def costly():
            self.now += cost
            return compute()

        monkeypatch.setattr(run, "_compute_figures", costly)


def _stability_run_with_samples(n):
    run = Run(RunConfig(scenario="stability", host="isolated", duration_s=5).validate())
    run.handle({"type": "phase", "scenario": "stability", "phase": "start", "t": run.t0})
    run.handle({"type": "checkpoint", "scenario": "stability", "label": "Baseline", "t": run.t0,
                "rss": 10_000_000, "vms": 20_000_000, "connections": 0, "messages": 0})
    for i in range(n):
        run.samples.append(0.1 * i, 10_000_000 + i, 20_000_000)
    return run


def test_live_figures_wait_for_steady_inputs_but_not_for_a_checkpoint(monkeypatch):
    """Views ask for the figures many times a second: new samples and lag points may wait up to `max_age_s`, a
    checkpoint (or a phase, a result, the end) shows at once, and without `max_age_s` nothing waits."""
    run = Run(RunConfig(scenario="stability", host="isolated", duration_s=5).validate())
    FakeClock(monkeypatch, run)  # figures that cost nothing to compute: no budget holds them back
    t0 = run.t0
    run.handle({"type": "phase", "scenario": "stability", "phase": "start", "t": t0})
    run.handle({"type": "checkpoint", "scenario": "stability", "label": "Baseline", "t": t0, "rss": 10_000_000,
                "vms": 20_000_000, "connections": 0, "messages": 0})
    for i in range(5):
        run.samples.append(0.1 * i, 10_000_000 + i, 20_000_000)
    first = run.figures(max_age_s=3600)
    assert first["summary"]["peak_rss_bytes"] == 10_000_004
    run.samples.append(0.6, 12_000_000, 20_000_000)
    run.handle({"type": "lag", "t": t0 + 0.6, "lag": 0.001})
    assert run.figures(max_age_s=3600) is first  # steady inputs only: the live view waits
    run.handle({"type": "checkpoint", "scenario": "stability", "label": "After 100 cycles", "t": t0 + 0.7,
                "rss": 12_500_000, "vms": 20_000_000, "connections": 1, "messages": 0})
    second = run.figures(max_age_s=3600)
    assert second is not first and second["summary"]["peak_rss_bytes"] == 12_500_000
    run.samples.append(0.8, 13_000_000, 20_000_000)
    assert run.figures()["summary"]["peak_rss_bytes"] == 13_000_000  # no max age: fresh


def test_costly_live_figures_keep_to_their_share_of_a_core(monkeypatch):
    """Figures that take 0.1 s to compute (hours of samples) come at most every 0.1 s / FIGURES_SHARE in a live
    view, checkpoints included; the end, and a caller without `max_age_s`, still get them at once."""
    run = _stability_run_with_samples(5)
    clock = FakeClock(monkeypatch, run, cost=0.1)
    spacing = 0.1 / run_module.FIGURES_SHARE
    first = run.figures(max_age_s=1.0)
    clock.now += 2.0  # past max_age_s, well inside the budget's spacing
    run.handle({"type": "checkpoint", "scenario": "stability", "label": "After 100 cycles", "t": run.t0 + 0.7,
                "rss": 12_500_000, "vms": 20_000_000, "connections": 1, "messages": 0})
    assert run.figures(max_age_s=1.0) is first
    clock.now = 1000.0 + spacing + 0.01
    second = run.figures(max_age_s=1.0)
    assert second is not first and second["summary"]["peak_rss_bytes"] == 12_500_000
    run.samples.append(0.8, 13_000_000, 20_000_000)
    assert run.figures(max_age_s=1.0) is second
    assert run.figures()["summary"]["peak_rss_bytes"] == 13_000_000  # no max age: fresh
    run.samples.append(0.9, 14_000_000, 20_000_000)
    run.handle({"type": "end", "t": run.t0 + 1.0, "completed": True})
    assert run.figures(max_age_s=1.0)["summary"]["peak_rss_bytes"] == 14_000_000  # the end never waits


def test_a_parent_late_to_the_target_event_still_samples_a_small_isolated_run(monkeypatch):
    """The load process waits until its parent samples the server: a parent whose loop gets to the target event a
    second late (a busy machine) still samples a 20-connection run, which is over well within that second."""
    import asyncio

    from netmem_gui.core.running.execute import execute

    class LateSampler(execute_module.Sampler):
        def start(self) -> None:
            time.sleep(1.0)  # the parent's loop, busy elsewhere when the target event came
            super().start()

    monkeypatch.setattr(execute_module, "Sampler", LateSampler)
    run = Run(RunConfig(scenario="connections", connections=20, host="isolated", interval_ms=20).validate())
    asyncio.run(execute(run))
    assert run.completed, run.stop_reason
    assert len(run.samples) > 0
    started = min(cp["t_s"] for cp in run.checkpoints if cp["label"] != "Baseline")
    assert run.samples.view()[0][0] <= started  # sampled from before the load began
