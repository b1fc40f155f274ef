"""The figures of a run as one table: where each sits in the record, its title, its unit, which way is worse.

The report, `compare`, `check` and the app's panels all read their titles, units and formats from `FIGURES`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import tables
from .verdict import recorded_verdict

SUMMARY = "summary"
LOAD = "load"  # the load a Locust cluster put on the process (record["load"]["figures"])
SCENARIO_ORDER = ("connections", "messages", "stability", "backpressure")
SCOPE_TITLES = {SUMMARY: "Summary", "connections": "Connection Profiling",
                "messages": "Message Throughput Profiling", "stability": "Long-Running Stability",
                LOAD: "Under Locust's Load",
                "observe": "Observation (no load from netmem)", "backpressure": "Backpressure (slow readers)"}

# Noise floors measured on the project's machine: repeated identical runs moved peak/final RSS by up to
# ~100 KB, drift by ~40 KB, and the per-connection slope by ~150 B (see docs/ci-gate.md).
RSS_FLOOR = 256 * 1024
PER_CONNECTION_FLOOR = 256.0
# "Memory delta from baseline" is the figure of the baseline rule, whose own threshold is 1 MiB: a change smaller
# than that made "+315 % REGRESSED" out of 104 KB becoming 432 KB, a change the rule itself calls nothing.
DELTA_FLOOR = float(tables.MIB)


@dataclass(frozen=True)
class Figure:
    """A figure of a run: where it sits in the record, how it reads, whether `compare` gates on it."""

    scope: str  # "summary" or a scenario name
    name: str  # key in record["summary"] or record["scenarios"][scope]; "verdict" is the leak verdict
    title: str
    unit: str  # "bytes", "count", "msg/s", "MB/s", "%", "s", "verdict" (the leak verdict), "label" (another word)
    worse: str = ""  # "up" or "down": the direction that is worse for the server; "" when neither is
    gated: bool = False  # `compare` fails a run whose value grew past the threshold (and the floor)
    floor: float = 0.0  # growth at or below this never gates (noise); in the figure's unit
    compared: bool = True  # a row of `compare`'s table
    memory: bool = True  # a figure of memory (or of the load); False: of the run's own cost (lag, sampler)

    @property
    def key(self) -> str:
        return f"{self.scope}.{self.name}"


FIGURES: tuple[Figure, ...] = (
    Figure(SUMMARY, "baseline_rss_bytes", "Baseline RSS", "bytes"),
    Figure(SUMMARY, "peak_rss_bytes", "Peak RSS", "bytes", "up", gated=True, floor=RSS_FLOOR),
    Figure(SUMMARY, "final_rss_bytes", "Final RSS", "bytes", "up"),
    Figure(SUMMARY, "delta_bytes", "Memory delta from baseline", "bytes", "up", gated=True, floor=DELTA_FLOOR),
    Figure(SUMMARY, "verdict", "Leak verdict", "verdict", "up", gated=True),
    Figure(SUMMARY, "loop_lag_p50_s", "Event-loop lag, median", "s", "up", compared=False, memory=False),
    Figure(SUMMARY, "loop_lag_p99_s", "Event-loop lag, p99", "s", "up", compared=False, memory=False),
    Figure(SUMMARY, "loop_lag_max_s", "Event-loop lag, max", "s", "up", compared=False, memory=False),
    Figure(SUMMARY, "sampler_cpu_percent", "Sampler's own CPU", "%", "up", compared=False, memory=False),
    Figure(SUMMARY, "kernel_peak_bytes", "Kernel socket memory, peak", "bytes", "up"),
    Figure(SUMMARY, "kernel_per_connection_bytes", "Kernel socket memory per connection", "bytes", "up"),
    Figure("connections", "connections_created", "Connections created", "count", "down"),
    Figure("connections", "connections_failed", "Connections failed", "count", "up", compared=False),
    Figure("connections", "client_bytes", "Memory taken by connections", "bytes", "up"),
    Figure("connections", "per_connection_bytes", "Per-connection overhead", "bytes", "up", gated=True,
           floor=PER_CONNECTION_FLOOR),
    Figure("connections", "cleanup_percent", "Memory returned by cleanup", "%", "down"),
    Figure("connections", "rss_growth_per_round_bytes", "Memory kept per round", "bytes", "up", compared=False),
    Figure("messages", "messages_echoed", "Messages echoed", "count", "down"),
    Figure("messages", "messages_mismatched", "Messages mismatched", "count", "up", compared=False),
    Figure("messages", "messages_per_s", "Throughput", "msg/s", "down"),
    Figure("messages", "memory_growth_bytes", "Memory growth while sending", "bytes", "up"),
    Figure("stability", "cycles", "Cycles", "count", "down"),
    Figure("stability", "cycles_failed", "Cycles failed", "count", "up", compared=False),
    Figure("stability", "peak_rss_bytes", "Peak RSS (stability)", "bytes", "up"),
    Figure("stability", "drift_bytes", "Drift", "bytes", "up", gated=True, floor=RSS_FLOOR),
    Figure("backpressure", "verdict", "Backpressure", "label"),
    Figure("backpressure", "sent_bytes", "Sent to slow readers", "bytes"),
    Figure("backpressure", "memory_per_mb_sent_bytes", "Server memory per MB sent", "bytes", "up"),
    Figure("backpressure", "user_space_growth_bytes", "User space growth while sending", "bytes", "up"),
    Figure("backpressure", "kernel_bytes", "Kernel socket memory at the end of sending", "bytes", "up"),
    Figure("observe", "per_connection_bytes", "Per-connection overhead (observed)", "bytes", "up", gated=True,
           floor=PER_CONNECTION_FLOOR),
    Figure("observe", "kept_per_released_connection_bytes", "Kept after release, per connection", "bytes", "up"),
    Figure("observe", "growth_per_release_bytes", "Memory kept per release", "bytes", "up", compared=False),
    Figure(LOAD, "users_max", "Locust users, most", "count"),
    Figure(LOAD, "rps_max", "Requests per second, most", "req/s", "down"),
    Figure(LOAD, "requests", "Requests served", "count"),
    Figure(LOAD, "failures", "Requests failed", "count", "up", compared=False),
    Figure(LOAD, "per_user_bytes", "Memory per user", "bytes", "up", gated=True, floor=PER_CONNECTION_FLOOR),
    Figure(LOAD, "per_connection_bytes", "Per-connection overhead under load", "bytes", "up", gated=True,
           floor=PER_CONNECTION_FLOOR),
    Figure(LOAD, "steady.drift_bytes", "Drift at steady load", "bytes", "up", gated=True, floor=RSS_FLOOR),
    Figure(LOAD, "steady.leak_verdict.verdict", "Leak verdict at steady load", "verdict", "up"),
)
_BY_KEY = {f.key: f for f in FIGURES}


def find(key: str) -> Figure:
    """The figure at `key` ("connections.per_connection_bytes"); KeyError for a key the table doesn't have."""
    return _BY_KEY[key]


