"""Figures under a changing load: fits on the ramps, what the falling phases kept, and the load as a term
of the leak verdict (docs/leak-verdict.md, "Under a changing load")."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import phases as phasing

# A slope is a figure only when it explains at least this share of the memory's variance (r²). Measured ramps
# (netmem's connections scenario, redis observed while clients connect) gave r² of 0.93 or more; memory that did
# not follow the load (redis keeping what its clients used after they left, fitted over rise and release) gave
# 0.002 (docs/leak-verdict.md, "Under a changing load").
MIN_R_SQUARED = 0.5
# Load and cycles that move together this closely can't be told apart: the verdict is "not judged".
MAX_COLLINEARITY = 0.9
EDGE_POINTS = 3  # memory at a phase's edge: the median of this many readings on the plateau side


def unexplained(fit: dict[str, Any] | None, what: str) -> str | None:
    """Why a fit is no figure (memory did not follow `what`), or None when it is one."""
    if fit is not None and fit["r_squared"] < MIN_R_SQUARED:
        return f"memory did not follow {what}: r² {fit['r_squared']:.3f}"
    return None


def ramps(split: list[phasing.Phase]) -> list[tuple[int, int]]:
    """(first, last) of each ramp: from a rising phase to the last rising phase before the load falls, with the
    pauses between (a staircase of Locust's user counts is one ramp: each step's level is what the fit needs)."""
    out: list[tuple[int, int]] = []
    start = end = None
    for p in split:
        if p["kind"] == "rising":
            start = p["first"] if start is None else start
            end = p["last"]
        elif p["kind"] == "falling" and start is not None and end is not None:
            out.append((start, end))
            start = end = None
    if start is not None and end is not None:
        out.append((start, end))
    return out


def ramp_fit(load: np.ndarray, memory: np.ndarray, split: list[phasing.Phase]) -> dict[str, Any] | None:
    """Memory against load over the ramps, one intercept per ramp (memory a server kept from an earlier ramp shifts
    the next one up without changing its slope); None without a ramp of 3+ readings."""
    xs, ys = [], []
    intercept = None
    for first, last in ramps(split):
        if last - first + 1 < 3:
            continue
        x = load[first:last + 1].astype(np.float64)
        y = memory[first:last + 1].astype(np.float64)
        xs.append(x - x.mean())
        ys.append(y - y.mean())
        if intercept is None:
            intercept = (float(x.mean()), float(y.mean()))
    if not xs:
        return None
    x, y = np.concatenate(xs), np.concatenate(ys)
    spread = float(np.sum(x * x))
    if spread == 0 or intercept is None:
        return None
    slope = float(np.sum(x * y) / spread)
    total = float(np.sum(y * y))
    r_squared = 1.0 - float(np.sum((y - slope * x) ** 2)) / total if total > 0 else 1.0
    return {"slope": slope, "intercept": intercept[1] - slope * intercept[0], "r_squared": r_squared,
            "points": int(x.size), "ramps": len(xs)}


def _edge(memory: np.ndarray, index: int, side: int) -> float:
    """The memory at a phase's edge: the median of EDGE_POINTS readings from `index` towards `side` (-1, +1)."""
    lo, hi = (max(0, index - EDGE_POINTS + 1), index + 1) if side < 0 else (index, index + EDGE_POINTS)
    return float(np.median(memory[lo:hi]))


