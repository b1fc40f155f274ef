"""Analysis: the figures of each scenario and of the whole run, computed from checkpoints, samples and counts."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

MIB = 1024 * 1024
SEED_LEAK_THRESHOLD_BYTES = MIB
SEED_LEAK_RULE = "final RSS > baseline RSS + 1 MiB"

Checkpoint = dict[str, Any]
_AFTER_N_CONNECTIONS = re.compile(r"^After \d+ connections$")


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


def seed_leak_rule(baseline: int | None, final: int | None) -> dict[str, Any]:
    """The seed demo's leak indicator, kept as it was so that runs can be set beside it."""
    verdict = None
    if baseline is not None and final is not None:
        verdict = "POSSIBLE LEAK" if final > baseline + SEED_LEAK_THRESHOLD_BYTES else "OK"
    return {"rule": SEED_LEAK_RULE, "threshold_bytes": SEED_LEAK_THRESHOLD_BYTES, "verdict": verdict}


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
    held = [cp for cp in cps if _AFTER_N_CONNECTIONS.match(cp["label"])]
    with_all = int(held[-1]["rss_bytes"]) if held else None
    fit_points = [cp for cp in cps if cp["label"] == "After server start"] + held
    fit = fit_line([cp["connections"] for cp in fit_points], [cp["rss_bytes"] for cp in fit_points])
    after_cleanup = _rss(cps, "After server stop")
    if after_cleanup is None:
        after_cleanup = _rss(cps, "After closing clients")
    taken = _minus(with_all, started)
    returned = _minus(with_all, after_cleanup)
    created = counts.get("created")
    return {
        "connections_requested": counts.get("requested"),
        "connections_created": created,
        "connections_failed": counts.get("failed"),
        "last_connection_error": counts.get("last_error"),
        "baseline_rss_bytes": _rss(cps, "Baseline"),
        "rss_after_server_start_bytes": started,
        "rss_with_connections_bytes": with_all,
        "client_bytes": taken,
        "per_connection_bytes": fit["slope"] if fit else None,
        "per_connection_fit": fit,
        "per_connection_end_minus_start_bytes": _ratio(taken, created),
        "rss_after_cleanup_bytes": after_cleanup,
        "cleanup_returned_bytes": returned,
        "cleanup_percent": (100.0 * returned / taken) if returned is not None and taken and taken > 0 else None,
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
        "iterations": counts.get("iterations"),
        "cycles_ok": counts.get("cycles_ok"),
        "cycles_failed": counts.get("cycles_failed"),
        "rss_at_start_bytes": started,
        "rss_at_end_bytes": ended,
        "peak_rss_bytes": peak,
        "drift_bytes": _minus(ended, started),
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
        "seed_leak_rule": seed_leak_rule(baseline, final),
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


def analyse(
    scenarios: Sequence[str],
    checkpoints: list[Checkpoint],
    results: dict[str, dict[str, Any]],
    t: np.ndarray,
    rss: np.ndarray,
) -> dict[str, Any]:
    """Every figure of a run: {"scenarios": {name: figures}, "summary": figures}, for the scenarios that began."""
    figures: dict[str, Any] = {}
    for name in scenarios:
        cps = [cp for cp in checkpoints if cp["scenario"] == name]
        if not cps and name not in results:
            continue
        counts = results.get(name, {})
        if name == "connections":
            figures[name] = connections_figures(cps, counts)
        elif name == "messages":
            figures[name] = messages_figures(cps, counts)
        else:
            figures[name] = stability_figures(cps, counts, t, rss)
    return {"scenarios": figures, "summary": summary_figures(checkpoints, t, rss)}
