"""The figures the window shows while a run goes on, read from the run and its analysis (Qt-free)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..core.record import Record
from ..core.run import Run


@dataclass(frozen=True)
class LiveFigures:
    """One frame's worth of figures; None where nothing is known yet."""

    rss_bytes: int | None = None
    baseline_bytes: int | None = None
    delta_bytes: int | None = None
    peak_bytes: int | None = None
    open_connections: int | None = None
    messages_per_s: float | None = None
    per_connection_bytes: float | None = None
    leak_verdict: str | None = None


def _per_connection(scenarios: dict[str, Any]) -> float | None:
    return (scenarios.get("connections") or {}).get("per_connection_bytes")


def from_run(run: Run, now_s: float) -> LiveFigures:
    """Figures of a run in progress.

    Everything comes from the core's analysis (`run.figures()`), its checkpoints and its progress; the two
    figures the analysis only has at the end are read off the stream as it stands: the current RSS (the last
    sample) and, while messages are being sent, the rate of echoed messages since sending began.
    `now_s` is the run's clock now (seconds since it began).
    """
    figures = run.figures()
    summary, scenarios = figures["summary"], figures["scenarios"]
    _, rss, _ = run.samples.view()
    current = int(rss[-1]) if rss.size else None
    baseline = summary["baseline_rss_bytes"]
    delta = current - baseline if current is not None and baseline is not None else None

    open_now = run.checkpoints[-1]["connections"] if run.checkpoints else None
    progress = run.progress
    phase = run.phases[-1]["phase"] if run.phases else None
    phase_began = run.phases[-1]["t_s"] if run.phases else None
    if progress and progress["unit"] == "connections" and phase == "connect":
        open_now = int(progress["done"])

    rate = (scenarios.get("messages") or {}).get("messages_per_s")
    if (rate is None and progress and progress["unit"] == "messages" and phase == "send"
            and phase_began is not None and now_s > phase_began):
        rate = progress["done"] / (now_s - phase_began)
    return LiveFigures(
        rss_bytes=current, baseline_bytes=baseline, delta_bytes=delta, peak_bytes=summary["peak_rss_bytes"],
        open_connections=open_now, messages_per_s=rate, per_connection_bytes=_per_connection(scenarios),
        leak_verdict=summary["seed_leak_rule"]["verdict"] if run.ended else None,
    )


def from_record(rec: Record) -> LiveFigures:
    """The same panel for a finished or opened run: its final figures, straight from the record."""
    summary, scenarios = rec["summary"], rec["scenarios"]
    last_cp = rec["checkpoints"][-1] if rec["checkpoints"] else None
    return LiveFigures(
        rss_bytes=summary["final_rss_bytes"], baseline_bytes=summary["baseline_rss_bytes"],
        delta_bytes=summary["delta_bytes"], peak_bytes=summary["peak_rss_bytes"],
        open_connections=last_cp["connections"] if last_cp else None,
        messages_per_s=(scenarios.get("messages") or {}).get("messages_per_s"),
        per_connection_bytes=_per_connection(scenarios),
        leak_verdict=summary["seed_leak_rule"]["verdict"],
    )
