"""The sampler and its buffer."""

from __future__ import annotations

import os
import time

import numpy as np

from netmem_gui.core.sampler import SampleBuffer, Sampler


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
