"""The leak verdict of a record: the newer `summary.verdict` when the record has one, else the seed's rule."""

from __future__ import annotations

from typing import Any

OK = "OK"
POSSIBLE_LEAK = "POSSIBLE LEAK"

# Where a better verdict may sit in `summary` (it is being added beside the seed's rule); first found wins.
_NEWER_KEYS = ("verdict", "leak_verdict", "leak")


def leak_verdict(rec: dict[str, Any]) -> tuple[str | None, str]:
    """(verdict, source): the verdict text (None when not measured) and the summary key it came from."""
    summary = rec.get("summary") or {}
    for key in _NEWER_KEYS:
        value = summary.get(key)
        if isinstance(value, dict):
            value = value.get("verdict")
        if isinstance(value, str) and value:
            return value, key
    return (summary.get("seed_leak_rule") or {}).get("verdict"), "seed_leak_rule"


def names_a_leak(verdict: str | None) -> bool:
    """True for POSSIBLE LEAK and any other verdict that names a leak (LEAK, LIKELY LEAK; not NO LEAK)."""
    if verdict is None:
        return False
    words = verdict.upper().split()
    return "LEAK" in words and "NO" not in words
