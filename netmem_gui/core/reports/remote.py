"""A server read through Prometheus, in words: the source, its queries, how often it could be read, its gaps."""

from __future__ import annotations

from typing import Any


def target_lines(target: dict[str, Any], config: dict[str, Any]) -> list[str]:
    """The text report's lines for a --prometheus target (the record's target.prometheus)."""
    p = target["prometheus"]
    low, high = p.get("series_min"), p.get("series_max")
    series = f"{low}" if low == high else f"{low} to {high}"
    out = [f"Target: Prometheus at {p['url']}; memory is the sum of {series} series of: {p['memory_query']}"]
    if p.get("connections_query"):
        out.append(f"Connections: the sum of: {p['connections_query']}")
    else:
        out.append("Connections: not read (no --connections-query); the count shown is 0 throughout")
    scrape, every, asked = p.get("scrape_interval_s"), p.get("reading_every_s"), config.get("interval_ms", 0) / 1000
    if scrape is None:
        out.append(f"Readings every {every:g} s (Prometheus's scrape interval for these series is unknown: a"
                   " reading may repeat a scrape)")
    elif every > asked:
        out.append(f"Readings every {every:g} s: Prometheus scrapes these series every {scrape:g} s, so reading"
                   f" every {asked * 1000:g} ms (--interval) would read the same scrape again; each reading may be"
                   f" up to {scrape:g} s old")
    else:
        out.append(f"Readings every {every:g} s (--interval); Prometheus scrapes every {scrape:g} s, so each may be"
                   f" up to {scrape:g} s old")
    gaps = p.get("gaps") or []
    if gaps:
        spans = sum((g["to_s"] if g.get("to_s") is not None else g["from_s"]) - g["from_s"] for g in gaps)
        filled = sum(g.get("filled") or 0 for g in gaps)
        out.append(f"Gaps: {len(gaps)} ({spans:.1f} s in all; {filled} reading(s) filled in from query_range);"
                   f" first: {gaps[0].get('reason')}")
    return out


def source_text(memory_bytes: float, series: int, connections: float | None, connection_series: int | None,
                scrape_interval_s: float | None) -> str:
    """What a Prometheus source reads now, in one line (the app's Test button): value, series summed, scrape."""
    out = f"memory {memory_bytes / 1024**2:,.2f} MB, the sum of {series} series"
    if connections is not None:
        out += f"; connections {connections:,.0f} ({connection_series} series)"
    if scrape_interval_s is not None:
        out += f"; scraped every {scrape_interval_s:g} s"
    return out