def releases(t: np.ndarray, load: np.ndarray, memory: np.ndarray, split: list[phasing.Phase]) -> list[dict[str, Any]]:
    """Each falling phase: the load released, the memory given back, and what it kept: memory after the fall less
    memory the last time the load was that low before it (None when it never was).

    "After the fall" is the end of the plateau that follows it, where there is one: servers give memory back for a
    while after their clients leave (redis-server here: 1.7 MB at the end of a fall of 1,500 clients, 9.5 MB over
    the next seconds).
    """
    smooth = phasing.smoothed(load)
    out = []
    for k, p in enumerate(split):
        if p["kind"] != "falling":
            continue
        first, last = p["first"], p["last"]
        released = p["load_from"] - p["load_to"]
        before = _edge(memory, first, -1)
        settled = split[k + 1]["last"] if k + 1 < len(split) and split[k + 1]["kind"] == "plateau" else None
        after = _edge(memory, settled, -1) if settled is not None else _edge(memory, last, +1)
        earlier = np.flatnonzero(smooth[:first] <= p["load_to"] + phasing.TOLERANCE_SHARE * released)
        kept = after - _edge(memory, int(earlier[-1]), -1) if earlier.size else None
        out.append({
            "from_s": float(t[first]), "to_s": float(t[last]),
            "released": round(released),
            "returned_bytes": int(before - after),
            "kept_bytes": None if kept is None else int(kept),
            "kept_per_released_bytes": None if kept is None or released <= 0 else kept / released,
            "level_after_bytes": int(after),
        })
    return out


def phase_rows(t: np.ndarray, load: np.ndarray, memory: np.ndarray, split: list[phasing.Phase], unit: str
               ) -> list[dict[str, Any]]:
    """The phases as the record keeps them: kind, span, load and memory at each end."""
    return [{
        "kind": p["kind"], "from_s": float(t[p["first"]]), "to_s": float(t[p["last"]]),
        f"{unit}_from": round(p["load_from"]), f"{unit}_to": round(p["load_to"]),
        "memory_from_bytes": int(memory[p["first"]]), "memory_to_bytes": int(memory[p["last"]]),
    } for p in split]


def _explained_share(target: np.ndarray, columns: list[np.ndarray]) -> float:
    """r² of a least-squares fit of `target` on `columns` (and a constant): how much of it they account for."""
    if target.size < 3 or np.ptp(target) == 0:
        return 0.0
    design = np.column_stack([np.ones_like(target), *columns])
    coef, *_ = np.linalg.lstsq(design, target, rcond=None)
    residual = target - design @ coef
    return float(1.0 - np.sum(residual**2) / np.sum((target - target.mean()) ** 2))


def not_judged(verdict: dict[str, Any] | None) -> bool:
    """Whether a scenario's leak verdict was not judged: its RSS fit could not tell growth per cycle from the load's
    share (verdict_with_load)."""
    term = ((verdict or {}).get("rss") or {}).get("load_term")
    return bool(term and term["terms"] and term["terms"][0]["bytes_per_unit"] is None)


LeakFit = Callable[[Sequence[float], Sequence[float]], dict[str, Any]]
Held = dict[str, np.ndarray]  # unit ("connection", "user", "request") -> the load at each cycle (cumulative requests)


def verdict_with_load(cycles: np.ndarray, values: np.ndarray, held: Held, fit: LeakFit, warmup_fraction: float
                      ) -> dict[str, Any] | None:
    """The leak verdict with the load others put on the server as terms: memory ~ a + b*load + d*requests + c*cycle.

    The terms are the connections (or users) others held, where they rose or fell while the cycles were fitted, and
    the requests others had served, where there were any. Their coefficients come from a least-squares fit of every
    term over the steady-state cycles; their share is taken out, and `fit` (analysis.leak_verdict, the same rule as
    without load) judges what is left against the cycles. None when no term changed (the plain verdict holds).
    When the cycles move with the terms (others' requests and netmem's cycles both steady in time), growth per cycle
    can't be told from memory per request: the verdict is INCONCLUSIVE, "not judged", and the load's own verdict
    (per request, at steady load) is the one that judges.
    """
    warmup = int(cycles.size * warmup_fraction)
    x, y = cycles[warmup:].astype(np.float64), values[warmup:].astype(np.float64)
    changed = {}
    for unit, column in held.items():
        z = column[warmup:].astype(np.float64)
        if z.size >= 3 and (np.ptp(z) > 0 if unit == "request" else phasing.changed(z)):
            changed[unit] = z
    if x.size < 3 or not changed:
        return None
    overlap = _explained_share(x, list(changed.values()))
    term: dict[str, Any] = {"collinearity_r_squared": overlap, "terms": [
        {"unit": unit, "bytes_per_unit": None, "load_min": float(z.min()), "load_max": float(z.max())}
        for unit, z in changed.items()]}
    if overlap > MAX_COLLINEARITY:
        out = fit(cycles, values)
        what = " and ".join(f"{u}s" for u in changed)
        out.update(verdict="INCONCLUSIVE", load_term=term,
                   reason=(f"not judged: the load changed with the cycles (others' {what} and netmem's cycles moved"
                           f" together, r² {overlap:.2f}), so growth per cycle can't be told from the load's share"))
        return out
    design = np.column_stack([np.ones_like(x), *changed.values(), x])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    adjusted = values.astype(np.float64).copy()
    for k, (unit, _) in enumerate(changed.items()):
        term["terms"][k]["bytes_per_unit"] = float(coef[1 + k])
        adjusted -= coef[1 + k] * held[unit].astype(np.float64)
    out = fit(cycles, adjusted)
    out["load_term"] = term
    if out["reason"]:
        out["reason"] += ", with the load's share (" + ", ".join(
            f"{t['bytes_per_unit']:,.0f} B per {t['unit']}" for t in term["terms"]) + ") taken out"
    return out


