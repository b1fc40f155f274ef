"""tracemalloc in the process that runs the echo server: traced bytes per cycle and the sites that grew most."""

from __future__ import annotations

import gc
import tracemalloc
from typing import Any

# One frame is enough for file:line of the allocation and keeps tracemalloc's cost lowest.
TRACE_FRAMES = 1
TOP_SITES = 10

# tracemalloc's own bookkeeping and the import system are not the workload's allocations. Left out by exact name,
# not with tracemalloc.Filter: a Filter matches with fnmatch, whose regular expressions are compiled (and kept in
# re's cache) on the first filtering, between the two snapshots, and grew more than a small leak did in a short run.
_IGNORED = frozenset({tracemalloc.__file__, "<frozen importlib._bootstrap>", "<frozen importlib._bootstrap_external>",
                      "<unknown>"})


class Tracer:
    """Starts tracemalloc (unless it already runs), reads traced bytes, and diffs two snapshots."""

    def __init__(self) -> None:
        self._started_here = False
        self._first: tracemalloc.Snapshot | None = None

    def start(self) -> None:
        if not tracemalloc.is_tracing():
            tracemalloc.start(TRACE_FRAMES)
            self._started_here = True

    def stop(self) -> None:
        self._first = None
        if self._started_here:
            tracemalloc.stop()
            self._started_here = False

    @property
    def active(self) -> bool:
        return tracemalloc.is_tracing()

    def traced_bytes(self, collect: bool = True) -> tuple[int, int] | None:
        """(live traced bytes, tracemalloc's own memory); None when not tracing.

        Cyclic garbage is collected first: asyncio transports and sockets die in reference cycles, and between
        two collections of the oldest generation that garbage makes traced bytes saw-tooth upwards by ~100 B a
        cycle on a clean server. A leak is memory that stays reachable, so only live memory is counted.
        collect=False: the caller has just collected (on the thread that may: core/running/collector.py).
        """
        if not tracemalloc.is_tracing():
            return None
        if collect:
            gc.collect()
        return tracemalloc.get_traced_memory()[0], tracemalloc.get_tracemalloc_memory()

    def snapshot(self, which: str, top: int = TOP_SITES, collect: bool = True) -> list[dict[str, Any]] | None:
        """which="first" keeps a snapshot; which="last" returns the top sites grown since it (None if unknown)."""
        if not tracemalloc.is_tracing():
            return None
        if collect:
            gc.collect()  # live objects only, as in traced_bytes()
        snap = tracemalloc.take_snapshot()
        if which == "first":
            self._first = snap
            return []
        if self._first is None:
            return None
        stats = snap.compare_to(self._first, "lineno")
        grown = sorted((s for s in stats if s.size_diff > 0 and s.traceback[0].filename not in _IGNORED),
                       key=lambda s: s.size_diff, reverse=True)[:top]
        self._first = None
        return [site_dict(s) for s in grown]


def site_dict(stat: tracemalloc.StatisticDiff) -> dict[str, Any]:
    frame = stat.traceback[0]
    return {
        "file": frame.filename,
        "line": frame.lineno,
        "size_bytes": stat.size,
        "size_diff_bytes": stat.size_diff,
        "count": stat.count,
        "count_diff": stat.count_diff,
    }
