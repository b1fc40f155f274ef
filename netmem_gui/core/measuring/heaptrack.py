"""heaptrack for a spawned native server: the command that runs it traced, and its data read back as allocation sites.

heaptrack's file is complete only when the traced process has exited (its preload library streams to
heaptrack_interpret through a pipe, and the wrapper script compresses what that prints). So netmem reads it after the
run, once the server has gone, with `heaptrack_print --print-leaks` (heaptrack's stable interface: the file's own
format is heaptrack's internal one). The figures are what was still allocated when the server exited.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from typing import Any

from ..config import TargetError

PACKAGE_HINT = "apt-get install heaptrack (Debian, Ubuntu; dnf install heaptrack on Fedora)"
TOP_SITES = 50  # heaptrack_print's --peak-limit: the sites read back, the largest still allocated first
PRINT_TIMEOUT_S = 300.0  # heaptrack_print reads a long run's file for tens of seconds on a slow machine

# One site of `heaptrack_print --print-leaks -m 0`: "200.00K leaked over 100 calls from", then frames, each its
# function on one line, then "at FILE:LINE" and "in MODULE" lines where known (inlined frames have no "in").
_HEADER = re.compile(r"^(?P<size>[0-9.]+)(?P<unit>[A-Za-z]*) leaked over (?P<calls>[0-9]+) calls? from:?\s*$")
_AT = re.compile(r"^at (?P<file>.+):(?P<line>[0-9]+)$")
_UNITS = {"": 1, "B": 1, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}  # heaptrack prints sizes in powers of 1000


def check_installed() -> None:
    """TargetError (one line, exit 2) unless heaptrack and heaptrack_print are on PATH."""
    for tool in ("heaptrack", "heaptrack_print"):
        if shutil.which(tool) is None:
            raise TargetError(f"--trace-allocations on a --spawn command runs it under heaptrack: {tool} is not"
                              f" installed ({PACKAGE_HINT})")


def wrapper(output_base: str) -> list[str]:
    """The words put before the server's command: heaptrack writes OUTPUT_BASE.zst (or .gz without zstd)."""
    return ["heaptrack", "-o", output_base]


def is_own_process(name: str) -> bool:
    """heaptrack's own processes in a traced tree (its wrapper script, the interpreter, the compressor)."""
    return name in ("heaptrack", "heaptrack_interpret", "zstd", "gzip") or name.startswith("heaptrack")


def data_file(output_base: str) -> str | None:
    """The file heaptrack wrote for OUTPUT_BASE, if any."""
    for suffix in (".zst", ".gz"):
        if os.path.exists(output_base + suffix):
            return output_base + suffix
    return None


def read(output_base: str) -> dict[str, Any]:
    """heaptrack's data as {"sites": [...], "reason": None} (sites still allocated at exit), or no sites and the
    reason in one line when the file is missing, empty or does not read."""
    path = data_file(output_base)
    if path is None:
        return {"sites": [], "reason": "heaptrack wrote no file (it did not start, or was killed)"}
    if os.path.getsize(path) == 0:
        return {"sites": [], "reason": "heaptrack's file is empty: heaptrack ended before the server did"}
    try:
        done = subprocess.run(["heaptrack_print", "-f", path, "--print-leaks", "1", "--print-peaks", "0",
                               "--print-allocators", "0", "--print-temporary", "0", "--merge-backtraces", "0",
                               "--peak-limit", str(TOP_SITES)], capture_output=True, timeout=PRINT_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"sites": [], "reason": f"heaptrack_print could not read {os.path.basename(path)}: {exc}"}
    text = done.stdout.decode(errors="replace")
    if done.returncode != 0 or "MEMORY LEAKS" not in text:
        said = (done.stderr.decode(errors="replace").strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        return {"sites": [], "reason": f"heaptrack's file does not read (corrupt or cut short): {said[:200]}"}
    # heaptrack_print reads garbage without a complaint (exit 0, no allocations): a file it understood names the
    # traced command, and a server that ran made allocation calls.
    if "Debuggee command was:" not in text:
        return {"sites": [], "reason": "heaptrack's file does not read (corrupt): it names no traced command"}
    calls = re.search(r"^calls to allocation functions: ([0-9]+)", text, re.MULTILINE)
    if calls is None or int(calls[1]) == 0:
        return {"sites": [], "reason": "heaptrack's file holds no allocation calls (cut short, or heaptrack ended"
                                       " before the server did)"}
    return {"sites": parse(text), "reason": None}


def parse(text: str) -> list[dict[str, Any]]:
    """The sites of `heaptrack_print --print-leaks 1 --merge-backtraces 0` output: bytes and calls still allocated
    at exit, and the whole stack (innermost first) as {function, file, line, module} frames."""
    sites: list[dict[str, Any]] = []
    section = False
    current: dict[str, Any] | None = None
    module = None
    for raw in text.splitlines():
        line = raw.strip()
        if raw.startswith("MEMORY LEAKS"):
            section = True
            continue
        if not section:
            continue
        if not line:
            current = None
            continue
        if line.startswith("total runtime:") or line.startswith("suppressed leaks:"):
            break
        header = _HEADER.match(line)
        if header:
            size = float(header["size"]) * _UNITS.get(header["unit"].upper(), 1)
            current = {"size_bytes": round(size), "count": int(header["calls"]), "stack": []}
            sites.append(current)
            module = None
            continue
        if current is None:
            continue
        frames = current["stack"]
        at = _AT.match(line)
        if at and frames:
            frames[-1]["file"], frames[-1]["line"] = at["file"], int(at["line"])
        elif line.startswith("in ") and frames:
            module = line[3:]
            frames[-1]["module"] = module
        elif raw.startswith("  ") and not raw.startswith("    "):
            # A frame; an inlined one (no "in" line of its own) shares the module of the frame printed before it.
            frames.append({"function": line, "file": None, "line": None, "module": module})
    return sites
