"""What a record measured, in words: the target's name and kind, to set runs side by side."""

from __future__ import annotations

from typing import Any

from ..config import EXTERNAL_KINDS

KIND_WORDS = {"attach": "attached", "spawn": "started by netmem", "prometheus": "read through Prometheus"}


def target_name(rec: dict[str, Any]) -> str | None:
    """The user's server a run measured, in a few words ("redis-server (pid 4242)"); None for netmem's own."""
    t = rec.get("target")
    if not t or t.get("kind") not in EXTERNAL_KINDS:
        return None
    if t.get("kind") == "prometheus":
        return str(t.get("name") or "Prometheus")
    return f"{t.get('name') or 'process'} (pid {t.get('pid')})"


def target_text(rec: dict[str, Any]) -> str:
    """What a run measured, in words, to set runs side by side ("redis-server, attached, protocol redis, RSS")."""
    name = target_name(rec)
    t = rec.get("target") or {}
    if t.get("kind") == "server":
        return f"your server {t.get('module')}:{t.get('attr')}, in netmem's server process"
    if name is None:
        return "netmem's built-in echo server"
    if t.get("kind") == "prometheus":
        return f"{name}: {(t.get('prometheus') or {}).get('memory_query')}"
    tree = " with its children" if t.get("include_children") else ""
    return (f"{t.get('name') or 'process'}{tree}, {KIND_WORDS.get(t['kind'], t['kind'])}, protocol"
            f" {t.get('protocol')}, {str(t.get('memory', 'rss')).upper()}")


def same_target(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two runs measured the same kind of server the same way (a PID may differ between runs)."""
    return target_text(a) == target_text(b)
