"""A long run's record made from a real short one: its samples and loop-lag points replaced by generated ones."""

from __future__ import annotations

import copy

import numpy as np

from netmem_gui.core.records import record


def with_samples(rec: record.Record, samples: int) -> record.Record:
    """A copy of `rec` holding `samples` samples and as many loop-lag points, 10 ms apart, RSS around 40 MB."""
    out = copy.deepcopy(rec)
    rng = np.random.default_rng(1)
    t = np.round(np.arange(samples) * 0.01 + 0.0123, 4)
    rss = 40_000_000 + np.cumsum(rng.integers(-4096, 4097, samples))
    out["samples"] = {"t_s": t.tolist(), "rss_bytes": rss.tolist(), "vms_bytes": (rss + 360_000_000).tolist()}
    out["loop_lag"] = {"t_s": t.tolist(), "lag_s": np.round(rng.exponential(0.0004, samples), 6).tolist()}
    return record.validate(out)
