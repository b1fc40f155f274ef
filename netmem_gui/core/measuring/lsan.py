"""LeakSanitizer's report of a spawned AddressSanitizer build, read as allocation sites.

An ASan build checks for leaks when it exits and prints what it found. netmem gives every spawned command
ASAN_OPTIONS=log_path=DIR/lsan (after the user's own options, unless they set log_path themselves), so the report
lands in a file of its own, whole, however much the server printed; a command that is no ASan build ignores it.
"""

from __future__ import annotations

import glob
import os
import re
from typing import Any

_HEADER = re.compile(r"^(?P<kind>Direct|Indirect) leak of (?P<size>[0-9]+) byte\(s\) in (?P<count>[0-9]+)"
                     r" object\(s\) allocated from:")
# "#1 0x5620e9b99385 in remember_session /path/echo_server.c:34" (or :34:7), "#3 0x7f.. in f (/lib/x.so+0x2a)",
# "#4 0x7f.. (/lib/x.so+0x2a)" without a function.
_FRAME = re.compile(r"^#[0-9]+ 0x[0-9a-f]+(?:\s+in (?P<function>.+?))?(?:\s+(?P<where>\S+))?$")
_FILE_LINE = re.compile(r"^(?P<file>.+?):(?P<line>[0-9]+)(?::[0-9]+)?$")
_MODULE = re.compile(r"^\((?P<module>.+?)\+0x[0-9a-f]+\)$")


def environment(folder: str, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a spawned command: ASan's log_path into `folder`, unless the user chose one."""
    env = dict(os.environ if base is None else base)
    options = env.get("ASAN_OPTIONS", "")
    if "log_path=" not in options:
        env["ASAN_OPTIONS"] = ":".join(o for o in (options, f"log_path={os.path.join(folder, 'lsan')}") if o)
    return env


def read(folder: str) -> list[dict[str, Any]] | None:
    """The sites of the leak reports in `folder` (one file per process that reported), or None when there is
    no report (no ASan build, or one that found no leak)."""
    found = None
    for path in sorted(glob.glob(os.path.join(folder, "lsan.*"))):
        with open(path, errors="replace") as f:
            sites = parse(f.read())
        if sites is not None:
            found = (found or []) + sites
    return found


def parse(text: str) -> list[dict[str, Any]] | None:
    """Each "Direct/Indirect leak of N byte(s) in M object(s)" with its stack (the allocator's own frames
    kept: the rule of which frame to name is the same for every tool, reports/sites.py); None when the text
    holds no LeakSanitizer report."""
    if "LeakSanitizer" not in text:
        return None
    sites: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        header = _HEADER.match(line)
        if header:
            current = {"kind": header["kind"].lower(), "size_bytes": int(header["size"]),
                       "count": int(header["count"]), "stack": []}
            sites.append(current)
            continue
        if current is None:
            continue
        frame = _FRAME.match(line)
        if not frame:
            current = None
            continue
        where, function = frame["where"] or "", frame["function"]
        located = _FILE_LINE.match(where)
        module = _MODULE.match(where)
        if where and not located and not module:  # no location: the last word was the function's own
            function, where = f"{function} {where}" if function else where, ""
        current["stack"].append({
            "function": function or None,
            "file": located["file"] if located and not module else None,
            "line": int(located["line"]) if located and not module else None,
            "module": module["module"] if module else None,
        })
    return sorted(sites, key=lambda s: -s["size_bytes"])
