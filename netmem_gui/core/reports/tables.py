"""Plain-text and Markdown tables and the value formats shared by `netmem compare` and `netmem check`."""

from __future__ import annotations

from collections.abc import Sequence

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
