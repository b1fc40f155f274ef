"""Phases of a load: a series of connection (or user) counts split into rising, plateau and falling stretches.

The split is scale-free, so that 20 users and 20,000 connections are cut alike (docs/leak-verdict.md, "Under a
changing load"): the counts are smoothed with a running median (readings of /proc/net/tcp jitter by a few
connections), a change counts only when it exceeds TOLERANCE_SHARE of the whole range and the readings' jitter,
and a pause inside a ramp is a plateau of its own only when it lasts PAUSE_SHARE of that ramp's readings (a slow,
steady ramp is one ramp).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

SMOOTHING_POINTS = 5
TOLERANCE_SHARE = 0.1
MIN_TOLERANCE = 1.0
NOISE_SIGMAS = 3.0
PAUSE_SHARE = 0.2
MIN_PHASE_POINTS = 3

Phase = dict[str, Any]  # kind ("rising", "plateau", "falling"), first and last index (inclusive), load_from, load_to


def smoothed(load: Sequence[float]) -> np.ndarray:
    """A running median over SMOOTHING_POINTS readings (fewer at the ends)."""
    x = np.asarray(load, dtype=np.float64)
    half = SMOOTHING_POINTS // 2
    if x.size <= 2:
        return x.copy()
    padded = np.concatenate((np.full(half, x[0]), x, np.full(half, x[-1])))
    windows = np.lib.stride_tricks.sliding_window_view(padded, SMOOTHING_POINTS)
    return np.median(windows, axis=1)


def tolerance(raw: np.ndarray, values: np.ndarray) -> float:
    """The smallest change of the load that is a change, not noise: TOLERANCE_SHARE of the smoothed range, and at
    least NOISE_SIGMAS times the readings' own jitter (a robust sigma from their successive differences)."""
    spread = float(values.max() - values.min()) if values.size else 0.0
    steps = np.diff(raw)
    jitter = 1.4826 * float(np.median(np.abs(steps - np.median(steps)))) / np.sqrt(2) if steps.size else 0.0
    return max(MIN_TOLERANCE, TOLERANCE_SHARE * spread, NOISE_SIGMAS * jitter)


def _turning_points(x: np.ndarray, tol: float) -> list[int]:
    """Indices of the extremes where the series reverses by more than `tol` (a zigzag), first and last included."""
    points = [0]
    direction = 0
    hi = lo = extreme = 0
    for i in range(1, x.size):
        if direction == 0:
            hi = i if x[i] > x[hi] else hi
            lo = i if x[i] < x[lo] else lo
            if x[hi] - x[lo] > tol:
                turn, extreme, direction = (lo, hi, 1) if hi > lo else (hi, lo, -1)
                if turn:
                    points.append(turn)
        elif direction * (x[i] - x[extreme]) > 0:
            extreme = i
        elif direction * (x[extreme] - x[i]) > tol:
            points.append(extreme)
            direction, extreme = -direction, i
    if direction and extreme != points[-1]:
        points.append(extreme)
    if points[-1] != x.size - 1:
        points.append(x.size - 1)
    return points


def _leg(x: np.ndarray, first: int, last: int, tol: float) -> list[tuple[str, int, int]]:
    """One leg between two turning points: the plateau it leaves, its moving part (split at long pauses) and the
    plateau it reaches, as (kind, first, last)."""
    start, end = x[first], x[last]
    if abs(end - start) <= tol:
        return [("plateau", first, last)]
    kind = "rising" if end > start else "falling"
    band = tol / 2
    # The moving part runs from the last reading still at the starting level to the first at the level reached.
    leave = first
    while leave + 1 < last and abs(x[leave + 1] - start) <= band:
        leave += 1
    reach = last
    while reach - 1 > leave and abs(x[reach - 1] - end) <= band:
        reach -= 1
    out: list[tuple[str, int, int]] = []
    if leave > first:
        out.append(("plateau", first, leave))
    out += _split_pauses(x, kind, leave, reach, band)
    if reach < last:
        out.append(("plateau", reach, last))
    return out


def _split_pauses(x: np.ndarray, kind: str, first: int, last: int, band: float) -> list[tuple[str, int, int]]:
    """A moving part with its long pauses (within `band` for PAUSE_SHARE of its readings) made plateaus."""
    longest = max(MIN_PHASE_POINTS, int(PAUSE_SHARE * (last - first + 1)))
    out: list[tuple[str, int, int]] = []
    moving_from = first
    i = first
    while i < last:
        j = i
        while j + 1 <= last and abs(x[j + 1] - x[i]) <= band:
            j += 1
        if j - i + 1 >= longest and i > first and j < last:
            out.append((kind, moving_from, i))
            out.append(("plateau", i, j))
            moving_from = j
            i = j
        else:
            i = max(i + 1, j)  # not i + 1: rescanning each too-short stretch was quadratic (7 s on 30,000 readings)
    out.append((kind, moving_from, last))
    return out


def split(load: Sequence[float]) -> list[Phase]:
    """The phases of a load series, in order; adjacent stretches share their boundary reading."""
    raw = np.asarray(load, dtype=np.float64)
    if raw.size == 0:
        return []
    x = smoothed(raw)
    tol = tolerance(raw, x)
    points = _turning_points(x, tol)
    pieces: list[tuple[str, int, int]] = []
    for a, b in itertools.pairwise(points):
        pieces += _leg(x, a, b, tol)
    if not pieces:
        pieces = [("plateau", 0, raw.size - 1)]
    merged: list[list[Any]] = []
    for kind, first, last in pieces:
        if merged and merged[-1][0] == kind:
            merged[-1][2] = last
        else:
            merged.append([kind, first, last])
    return [{"kind": kind, "first": first, "last": last, "load_from": float(x[first]), "load_to": float(x[last])}
            for kind, first, last in merged]


def changed(load: Sequence[float]) -> bool:
    """Whether the load rose or fell at all (any phase that is not a plateau)."""
    return any(p["kind"] != "plateau" for p in split(load))
