"""Figures of a run watched under Locust's load: memory per user and per connection on the ramp, the plateaus,
and the leak verdict over the longest one."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import phases as phasing
from .analysis import CONFIDENCE, MIN_EFFECT_BYTES, RSS_WARMUP_BUDGET_BYTES, WARMUP_FRACTION, fit_line, leak_verdict
from .under_load import ramp_fit, unexplained

MIN_PLATEAU_POINTS = 2
# Locust's master caches /stats/requests for 2 s, so its state and user count can be that much behind: the last
# polls of a stretch, within this of the change that ends it, may already belong to what follows.
LOCUST_STALE_S = 2.0
LOAD_LEAK_RULE = (f"over the longest stretch at one user count, POSSIBLE LEAK when the lower bound of the"
                  f" {CONFIDENCE:.0%} confidence interval of the Theil-Sen slope of memory per request, after"
                  f" {WARMUP_FRACTION:.0%} warm-up, exceeds {MIN_EFFECT_BYTES} B; OK when the upper bound is below it")


def _fit_figure(x: np.ndarray, y: np.ndarray) -> dict[str, Any] | None:
    """Memory against load over the load's ramps (under_load.ramp_fit), or None when x does not take three
    distinct values there."""
    if np.unique(x).size < 3:
        return None
    return ramp_fit(x, y, phasing.split(x))


def load_figures(series: dict[str, Any]) -> dict[str, Any]:
    """Figures of a run watched under Locust's load, from its load series (see locust.LoadSeries).

    The ramp is every point up to the first that reached the most users: memory is fitted against users and
    against the process's established connections on its ramps (phases.py). A plateau is a stretch of
    `running` polls at one user count; the longest is the steady part, whose memory is fitted against requests
    served for the leak verdict.
    """
    t = np.asarray(series["t_s"], dtype=np.float64)
    users = np.asarray(series["users"], dtype=np.int64)
    rss = np.asarray(series["rss_bytes"], dtype=np.float64)
    requests = np.asarray(series["requests"], dtype=np.float64)
    conns = np.asarray([-1 if c is None else c for c in series["connections"]], dtype=np.int64)
    states = series["state"]
    out: dict[str, Any] = {
        "polls": int(t.size), "users_max": int(users.max()) if t.size else None,
        "rps_max": float(max(series["rps"])) if t.size else None,
        "requests": int(requests[-1]) if t.size else None,
        "failures": int(series["failures"][-1]) if t.size else None,
        "per_user_bytes": None, "per_user_fit": None, "per_user_reason": None,
        "per_connection_bytes": None, "per_connection_fit": None, "per_connection_reason": None,
        "plateaus": [], "steady": None,
    }
    if not t.size:
        return out
    end = int(np.argmax(users == users.max())) + 1
    per_user = _fit_figure(users[:end].astype(np.float64), rss[:end])
    if per_user is not None and users.max() > 0:
        out["per_user_fit"], out["per_user_reason"] = per_user, unexplained(per_user, "users")
        out["per_user_bytes"] = None if out["per_user_reason"] else per_user["slope"]
    counted = conns[:end] >= 0
    per_conn = _fit_figure(conns[:end][counted].astype(np.float64), rss[:end][counted])
    if per_conn is not None:
        out["per_connection_fit"], out["per_connection_reason"] = per_conn, unexplained(per_conn, "connections")
        out["per_connection_bytes"] = None if out["per_connection_reason"] else per_conn["slope"]
    plateaus: list[dict[str, Any]] = []
    start = 0
    for i in range(1, t.size + 1):
        if i < t.size and states[i] == states[start] and users[i] == users[start]:
            continue
        stop = i
        if i < t.size:  # a change ended the stretch: its last polls may be stale
            while stop > start and t[stop - 1] > t[i] - LOCUST_STALE_S:
                stop -= 1
        if states[start] == "running" and stop - start >= MIN_PLATEAU_POINTS:
            span = slice(start, stop)
            counted_here = conns[span][conns[span] >= 0]
            plateaus.append({
                "users": int(users[start]), "from_s": float(t[start]), "to_s": float(t[stop - 1]),
                "points": stop - start,
                "rss_bytes": int(np.median(rss[span])),
                "connections": int(np.median(counted_here)) if counted_here.size else None,
                "first": start, "last": stop - 1,
            })
        start = i
    if plateaus:
        longest = max(plateaus, key=lambda p: p["to_s"] - p["from_s"])
        span = slice(longest["first"], longest["last"] + 1)
        drift = fit_line(t[span], rss[span])
        served = requests[span]
        # leak_verdict spreads the warm-up budget over the points fitted, one cycle each; here a point is a poll
        # and the x axis counts requests, so the budget is spread over the requests served after warm-up instead.
        fitted = served[int(served.size * WARMUP_FRACTION):]
        per_point = fitted.size / max(1.0, float(fitted[-1] - fitted[0])) if fitted.size else 1.0
        verdict = leak_verdict(served, rss[span], warmup_budget=RSS_WARMUP_BUDGET_BYTES * per_point)
        out["steady"] = {
            "users": longest["users"], "from_s": longest["from_s"], "to_s": longest["to_s"],
            "drift_bytes": int(rss[span][-1] - rss[span][0]),
            "slope_bytes_per_s": drift["slope"] if drift else None,
            "leak_verdict": dict(verdict, rule=LOAD_LEAK_RULE, unit="request"),
        }
    for p in plateaus:
        del p["first"], p["last"]
    out["plateaus"] = plateaus
    return out
