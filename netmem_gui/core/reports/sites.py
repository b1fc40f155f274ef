"""Allocation sites of a native server (heaptrack, LeakSanitizer): the frame to name, per-cycle figures, the leak.

Both tools say what was still allocated when the server exited, for the whole run. For a run with repeated cycles
(stability) netmem divides by the cycles: a site whose calls still allocated are at least GROWS_CALLS_PER_CYCLE per
cycle grows with the cycles (a fixed set of start-up allocations does not); the sites that grow, summed, are set
beside the RSS growth per cycle of the leak verdict: when they account for most of it they are the leak.
"""

from __future__ import annotations

import os
import re
from typing import Any

from .tables import size

GROWS_CALLS_PER_CYCLE = 0.5
MIN_CYCLES = 20  # fewer cycles than this: start-up allocations could pass for growth
EXPLAINS = (0.5, 1.5)  # growing sites' bytes per cycle over RSS growth per cycle: "this is the leak"
TOOL_WORDS = {"tracemalloc": "tracemalloc", "heaptrack": "heaptrack", "leaksanitizer": "LeakSanitizer"}

# The rule of the frame worth naming: the first frame (innermost first) that is not the allocator, the C or C++
# runtime, a sanitizer or heaptrack, or an event library; by its module, else by its function's name (inlined
# library code, such as std::make_shared or boost::asio templates, sits in the server's own binary).
_SKIP_MODULES = re.compile(r"^(libc|libstdc\+\+|libgcc_s|ld-linux|libm|libpthread|libasan|liblsan|libheaptrack"
                           r"|libjemalloc|libtcmalloc|libmimalloc|libevent|libuv|libev|libboost_|libglib)[.-]")
_SKIP_FUNCTIONS = re.compile(r"^(malloc|calloc|realloc|reallocarray|free|posix_memalign|aligned_alloc|memalign"
                             r"|valloc|pvalloc|strdup|strndup|operator new|operator delete|__interceptor_|__asan_"
                             r"|__lsan_|__libc_|__GI_|_IO_|__wrap_|std::|__gnu_cxx::|__cxxabiv1|__cxa_"
                             r"|boost::asio::|asio::|uv_|event_|ev_|g_malloc|g_slice)")


def worth_naming(frame: dict[str, Any]) -> bool:
    module = os.path.basename(frame.get("module") or "")
    function = frame.get("function") or ""
    if module and _SKIP_MODULES.match(module):
        return False
    return bool(function) and function != "??" and not _SKIP_FUNCTIONS.match(function)


def named_frame(stack: list[dict[str, Any]]) -> dict[str, Any]:
    """The first frame worth naming; the first frame when none is."""
    for frame in stack:
        if worth_naming(frame):
            return frame
    return stack[0] if stack else {"function": None, "file": None, "line": None, "module": None}


def key_scenario(scenarios: tuple[str, ...]) -> str:
    """The scenario a whole-run tool's sites are kept under: the one with cycles when the run has it."""
    return "stability" if "stability" in scenarios else scenarios[-1]


def native_block(tool: str, found: dict[str, Any], figures: dict[str, Any] | None) -> dict[str, Any]:
    """The record's allocations entry for heaptrack or LeakSanitizer sites. `found`: {"sites", "reason",
    "complete"}; `figures`: the scenario's figures (cycles, leak verdict), or None."""
    figures = figures or {}
    cycles = figures.get("cycles") if figures.get("cycles") else None
    verdict = (figures.get("leak_verdict") or {}).get("rss") or {}
    rss_slope = verdict.get("slope_bytes_per_cycle")
    per_cycle = cycles is not None and cycles >= MIN_CYCLES
    sites = []
    for raw in found.get("sites") or []:
        frame = named_frame(raw["stack"])
        calls = raw["count"] / cycles if per_cycle else None
        sites.append({
            "function": frame.get("function"), "file": frame.get("file"), "line": frame.get("line"),
            "module": frame.get("module"), "kind": raw.get("kind"),
            "size_bytes": raw["size_bytes"], "count": raw["count"],
            "size_diff_bytes": raw["size_bytes"], "count_diff": raw["count"],  # from nothing at the start
            "bytes_per_cycle": raw["size_bytes"] / cycles if per_cycle else None,
            "calls_per_cycle": calls,
            "grows": calls is not None and calls >= GROWS_CALLS_PER_CYCLE,
            "stack": raw["stack"],
        })
    sites.sort(key=lambda s: (-(s["bytes_per_cycle"] or 0), -s["size_bytes"]))
    growing = sum(s["bytes_per_cycle"] for s in sites if s["grows"]) if per_cycle else None
    share = growing / rss_slope if growing and rss_slope and rss_slope > 0 else None
    return {
        "tool": tool, "from": "the command's start", "to": "its exit", "sites": sites,
        "complete": bool(found.get("complete", True)) and found.get("reason") is None,
        "reason": found.get("reason"),
        "cycles": cycles,
        "growing_bytes_per_cycle": growing,
        "rss_growth_per_cycle_bytes": rss_slope,
        "explains_rss_growth": share is not None and EXPLAINS[0] <= share <= EXPLAINS[1],
    }


