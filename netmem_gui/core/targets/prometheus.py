"""A server read through Prometheus (--prometheus): the observe scenario's target when memory comes from a query.

Nothing runs on the server's machine but what already does (an exporter, Prometheus). The readings are the
memory query's series summed (and the connections query's, when given), no more often than Prometheus scrapes;
a reading that fails is a gap, filled from query_range once Prometheus answers again.
"""

from __future__ import annotations

import time
from typing import Any

from ..config import RunConfig
from ..errors import WorkloadError
from ..measuring import prometheus as prom
from ..measuring.memory import ProcessGone


class NoReading(ProcessGone):
    """Prometheus gave no reading now (the Locust watch skips that poll, as it does for a process gone)."""


class PrometheusTarget:
    """The observe scenario's Target for --prometheus: memory and connections from queries, at most one reading
    per scrape interval (a faster one would read the same scrape again)."""

    role = "target"
    owns_server = False
    pid = 0  # no process of this machine: the record's target says pid null
    protocol = "idle"

    def __init__(self, config: RunConfig) -> None:
        assert config.prometheus_url is not None and config.memory_query is not None
        self.base = prom.check_url(config.prometheus_url)
        self.memory_query = config.memory_query
        self.connections_query = config.connections_query
        source = prom.check_source(self.base, self.memory_query, self.connections_query)
        self.scrape_interval_s = source.scrape_interval_s
        self.every_s = max(config.interval_ms / 1000, source.scrape_interval_s or 0.0)
        self.gone_after_s = max(prom.GONE_AFTER_S, 3 * (source.scrape_interval_s or 0.0))
        self._series_at_start = source.memory.series
        self._series = [source.memory.series, source.memory.series]  # fewest, most
        self._last: tuple[float, float, int] | None = None  # time, memory, connections of the last row
        self._now: tuple[float, float, int] | None = None  # the same, of the last reading of any kind
        self._silent_since: float | None = None
        self._why = ""
        self.gaps: list[dict[str, Any]] = []  # monotonic from, to; why; points filled from query_range

    def describe(self) -> dict[str, Any]:
        return {"pid": None, "name": f"Prometheus at {self.base}", "address": None, "protocol": "idle",
                "prometheus": {"url": self.base, "memory_query": self.memory_query,
                               "connections_query": self.connections_query,
                               "scrape_interval_s": self.scrape_interval_s, "reading_every_s": self.every_s,
                               "series_at_start": self._series_at_start}}

    def _read(self) -> tuple[float, float, int, int]:
        """(time, memory, connections, series) now; PrometheusError when Prometheus gives none."""
        memory = prom.query(self.base, self.memory_query, "memory", prom.MAX_BYTES)
        if not memory.series:
            raise prom.PrometheusError("the memory query returned no series")
        conns = 0
        if self.connections_query is not None:
            c = prom.query(self.base, self.connections_query, "connections", prom.MAX_CONNECTIONS)
            if not c.series:
                raise prom.PrometheusError("the connections query returned no series")
            conns = round(c.total)
        return time.monotonic(), memory.total, conns, memory.series

    def readings(self) -> list[tuple[float, int, int]]:
        """The observe scenario's rows (time, connections, memory) since it last asked: none before a scrape
        interval has passed or while Prometheus gives nothing; after a gap, its points from query_range first.
        WorkloadError once Prometheus has been silent for `gone_after_s` (the run ends, exit 1, kept)."""
        now = time.monotonic()
        if self._last is not None and now - self._last[0] < self.every_s * 0.95:
            return []
        try:
            t, memory, conns, series = self._read()
        except prom.PrometheusError as exc:
            self._silence(now, str(exc))
            return []
        self._series = [min(self._series[0], series), max(self._series[1], series)]
        rows = self._fill(t) if self._silent_since is not None else []
        self._silent_since = None
        self._last = self._now = (t, memory, conns)
        return [*rows, (t, conns, round(memory))]

    def _silence(self, now: float, why: str) -> None:
        if self._silent_since is None:
            self._silent_since = now
            self.gaps.append({"from": now, "to": None, "reason": why[:300], "filled": 0})
        if now - self._silent_since >= self.gone_after_s:
            raise WorkloadError(f"Prometheus gave no reading for {now - self._silent_since:.0f} s: {why}")

    def _fill(self, t: float) -> list[tuple[float, int, int]]:
        """The gap that ends at `t` filled from query_range at the reading interval (connections too, when
        queried); points where either query had no value stay a gap. A point equal to the one before it is left
        out: Prometheus repeats its last sample at every step for minutes when it has no newer one (it could not
        scrape either), and such a repeat can't be told from a new scrape."""
        gap = self.gaps[-1]
        gap["to"] = t
        last = self._last[0] if self._last is not None else gap["from"]
        start, end = time.time() - (time.monotonic() - last), time.time() - (time.monotonic() - t)
        try:
            mem = prom.query_range(self.base, self.memory_query, "memory", prom.MAX_BYTES, start, end, self.every_s)
            conns = ({ts: round(v) for ts, v, _ in prom.query_range(
                self.base, self.connections_query, "connections", prom.MAX_CONNECTIONS, start, end, self.every_s)}
                     if self.connections_query is not None else None)
        except prom.PrometheusError as exc:
            gap["fill_error"] = str(exc)[:300]
            return []
        rows = []
        before = self._last[1] if self._last is not None else None
        for ts, total, _ in mem:
            at = prom.wall_to_monotonic(ts)
            if last < at < t - self.every_s / 2 and (conns is None or ts in conns) and total != before:
                rows.append((at, 0 if conns is None else conns[ts], round(total)))
            before = total
        gap["filled"] = len(rows)
        return rows

    def observed(self) -> dict[str, Any]:
        """For the observe scenario's result: the series count over the run and the gaps (monotonic times)."""
        if self._silent_since is not None and self.gaps and self.gaps[-1]["to"] is None:
            self.gaps[-1]["to"] = time.monotonic()
        return {"prometheus": {"series_min": self._series[0], "series_max": self._series[1], "gaps": self.gaps}}

    # ---- the rest of Target: one reading, for the scenario's checkpoints ----------------------------------------

    def memory(self) -> tuple[int, int]:
        """The memory now, for a checkpoint (VMS: 0, not read); the last reading when Prometheus gives none now."""
        try:
            t, memory, conns, _ = self._read()
        except prom.PrometheusError as exc:
            if self._now is None:
                raise WorkloadError(str(exc)) from None
            return round(self._now[1]), 0
        self._now = (t, memory, conns)
        return round(memory), 0

    def connections_now(self) -> int:
        return self._now[2] if self._now is not None else 0

    def gone(self) -> str | None:
        return None

    async def start_server(self, port: int, leak_bytes: int = 0) -> int:
        return 0

    async def settle(self, connections: int) -> None:
        return None

    async def traced_memory(self) -> tuple[int, int] | None:
        return None

    async def snapshot(self, which: str) -> list[dict[str, Any]] | None:
        return None

    async def collect_garbage(self) -> None:
        return None

    async def stop_server(self) -> None:
        return None

    def close(self) -> None:
        return None


