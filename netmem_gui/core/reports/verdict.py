"""The leak verdict of a record: `summary.leak_verdict` when the record has one, else the baseline rule."""

from __future__ import annotations

from typing import Any

OK = "OK"
POSSIBLE_LEAK = "POSSIBLE LEAK"


def recorded_verdict(rec: dict[str, Any]) -> tuple[str | None, str]:
    """(verdict, source): the verdict (None when not measured) and the summary key it came from.

    Records made before the trend verdict existed carry only the baseline rule, so that is the fallback.
    """
    summary = rec.get("summary") or {}
    newer = summary.get("leak_verdict")
    if isinstance(newer, dict):
        return newer.get("verdict"), "leak_verdict"
    return (summary.get("baseline_rule") or {}).get("verdict"), "baseline_rule"


def names_a_leak(verdict: str | None) -> bool:
    return verdict == POSSIBLE_LEAK