def where(site: dict[str, Any]) -> str:
    """A site in words: function (file:line), or what is known of it."""
    place = f"{os.path.basename(site['file'])}:{site['line']}" if site.get("file") else None
    module = os.path.basename(site.get("module") or "") or None
    if site.get("function"):
        return f"{site['function']} ({place or module or 'no debug info'})"
    return place or module or "an unknown frame"


def leak_sentence(alloc: dict[str, Any]) -> str | None:
    """The growing sites' bytes per cycle beside RSS growth per cycle, as one sentence (None without cycles)."""
    growing, rss = alloc.get("growing_bytes_per_cycle"), alloc.get("rss_growth_per_cycle_bytes")
    if growing is None:
        return None
    count = sum(1 for s in alloc["sites"] if s["grows"])
    if not count:
        return "No allocation site grows with the cycles"
    side = f"{count} site(s) growing with the cycles keep {size(growing)} per cycle; RSS grows {size(rss)} per cycle"
    if alloc.get("explains_rss_growth"):
        return f"The leak: {side}"
    return f"{side}: they are not all of the growth (allocator, fragmentation, or memory heaptrack can't see)"


def lines(alloc: dict[str, Any], top: int = 5) -> list[str]:
    """The report's allocation sites of a native server."""
    tool = TOOL_WORDS.get(alloc.get("tool") or "", alloc.get("tool"))
    cycles = alloc.get("cycles")
    scope = f"per cycle over {cycles:,} cycles" if cycles and alloc.get("growing_bytes_per_cycle") is not None \
        else "no cycles to divide by"
    out = [f"Allocation sites still allocated at the server's exit ({tool}, the whole run; {scope}):"]
    if alloc.get("reason") and not alloc["sites"]:
        out.append(f"  none read: {alloc['reason']}")
        return out
    if alloc.get("reason"):
        out.append(f"  incomplete: {alloc['reason']}")
    if not alloc["sites"]:
        out.append("  none: nothing was left allocated")
    for site in alloc["sites"][:top]:
        kind = f"{site['kind']} leak, " if site.get("kind") else ""
        if site["bytes_per_cycle"] is not None:
            figures = (f"{size(site['bytes_per_cycle'])} per cycle, {site['calls_per_cycle']:.2f} calls per cycle"
                       f"{', grows' if site['grows'] else ''}; ")
        else:
            figures = ""
        out.append(f"  {where(site)}: {kind}{figures}{size(site['size_bytes'])} in {site['count']:,} calls at exit")
    sentence = leak_sentence(alloc)
    if sentence:
        out.append(sentence)
    return out


def top_growing(alloc: dict[str, Any] | None) -> dict[str, Any] | None:
    """The site that grows most per cycle, if any."""
    growing = [s for s in (alloc or {}).get("sites") or [] if s.get("grows")]
    return growing[0] if growing else None


def finding_step(alloc: dict[str, Any]) -> str | None:
    """The "memory grows over time" finding's first step for a native server: the top site and its bytes per cycle."""
    site = top_growing(alloc)
    tool = TOOL_WORDS.get(alloc.get("tool") or "", "")
    if site is None:
        if alloc.get("reason"):
            return f"{tool} gave no allocation sites: {alloc['reason']}"
        return None
    text = (f"Read the allocation site that grows with the cycles ({tool}): {where(site)} keeps"
            f" {size(site['bytes_per_cycle'])} per cycle ({site['calls_per_cycle']:.2f} calls per cycle)")
    sentence = leak_sentence(alloc)
    return f"{text}. {sentence}" if sentence else text


