"""The figures the window shows while a run goes on, read from the run and its analysis (Qt-free)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..core.records.record import Record
from ..core.runs.run import Run

# The live panel's figures (peak, per connection, verdict...) follow new samples at most this late; what the run
# measures at this moment (RSS now, its delta, connections open) is read at every refresh.
FIGURES_MAX_AGE_S = 1.0


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
    leak_verdict: str | None = None  # the trend verdict (growth per cycle in steady state)
    leak_growth: str | None = None  # its slope and interval, as text, for the scenario that decided it
    baseline_rule: str | None = None  # the baseline rule (final RSS > baseline + 1 MiB), known at the end


def _fit_text(fit: dict[str, Any] | None) -> str | None:
    """"+65,612 B/cycle (95 % CI 65,540 to 65,700)", or why there is no slope."""
    if not fit:
        return None
    slope = fit["slope_bytes_per_cycle"]
    term = fit.get("load_term")
    if slope is None or (term and term["terms"] and term["terms"][0]["bytes_per_unit"] is None):
        # No slope, or one the verdict did not judge (the load others made moved with the cycles): the reason only,
        # as the report says it; a slope beside its limits read as a leak the verdict had not called.
        return fit.get("reason") or "too few cycles"
    low, high = fit["ci_low_bytes_per_cycle"], fit["ci_high_bytes_per_cycle"]
    # The limits the verdict holds the interval to, so that "+47 B/cycle OK" says what it is OK against: OK when the
    # interval is wholly under min_effect, POSSIBLE LEAK when wholly over leak_threshold (higher for a short run,
    # whose warm-up budget is spread over few cycles).
    ok_under, leak_over = fit.get("min_effect_bytes_per_cycle"), fit.get("leak_threshold_bytes_per_cycle")
    limits = []
    if ok_under is not None and leak_over is not None and round(leak_over) > round(ok_under):
        limits = [f"OK under {ok_under:,.0f}, leak over {leak_over:,.0f} B/cycle"]
    elif ok_under is not None:
        limits = [f"limit {ok_under:,.0f} B/cycle"]
    parts = ([f"{fit['confidence'] * 100:.0f} % CI {low:+,.0f} to {high:+,.0f}"] if low is not None and high is not None
             else []) + limits
    return f"{slope:+,.0f} B/cycle" + (f" ({', '.join(parts)})" if parts else "")


def deciding(scenarios: dict[str, Any], summary: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """The scenario whose trend verdict is the run's (the first with the combined verdict), and that verdict."""
    combined = (summary.get("leak_verdict") or {}).get("verdict")
    found = [(name, lv) for name, fig in scenarios.items() if (lv := (fig or {}).get("leak_verdict"))]
    for name, lv in found:
        if lv["verdict"] == combined:
            return name, lv
    return found[0] if found else None


def trend(scenarios: dict[str, Any], summary: dict[str, Any]) -> tuple[str | None, str | None]:
    """The run's trend verdict and its RSS slope (with the traced-bytes slope when there is one), as text."""
    verdict = (summary.get("leak_verdict") or {}).get("verdict")
    found = deciding(scenarios, summary)
    if found is None:
        return verdict, None
    _, lv = found
    text = _fit_text(lv["rss"])
    traced = _fit_text(lv.get("traced"))
    if traced:
        text = f"RSS {text}; traced {traced}"
    return verdict, text


def loop_name(measured: dict[str, Any]) -> str:
    """Which event loop the lag figures are of, in words (the record's `measured.role` says which host ran)."""
    role = measured.get("role")
    target = measured.get("target") or {}
    if role == "server" and target.get("kind") == "server":
        return f"your server {target.get('module')}:{target.get('attr')}'s loop, in its own process (isolated host)"
    if role == "server":
        return "the echo server's loop, in its own process (isolated host)"
    if role == "app":
        return "the in-app workload thread's loop (in-app host)"
    return "the workload's loop"


def _per_connection(scenarios: dict[str, Any]) -> float | None:
    return (scenarios.get("connections") or {}).get("per_connection_bytes")


def from_run(run: Run, now_s: float) -> LiveFigures:
    """Figures of a run in progress.

    Everything comes from the core: the analysis (`run.figures()`) and what the run measures at this moment
    (`run.now()`: the latest sample, its delta from the baseline, connections open, the echo rate so far).
    `now_s` is the run's clock now (seconds since it began).
    """
    figures = run.figures(max_age_s=FIGURES_MAX_AGE_S)
    summary, scenarios = figures["summary"], figures["scenarios"]
    now = run.now(now_s)
    current, delta, open_now = now["rss_bytes"], now["delta_bytes"], now["open_connections"]
    baseline = summary["baseline_rss_bytes"]
    verdict, growth = trend(scenarios, summary)
    rate = (scenarios.get("messages") or {}).get("messages_per_s") or now["messages_per_s"]
    return LiveFigures(
        rss_bytes=current, baseline_bytes=baseline, delta_bytes=delta, peak_bytes=summary["peak_rss_bytes"],
        open_connections=open_now, messages_per_s=rate, per_connection_bytes=_per_connection(scenarios),
        # The trend verdict as it stands (from the cycles so far); the baseline rule only once the run has ended.
        leak_verdict=verdict, leak_growth=growth,
        baseline_rule=summary["baseline_rule"]["verdict"] if run.ended else None,
    )


def from_record(rec: Record) -> LiveFigures:
    """The same panel for a finished or opened run: its final figures, straight from the record."""
    summary, scenarios = rec["summary"], rec["scenarios"]
    verdict, growth = trend(scenarios, summary)
    last_cp = rec["checkpoints"][-1] if rec["checkpoints"] else None
    return LiveFigures(
        rss_bytes=summary["final_rss_bytes"], baseline_bytes=summary["baseline_rss_bytes"],
        delta_bytes=summary["delta_bytes"], peak_bytes=summary["peak_rss_bytes"],
        open_connections=last_cp["connections"] if last_cp else None,
        messages_per_s=(scenarios.get("messages") or {}).get("messages_per_s"),
        per_connection_bytes=_per_connection(scenarios),
        leak_verdict=verdict, leak_growth=growth, baseline_rule=summary["baseline_rule"]["verdict"],
    )