def title(key: str) -> str:
    return find(key).title


def value(rec: dict[str, Any], fig: Figure) -> Any:
    """The figure's value in a record (None when not measured)."""
    if fig.scope == SUMMARY:
        if fig.name == "verdict":
            return recorded_verdict(rec)[0]
        return rec["summary"].get(fig.name)
    if fig.scope == LOAD:
        node: Any = (rec.get("load") or {}).get("figures")
        for part in fig.name.split("."):  # steady.drift_bytes: a figure of the steady part
            node = node.get(part) if isinstance(node, dict) else None
        return node
    return (rec["scenarios"].get(fig.scope) or {}).get(fig.name)


def text(fig: Figure, val: Any, signed: bool = False) -> str:
    """A value of the figure as every view writes it (KB = 1,024 bytes, MB = 1,024 KB)."""
    if val is None:
        return "n/a"
    if fig.unit in ("verdict", "label"):
        return str(val)
    if fig.unit == "bytes":
        return tables.size(val, signed)
    if fig.unit == "%":
        return tables.percent(val, signed)
    if fig.unit == "s":
        return tables.number(val * 1000, 1, signed) + " ms"
    digits = 0 if fig.unit in ("count", "msg/s", "req/s") else 2
    return tables.number(val, digits, signed) + (f" {fig.unit}" if fig.unit in ("msg/s", "MB/s", "req/s") else "")


def has_scope(rec: dict[str, Any], scope: str) -> bool:
    """Whether the record has figures of `scope` (the summary always; the load only with --locust)."""
    if scope == SUMMARY:
        return True
    if scope == LOAD:
        return bool(rec.get("load"))
    return scope in rec["scenarios"]


def rows(rec: dict[str, Any], scope: str) -> list[tuple[Figure, str]]:
    """(figure, text) of every figure of `scope` that the record holds, in the table's order."""
    return [(f, text(f, value(rec, f))) for f in FIGURES if f.scope == scope and value(rec, f) is not None]