def _checkpoint_rss(cps: list[dict[str, Any]], label: str) -> int | None:
    return next((int(cp["rss_bytes"]) for cp in cps if cp["label"] == label), None)


def observe_figures(cps: list[dict[str, Any]], counts: dict[str, Any], observations: dict[str, list[Any]] | None
                    ) -> dict[str, Any]:
    """Per-connection overhead from (established connections, memory) readings taken while someone else loads the
    target: the load is split into phases (phases.py), memory is fitted against connections over the rising ones,
    and each falling one says what it gave back and what it kept."""
    obs = observations or {"t_s": [], "connections": [], "memory_bytes": []}
    conns = np.asarray(obs["connections"], dtype=np.float64)
    memory = np.asarray(obs["memory_bytes"], dtype=np.float64)
    t = np.asarray(obs.get("t_s") or np.arange(conns.size), dtype=np.float64)
    split = phasing.split(conns) if conns.size else []
    fit = ramp_fit(conns, memory, split) if conns.size else None
    if not conns.size:
        reason = "no readings"
    elif fit is None and np.unique(conns).size < 2:
        reason = f"the connection count never changed ({int(conns[0])} throughout): nothing to fit"
    elif fit is None:
        reason = "connections never rose: memory per connection is fitted where they do"
    else:
        reason = unexplained(fit, "connections")
    released = releases(t, conns, memory, split)
    kept = [r for r in released if r["kept_bytes"] is not None and r["released"] > 0]
    return {
        "duration_s": counts.get("duration_s"),
        "readings": int(conns.size),
        "stopped_by_user": counts.get("stopped_by_user"),
        "connections_min": int(conns.min()) if conns.size else None,
        "connections_max": int(conns.max()) if conns.size else None,
        "memory_min_bytes": int(memory.min()) if memory.size else None,
        "memory_max_bytes": int(memory.max()) if memory.size else None,
        "rss_at_start_bytes": _checkpoint_rss(cps, "Start of observation"),
        "rss_at_end_bytes": _checkpoint_rss(cps, "End of observation"),
        "per_connection_bytes": fit["slope"] if fit is not None and reason is None else None,
        "per_connection_fit": fit,
        "fit_reason": reason,
        "phases": phase_rows(t, conns, memory, split, "connections"),
        "releases": released,
        "kept_per_released_connection_bytes": (sum(r["kept_bytes"] for r in kept) / sum(r["released"] for r in kept)
                                               if kept else None),
        # Memory left after each release, from the first to the last: what a new ramp could not reuse.
        "growth_per_release_bytes": ((released[-1]["level_after_bytes"] - released[0]["level_after_bytes"])
                                     / (len(released) - 1) if len(released) >= 2 else None),
    }