class LatestMemory:
    """The Locust watch's memory under --prometheus (read() -> (memory, 0)), asked of Prometheus no more often than
    it scrapes (a poll in between gets the same scrape again, without asking); NoReading when Prometheus gives
    none, so that the poll keeps Locust's figures without a memory."""

    def __init__(self, config: RunConfig) -> None:
        assert config.prometheus_url is not None and config.memory_query is not None
        self.base = prom.check_url(config.prometheus_url)
        self.memory_query = config.memory_query
        self.connections_query = config.connections_query
        self._every: float | None = None  # the scrape interval, asked once with the first answer
        self._asked: dict[str, tuple[float, int]] = {}  # query: when it was answered, its sum

    def _ask(self, promql: str, what: str, high: float) -> int:
        now = time.monotonic()
        last = self._asked.get(promql)
        if last is not None and self._every is not None and now - last[0] < self._every * 0.95:
            return last[1]
        vector = prom.query(self.base, promql, what, high)
        if not vector.series:
            raise prom.PrometheusError(f"the {what} query returned no series")
        if self._every is None:
            self._every = prom.scrape_interval_s(self.base, vector.labels) or 0.0
        self._asked[promql] = (now, round(vector.total))
        return round(vector.total)

    def read(self) -> tuple[int, int]:
        try:
            return self._ask(self.memory_query, "memory", prom.MAX_BYTES), 0
        except prom.PrometheusError:
            raise NoReading from None

    def connections(self) -> int | None:
        if self.connections_query is None:
            return None
        try:
            return self._ask(self.connections_query, "connections", prom.MAX_CONNECTIONS)
        except prom.PrometheusError:
            return None

    def close(self) -> None:
        return None
