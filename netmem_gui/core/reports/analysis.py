"""Analysis: the figures of each scenario and of the whole run, computed from checkpoints, samples and counts."""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Sequence
from typing import Any

import numpy as np

from .tables import MIB
from .under_load import observe_figures, unexplained, verdict_with_load

BASELINE_RULE_THRESHOLD_BYTES = MIB
BASELINE_RULE = "final RSS > baseline RSS + 1 MiB"

Checkpoint = dict[str, Any]

# The leak verdict (see docs/leak-verdict.md). Calibrated on this project's 2-core machine with
# benchmarks/leak_validation.py: clean isolated runs stay far below MIN_EFFECT, a 1 KiB/cycle leak far above.
WARMUP_FRACTION = 0.2  # the first fifth of the cycles is warm-up and left out of the fit
MIN_STEADY_POINTS = 12  # fewer steady-state cycles than this: INCONCLUSIVE
MIN_EFFECT_BYTES = 128  # growth per connection cycle below this is not called a leak, however significant
# A clean CPython server's RSS still rises in page steps while its allocator warms up, about 50-150 KB over the
# first few hundred cycles here, past any fixed warm-up fraction in a short run. Spread over n fitted cycles that
# alone can read as up to budget/n bytes per cycle, so an RSS fit must beat that too: a 3 s run (~190 cycles
# fitted) needs more than ~500 B/cycle, a 10 s run (~640) more than ~150 B/cycle. Traced bytes don't step.
RSS_WARMUP_BUDGET_BYTES = 96 * 1024
CONFIDENCE = 0.95
MAX_FIT_POINTS = 1000  # longer series are binned (median per bin) so the pairwise fit stays O(1000²)
LEAK_RULE = (f"POSSIBLE LEAK when the lower bound of the {CONFIDENCE:.0%} confidence interval of the Theil-Sen"
             f" slope of memory per cycle, after {WARMUP_FRACTION:.0%} warm-up, exceeds {MIN_EFFECT_BYTES} B per"
             f" connection cycle; OK when its upper bound is below that; else INCONCLUSIVE, as with fewer than"
             f" {MIN_STEADY_POINTS} steady-state cycles")
AFTER_N_CONNECTIONS = re.compile(r"^After \d+ connections$")
_HELD_IN_ANY_ROUND = re.compile(r"^(Round \d+: a|A)fter \d+ connections$")
_HELD_IN_LATER_ROUND = re.compile(r"^Round (\d+): after \d+ connections$")


def fit_line(x: Sequence[float], y: Sequence[float]) -> dict[str, Any] | None:
    """Least-squares line y = slope * x + intercept, with r²; None when x has fewer than two distinct values."""
    xs = np.asarray(x, dtype=np.float64)
    ys = np.asarray(y, dtype=np.float64)
    if xs.size < 2 or np.unique(xs).size < 2:
        return None
    slope, intercept = np.polyfit(xs, ys, 1)
    residual = ys - (slope * xs + intercept)
    spread = float(np.sum((ys - ys.mean()) ** 2))
    r_squared = 1.0 - float(np.sum(residual**2)) / spread if spread > 0 else 1.0
    return {"slope": float(slope), "intercept": float(intercept), "r_squared": r_squared, "points": int(xs.size)}


def _tie_term(values: np.ndarray) -> float:
    """Σ t(t-1)(2t+5) over groups of equal values: the tie correction of Kendall's S variance."""
    _, counts = np.unique(values, return_counts=True)
    t = counts[counts > 1].astype(np.float64)
    return float(np.sum(t * (t - 1) * (2 * t + 5)))


