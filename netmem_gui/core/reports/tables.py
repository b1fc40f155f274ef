"""Plain-text and Markdown tables and the value formats shared by `netmem compare` and `netmem check`."""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from pathlib import PurePath
from typing import Any

from ..text import shown

KIB = 1024
MIB = 1024 * 1024


def size(value: float | None, signed: bool = False) -> str:
    """Bytes as the report writes them (KB = 1024 bytes, MB = 1024 KB): MB from 1 MB up, KB from 10 KB up, else
    whole bytes (a per-connection overhead of 1,229 B and a change of +96 B are both worth reading)."""
    if value is None:
        return "n/a"
    if abs(value) < 0.5:
        return "0 B"  # a float slope that moved by a fraction of a byte: no "-0 B"
    sign = "+" if signed and value > 0 else ""
    if abs(value) >= MIB:
        return f"{sign}{value / MIB:.2f} MB"
    if abs(value) >= 10 * KIB:
        return f"{sign}{value / KIB:.1f} KB"
    return f"{sign}{value:,.0f} B"


def number(value: float | None, digits: int = 0, signed: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{value:+,.{digits}f}" if signed else f"{value:,.{digits}f}"


def percent(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "n/a"
    if abs(value) < 0.05:
        value = 0.0  # no "-0.0 %"
    return f"{value:+.1f} %" if signed else f"{value:.1f} %"


def _align(header: Sequence[str], align: str | None) -> str:
    """One letter per column, l or r; by default the first column left, the others (figures) right."""
    return align or "l" + "r" * (len(header) - 1)


def text_table(header: Sequence[str], rows: Sequence[Sequence[str]], align: str | None = None) -> list[str]:
    """Columns padded to their widest cell, aligned as `align` says (see _align); control characters escaped."""
    header = [shown(h) for h in header]
    rows = [[shown(c) for c in r] for r in rows]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    how = _align(header, align)

    def line(cells: Sequence[str]) -> str:
        out = [str(c).ljust(w) if how[i] == "l" else str(c).rjust(w)
               for i, (c, w) in enumerate(zip(cells, widths, strict=True))]
        return "  ".join(out).rstrip()

    return [line(header), *(line(r) for r in rows)]


def md_escape(text: str) -> str:
    return shown(text).replace("|", "\\|")


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]], align: str | None = None) -> list[str]:
    """A GitHub-flavoured Markdown table, aligned as `align` says (see _align)."""
    marks = [":--" if a == "l" else "--:" for a in _align(header, align)]
    out = ["| " + " | ".join(md_escape(str(h)) for h in header) + " |", "|" + "|".join(marks) + "|"]
    out += ["| " + " | ".join(md_escape(str(c)) for c in r) + " |" for r in rows]
    return out


def target_text(config: Mapping[str, Any], target: Mapping[str, Any] | None = None) -> str:
    """What a run measured, in a few words, for lists and legends: 'echo server', 'your server chat:handle',
    'redis-server attached', 'redis-server spawned'. From the record's `config` and, when known, its `target`
    (which names the process); a run still starting is named from its config alone ('pid 4242 attached')."""
    target = target or {}
    kind = target.get("kind")
    if kind is None:
        kind = ("attach" if config.get("attach_pid") is not None else "spawn" if config.get("spawn") is not None
                else "server" if config.get("server") else "builtin")
        kind = "prometheus" if config.get("prometheus_url") else kind
    if kind == "builtin":
        return "echo server"
    if kind == "server":
        module, attr = target.get("module"), target.get("attr")
        return f"your server {shown(f'{module}:{attr}' if module and attr else config.get('server'))}"
    name = target.get("name")
    if kind == "prometheus":
        return shown(name or f"Prometheus at {config.get('prometheus_url')}")
    if kind == "attach":
        return f"{shown(name or 'pid ' + str(config.get('attach_pid')))} attached"
    if not name:
        try:
            words = shlex.split(str(config.get("spawn") or ""))
        except ValueError:
            words = str(config.get("spawn") or "").split()
        name = PurePath(words[0]).name if words else "command"
    return f"{shown(name)} spawned"