def record_entry(native: dict[str, Any] | None, scenarios: tuple[str, ...],
                 figures: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The record's allocations entries of a native tool's sites: {scenario: block}, or {} without any."""
    if native is None:
        return {}
    name = key_scenario(scenarios)
    return {name: native_block(native["tool"], native, figures.get(name))}


# ---- two or more runs' sites side by side (compare) ----------------------------------------------------------------

COMPARED_SITES = 15  # rows of the side-by-side table; the rest are counted in a note


def site_key(scenario: str, site: dict[str, Any]) -> tuple[Any, ...]:
    """What makes a site the same in two runs: its function and file:line where known, else the frame named (its
    function and module). The file's base name only: the same source built in another folder is the same site."""
    file = os.path.basename(site["file"]) if site.get("file") else None
    if file is not None and site.get("line") is not None:
        return scenario, site.get("function"), file, site["line"]
    return scenario, site.get("function"), os.path.basename(site.get("module") or "") or None


def side_by_side(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Every run's allocation sites matched across the runs (site_key), for compare: {"tools": the tool of each
    run (None: not traced), "rows": [{"scenario", "site", "runs": one entry per run, None where the run left
    nothing there}], "more": rows left out}. A run entry: bytes_per_cycle, calls_per_cycle, grows, size_bytes,
    count (a site read twice in one run, two stacks to one line, is summed), and size_diff_bytes (tracemalloc's
    growth). Rows: the most bytes per cycle (else growth) in any run first."""
    tools: list[str | None] = []
    merged: dict[tuple[Any, ...], dict[str, Any]] = {}
    for i, rec in enumerate(records):
        blocks = rec.get("allocations") or {}
        tools.append(next((b.get("tool") or "tracemalloc" for b in blocks.values()), None))
        for scenario, block in blocks.items():
            for site in block["sites"]:
                row = merged.setdefault(site_key(scenario, site), {
                    "scenario": scenario, "site": where(site), "runs": [None] * len(records)})
                entry = row["runs"][i]
                if entry is None:
                    row["runs"][i] = {key: site.get(key) for key in (
                        "bytes_per_cycle", "calls_per_cycle", "grows", "size_bytes", "count", "size_diff_bytes")}
                    continue
                for key in ("bytes_per_cycle", "calls_per_cycle", "size_bytes", "count", "size_diff_bytes"):
                    if site.get(key) is not None:
                        entry[key] = (entry[key] or 0) + site[key]
                entry["grows"] = bool(entry["grows"] or site.get("grows"))

    def weight(row: dict[str, Any]) -> tuple[float, float]:
        runs = [r for r in row["runs"] if r is not None]
        return (max((r["bytes_per_cycle"] or 0) for r in runs), max((r["size_diff_bytes"] or 0) for r in runs))

    rows = sorted(merged.values(), key=weight, reverse=True)
    return {"tools": tools, "rows": rows[:COMPARED_SITES], "more": max(0, len(rows) - COMPARED_SITES)}


def site_cell(entry: dict[str, Any] | None, tool: str | None) -> str:
    """One run's figure of a matched site, in words: bytes per cycle (and "grows"), tracemalloc's growth, or why
    there is none."""
    if tool is None:
        return "not traced"
    if entry is None:
        return "none left"
    if entry.get("bytes_per_cycle") is not None:
        return f"{size(entry['bytes_per_cycle'])}/cycle" + (", grows" if entry.get("grows") else "")
    if tool == "tracemalloc":
        return f"{size(entry.get('size_diff_bytes'), signed=True)} grown"
    return f"{size(entry.get('size_bytes'))} left"


def side_by_side_table(table: dict[str, Any], roles: list[str]) -> tuple[list[str], list[list[str]]]:
    """The side-by-side sites as a table: header (scenario, site, then each run's role and tool) and rows."""
    header = ["scenario", "site", *(f"{role} ({TOOL_WORDS.get(tool or '', tool or 'not traced')})"
                                     for role, tool in zip(roles, table["tools"], strict=True))]
    rows = [[row["scenario"], row["site"], *(site_cell(entry, tool) for entry, tool in
                                             zip(row["runs"], table["tools"], strict=True))]
            for row in table["rows"]]
    return header, rows