def _pairs(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Every pair i < j of 0..n-1 (the upper triangle, in np.triu_indices(n, 1)'s order): n = 1000 gives 499,500.

    Built with repeat and arange, about 4x faster than np.triu_indices (a live view refits every few seconds).
    """
    rows = np.arange(n, dtype=np.int32)
    counts = n - 1 - rows
    i = np.repeat(rows, counts)
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    j = np.arange(i.size, dtype=np.int64) - starts + i + 1
    return i, j


def theil_sen(x: Sequence[float], y: Sequence[float], confidence: float = CONFIDENCE) -> dict[str, Any] | None:
    """Theil-Sen slope with Sen's (1968) confidence interval and the Mann-Kendall test of a trend.

    The slope is the median of the slopes between every pair of points; the interval takes the order
    statistics of those slopes either side of the median that Kendall's S variance (with the tie correction:
    RSS moves in whole pages, so equal values are common) puts at the given confidence. Same maths as
    scipy.stats.theilslopes (method="separate") and a two-sided Mann-Kendall p-value. Needs 3+ distinct x.
    """
    xs = np.asarray(x, dtype=np.float64)
    ys = np.asarray(y, dtype=np.float64)
    n = xs.size
    if n < 3 or np.unique(xs).size < 3:
        return None
    order = np.argsort(xs, kind="stable")
    xs, ys = xs[order], ys[order]
    i, j = _pairs(n)
    dx = xs[j] - xs[i]
    dy = ys[j] - ys[i]
    del i, j
    distinct = dx != 0
    slopes = dy[distinct] / dx[distinct]
    pairs = slopes.size
    # Kendall's S between x and y, and its variance under "no trend" with ties in x and in y.
    s_stat = float(np.sum(np.sign(dx) * np.sign(dy)))
    var_s = (n * (n - 1) * (2 * n + 5) - _tie_term(xs) - _tie_term(ys)) / 18.0
    z = statistics.NormalDist().inv_cdf(0.5 + confidence / 2)
    if var_s > 0:
        sigma = math.sqrt(var_s)
        low_i = max(round((pairs - z * sigma) / 2.0) - 1, 0)
        high_i = min(round((pairs + z * sigma) / 2.0), pairs - 1)
        z_mk = (s_stat - math.copysign(1.0, s_stat)) / sigma if s_stat else 0.0
        p_value = math.erfc(abs(z_mk) / math.sqrt(2))
    else:  # every y equal: no trend, and no doubt about it
        low_i = high_i = pairs // 2
        p_value = 1.0
    # Only four order statistics are needed (the interval's ends and the median's middle pair): a partial
    # sort, linear in the number of pairs, instead of sorting them all.
    mid_low, mid_high = (pairs - 1) // 2, pairs // 2
    ordered = np.partition(slopes, sorted({low_i, high_i, mid_low, mid_high}))
    slope = float((ordered[mid_low] + ordered[mid_high]) / 2)
    intercept = float(np.median(ys - slope * xs))
    return {
        "slope": slope, "intercept": intercept, "ci_low": float(ordered[low_i]), "ci_high": float(ordered[high_i]),
        "confidence": confidence, "p_value": p_value, "points": int(n),
    }


def _binned(x: np.ndarray, y: np.ndarray, most: int) -> tuple[np.ndarray, np.ndarray]:
    """At most `most` points: consecutive points grouped, mean x and median y per group."""
    n = x.size
    if n <= most:
        return x, y
    # The groups of np.array_split(range(n), most): the first n % most hold one point more. All groups at once
    # (a live view refits often): sums for the means, and y sorted within each group for the medians.
    small, bigger = divmod(n, most)
    sizes = np.full(most, small)
    sizes[:bigger] += 1
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    group = np.repeat(np.arange(most), sizes)
    mean_x = np.bincount(group, weights=x, minlength=most) / sizes
    ordered = y[np.lexsort((y, group))]
    median_y = (ordered[starts + (sizes - 1) // 2] + ordered[starts + sizes // 2]) / 2
    return mean_x, median_y


def leak_verdict(
    cycles: Sequence[float],
    values: Sequence[float],
    min_effect: float = MIN_EFFECT_BYTES,
    warmup_fraction: float = WARMUP_FRACTION,
    min_points: int = MIN_STEADY_POINTS,
    warmup_budget: float = 0.0,
) -> dict[str, Any]:
    """OK / POSSIBLE LEAK / INCONCLUSIVE from memory after each cycle (bytes) against the cycle number.

    The first `warmup_fraction` of the cycles is left out. POSSIBLE LEAK needs the whole confidence interval
    above `min_effect` bytes per cycle (so the growth is both significant and big enough to matter), and above
    `warmup_budget` spread over the fitted cycles; OK needs it wholly below `min_effect`; anything between, or
    too few cycles, is INCONCLUSIVE.
    """
    x = np.asarray(cycles, dtype=np.float64)
    y = np.asarray(values, dtype=np.float64)
    warmup = int(x.size * warmup_fraction)
    xs, ys = x[warmup:], y[warmup:]
    out: dict[str, Any] = {
        "verdict": "INCONCLUSIVE", "reason": None, "slope_bytes_per_cycle": None, "intercept_bytes": None,
        "ci_low_bytes_per_cycle": None,
        "ci_high_bytes_per_cycle": None, "confidence": CONFIDENCE, "p_value": None, "cycles": int(x.size),
        "warmup_cycles": warmup, "cycles_fitted": int(xs.size), "min_effect_bytes_per_cycle": float(min_effect),
    }
    if xs.size < min_points:
        out["reason"] = f"too few cycles: {xs.size} after warm-up, {min_points} needed"
        return out
    bx, by = _binned(xs, ys, MAX_FIT_POINTS)
    fit = theil_sen(bx, by)
    if fit is None:
        out["reason"] = "too few distinct cycles"
        return out
    out.update(slope_bytes_per_cycle=fit["slope"], intercept_bytes=fit["intercept"],
               ci_low_bytes_per_cycle=fit["ci_low"], ci_high_bytes_per_cycle=fit["ci_high"], p_value=fit["p_value"])
    to_beat = max(min_effect, warmup_budget / xs.size)
    out["leak_threshold_bytes_per_cycle"] = to_beat
    if fit["ci_low"] > to_beat:
        out["verdict"] = "POSSIBLE LEAK"
        out["reason"] = f"memory grows by more than {to_beat:,.0f} B per cycle at {CONFIDENCE:.0%} confidence"
    elif fit["ci_high"] < min_effect:
        out["verdict"] = "OK"
        out["reason"] = f"growth per cycle is below {min_effect:,.0f} B at {CONFIDENCE:.0%} confidence"
    elif fit["ci_low"] > min_effect:
        out["reason"] = (f"growth of {fit['slope']:,.0f} B per cycle could still be the allocator warming up"
                         f" over only {xs.size} cycles; a longer run can tell")
    else:
        out["reason"] = f"the confidence interval straddles {min_effect:,.0f} B per cycle"
    return out


def combine_verdicts(verdicts: Sequence[str | None]) -> str | None:
    """POSSIBLE LEAK if any says so; else INCONCLUSIVE if any is; else OK; None when there is none."""
    present = [v for v in verdicts if v is not None]
    if not present:
        return None
    for worst in ("POSSIBLE LEAK", "INCONCLUSIVE"):
        if worst in present:
            return worst
    return "OK"


def scenario_leak_verdict(
    series: dict[str, Any] | None, per_cycle_connections: int, host: str, load: Load | None = None
) -> dict[str, Any] | None:
    """The leak verdict of one scenario from its per-cycle series: on RSS, and on traced bytes when traced.

    A cycle of the connections scenario is a round of `per_cycle_connections` connections; the minimum effect
    scales with it, so the rule is the same per connection cycle everywhere. `load`: what others held while the
    cycles ran (Locust's connections or users, and requests served, by time); when it changed, it is a term of
    the model (under_load.verdict_with_load).
    """
    if series is None:
        return None
    min_effect = MIN_EFFECT_BYTES * max(1, per_cycle_connections)
    held = _load_at_cycles(series, load)

    def judge(values: Any, budget: float) -> dict[str, Any]:
        def fit(x: Any, y: Any) -> dict[str, Any]:
            return leak_verdict(x, y, min_effect, warmup_budget=budget)

        if held is not None:
            with_load = verdict_with_load(np.asarray(series["cycle"]), np.asarray(values), held, fit, WARMUP_FRACTION)
            if with_load is not None:
                return with_load
        return {**fit(series["cycle"], values), "load_term": None}

    rss = judge(series["rss_bytes"], RSS_WARMUP_BUDGET_BYTES)
    traced = None
    if series.get("traced_bytes") is not None:
        traced = judge(series["traced_bytes"], 0.0)
    return {
        "verdict": combine_verdicts([rss["verdict"], traced["verdict"] if traced else None]),
        "rule": LEAK_RULE,
        "connections_per_cycle": per_cycle_connections,
        "host_drift_included": host == "inapp",
        "rss": rss,
        "traced": traced,
    }


Load = tuple[np.ndarray, dict[str, np.ndarray]]  # poll times (s since the run began); unit -> load at each poll


def _load_at_cycles(series: dict[str, Any], load: Load | None) -> dict[str, np.ndarray] | None:
    """The load others put on the server when each cycle ended, by unit; None without a load or without cycle
    times (records made before cycles had them)."""
    if load is None or series.get("t_s") is None or not len(load[0]):
        return None
    at = np.asarray(series["t_s"], dtype=np.float64)
    return {unit: np.interp(at, load[0], column.astype(np.float64)) for unit, column in load[1].items()}


def baseline_rule(baseline: int | None, final: int | None) -> dict[str, Any]:
    """The baseline rule, the leak indicator of the C++ guide netmem is modelled on, kept as that guide wrote it
    so that runs can be set beside it."""
    verdict = None
    if baseline is not None and final is not None:
        verdict = "POSSIBLE LEAK" if final > baseline + BASELINE_RULE_THRESHOLD_BYTES else "OK"
    return {"rule": BASELINE_RULE, "threshold_bytes": BASELINE_RULE_THRESHOLD_BYTES, "verdict": verdict}


def _rss(checkpoints: list[Checkpoint], label: str) -> int | None:
    for cp in checkpoints:
        if cp["label"] == label:
            return int(cp["rss_bytes"])
    return None


def _minus(a: int | None, b: int | None) -> int | None:
    return None if a is None or b is None else a - b


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


def connections_figures(cps: list[Checkpoint], counts: dict[str, Any]) -> dict[str, Any]:
    started = _rss(cps, "After server start")
    held = [cp for cp in cps if AFTER_N_CONNECTIONS.match(cp["label"])]
    with_all = int(held[-1]["rss_bytes"]) if held else None
    fit_points = [cp for cp in cps if cp["label"] == "After server start"] + held
    fit = fit_line([cp["connections"] for cp in fit_points], [cp["rss_bytes"] for cp in fit_points])
    after_cleanup = _rss(cps, "After server stop")
    if after_cleanup is None:
        after_cleanup = _rss(cps, "After closing clients")
    taken = _minus(with_all, started)
    # Cleanup is measured from the last time every connection was held (the last round's, with --rounds):
    # round 1's figure would count every later round's growth against the cleanup.
    last_held = [cp for cp in cps if _HELD_IN_ANY_ROUND.match(cp["label"])]
    held_last = int(last_held[-1]["rss_bytes"]) if last_held else None
    returned = _minus(held_last, after_cleanup)
    taken_last = _minus(held_last, started)
    created = counts.get("created")
    # With --rounds, memory held with every connection open grows from round to round only by what each round's
    # cleanup kept from the allocator: what it freed, the next round reuses (see docs/findings.md).
    later = [(int(m.group(1)), int(cp["rss_bytes"])) for cp in cps if (m := _HELD_IN_LATER_ROUND.match(cp["label"]))]
    growth_per_round = ((later[-1][1] - with_all) / (later[-1][0] - 1)) if later and with_all is not None else None
    return {
        "connections_requested": counts.get("requested"),
        "connections_created": created,
        "connections_failed": counts.get("failed"),
        # Neither made nor refused: the run stopped first (a wrong protocol, a stop).
        "connections_not_made": (counts["requested"] - counts["created"] - counts["failed"]
                                 if None not in (counts.get("requested"), counts.get("created"), counts.get("failed"))
                                 else None),
        "last_connection_error": counts.get("last_error"),
        "baseline_rss_bytes": _rss(cps, "Baseline"),
        "rss_after_server_start_bytes": started,
        "rss_with_connections_bytes": with_all,
        "client_bytes": taken,
        "per_connection_bytes": fit["slope"] if fit and not unexplained(fit, "connections") else None,
        "per_connection_fit": fit,
        "fit_reason": unexplained(fit, "connections") if fit else "too few checkpoints for a fit",
        # With --rounds, the memory taken is round 1's: divide by the connections round 1 created.
        "per_connection_end_minus_start_bytes": _ratio(taken, counts.get("first_round_created") or created),
        "rss_after_cleanup_bytes": after_cleanup,
        "cleanup_returned_bytes": returned,
        "cleanup_percent": (100.0 * returned / taken_last) if returned is not None and taken_last and taken_last > 0
        else None,
        "rss_growth_per_round_bytes": growth_per_round,
    }


def messages_figures(cps: list[Checkpoint], counts: dict[str, Any]) -> dict[str, Any]:
    echoed = counts.get("echoed")
    size = counts.get("message_size")
    elapsed = counts.get("elapsed_s")
    moved = echoed * size if echoed is not None and size is not None else None
    before = _rss(cps, "After connecting clients")
    after = _rss(cps, "After processing")
    return {
        "messages_requested": counts.get("requested"),
        "messages_echoed": echoed,
        "messages_mismatched": counts.get("mismatched"),
        "broken_connections": counts.get("broken_connections"),
        "clients": counts.get("clients"),
        "message_size_bytes": size,
        "bytes_echoed": moved,
        "elapsed_s": elapsed,
        "messages_per_s": _ratio(echoed, elapsed),
        "mb_per_s": _ratio(moved / MIB if moved is not None else None, elapsed),
        "rss_before_sending_bytes": before,
        "rss_after_processing_bytes": after,
        "memory_growth_bytes": _minus(after, before),
        "rss_after_cleanup_bytes": _rss(cps, "After cleanup"),
    }


def stability_figures(cps: list[Checkpoint], counts: dict[str, Any], t: np.ndarray, rss: np.ndarray) -> dict[str, Any]:
    started = _rss(cps, "After server start")
    ended = _rss(cps, "After stability run")
    if ended is None:
        cycles = [cp for cp in cps if cp["label"].endswith(" cycles")]
        ended = int(cycles[-1]["rss_bytes"]) if cycles else None
    peak = max((int(cp["rss_bytes"]) for cp in cps), default=None)
    if cps and t.size:
        inside = (t >= cps[0]["t_s"]) & (t <= cps[-1]["t_s"])
        if inside.any():
            peak = max(peak or 0, int(rss[inside].max()))
    return {
        "duration_s": counts.get("duration_s"),
        "cycles": counts.get("cycles"),
        "cycles_ok": counts.get("cycles_ok"),
        "cycles_failed": counts.get("cycles_failed"),
        "rss_at_start_bytes": started,
        "rss_at_end_bytes": ended,
        "peak_rss_bytes": peak,
        "drift_bytes": _minus(ended, started),
    }


def summary_leak_verdict(figures: dict[str, Any]) -> dict[str, Any]:
    """The run's verdict: the scenarios' verdicts combined (null when no scenario could give one)."""
    names = [n for n, f in figures.items() if f.get("leak_verdict")]
    return {
        "verdict": combine_verdicts([figures[n]["leak_verdict"]["verdict"] for n in names]),
        "scenarios": names,
        "rule": LEAK_RULE,
    }


def summary_figures(cps: list[Checkpoint], t: np.ndarray, rss: np.ndarray) -> dict[str, Any]:
    baseline = int(cps[0]["rss_bytes"]) if cps else None
    final = int(cps[-1]["rss_bytes"]) if cps else None
    peaks = [int(cp["rss_bytes"]) for cp in cps] + ([int(rss.max())] if rss.size else [])
    return {
        "baseline_rss_bytes": baseline,
        "peak_rss_bytes": max(peaks) if peaks else None,
        "final_rss_bytes": final,
        "delta_bytes": _minus(final, baseline),
        "duration_s": float(t[-1]) if t.size else None,
        "baseline_rule": baseline_rule(baseline, final),
    }


def lag_figures(lag_s: np.ndarray) -> dict[str, Any]:
    """Median, 99th percentile and worst event-loop lag of the loop that ran the workload's server."""
    if not lag_s.size:
        return {"loop_lag_p50_s": None, "loop_lag_p99_s": None, "loop_lag_max_s": None}
    p50, p99 = np.percentile(lag_s, [50, 99])
    return {"loop_lag_p50_s": float(p50), "loop_lag_p99_s": float(p99), "loop_lag_max_s": float(lag_s.max())}


def cpu_percent(cpu_s: float | None, t: np.ndarray) -> float | None:
    """CPU time as a percentage of one core over the sampled span (the sampler's own cost)."""
    if cpu_s is None or t.size < 2 or t[-1] <= t[0]:
        return None
    return 100.0 * cpu_s / float(t[-1] - t[0])


def nothing_succeeded(name: str, figures: dict[str, Any]) -> str | None:
    """Why a scenario that ran measured nothing of what it is for (no connection made, no message echoed, no cycle
    that succeeded), or None. Memory read around failures says nothing of the server: such a run fails."""
    if name == "connections" and figures.get("connections_requested") and figures.get("connections_created") == 0:
        error = figures.get("last_connection_error")
        return (f"connections: 0 of {figures['connections_requested']} connections were made"
                + (f" (last error: {error})" if error else ""))
    if name == "messages" and figures.get("messages_requested") and figures.get("messages_echoed") == 0:
        return f"messages: none of {figures['messages_requested']} messages came back"
    if name == "stability" and figures.get("cycles") and figures.get("cycles_ok") == 0:
        return f"stability: none of {figures['cycles']} cycles succeeded"
    return None


def _unless_nothing_succeeded(verdict: dict[str, Any] | None, name: str, figures: dict[str, Any]
                              ) -> dict[str, Any] | None:
    """The leak verdict, or INCONCLUSIVE when no connection or cycle succeeded (the fit would be of failures)."""
    why = nothing_succeeded(name, figures)
    if verdict is None or why is None:
        return verdict
    return {**verdict, "verdict": "INCONCLUSIVE", "rss": {**verdict["rss"], "verdict": "INCONCLUSIVE",
                                                          "reason": f"{why}: nothing to judge"}}


def analyse(
    scenarios: Sequence[str],
    checkpoints: list[Checkpoint],
    results: dict[str, dict[str, Any]],
    t: np.ndarray,
    rss: np.ndarray,
    verdicts: dict[str, dict[str, Any] | None] | None = None,
    observations: dict[str, list[Any]] | None = None,
) -> dict[str, Any]:
    """Every figure of a run: {"scenarios": {name: figures}, "summary": figures}, for the scenarios that began.

    `verdicts` holds the leak verdict of each scenario with repeated cycles (`scenario_leak_verdict`), fitted
    by the caller, which knows when its series has grown enough to be worth fitting again.
    """
    verdicts = verdicts or {}
    figures: dict[str, Any] = {}
    for name in scenarios:
        cps = [cp for cp in checkpoints if cp["scenario"] == name]
        if not cps and name not in results:
            continue
        counts = results.get(name, {})
        if name == "connections":
            figures[name] = connections_figures(cps, counts)
            figures[name]["leak_verdict"] = _unless_nothing_succeeded(verdicts.get(name), name, figures[name])
        elif name == "messages":
            figures[name] = messages_figures(cps, counts)
        elif name == "observe":
            figures[name] = observe_figures(cps, counts, observations)
        else:
            figures[name] = stability_figures(cps, counts, t, rss)
            figures[name]["leak_verdict"] = _unless_nothing_succeeded(verdicts.get(name), name, figures[name])
    summary = summary_figures(checkpoints, t, rss)
    summary["leak_verdict"] = summary_leak_verdict(figures)
    return {"scenarios": figures, "summary": summary}
