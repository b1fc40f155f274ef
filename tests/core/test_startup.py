"""`netmem --version` and `netmem runs` start light: they never import what only a run or a comparison needs."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import ROOT
from records import real_record

from netmem_gui.core.runs import library

# Each costs tens of milliseconds to import (numpy and jsonschema about 0.1 s each); together they were most of
# the 0.5 s `netmem runs` took before its commands imported them only when needed (docs/long-runs.md).
HEAVY = ("numpy", "jsonschema", "asyncio", "psutil", "PySide6", "pyqtgraph", "qasync")

# The command exactly as `python -m netmem_gui.cli ARGS` runs it, in a fresh interpreter; then the heavy modules
# it imported, as the last line.
PROBE = f"""
import json, runpy, sys
try:
    runpy.run_module("netmem_gui.cli", run_name="__main__", alter_sys=True)
except SystemExit as exc:
    status = exc.code
print()
print(json.dumps([status, sorted(m for m in sys.modules if m.split(".")[0] in {HEAVY!r})]))
"""


def netmem_in_fresh_python(*args: str) -> tuple[int, str, list[str]]:
    """(exit status, output, heavy modules imported) of `netmem ARGS` in a new interpreter."""
    done = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)})
    output, _, last = done.stdout.rstrip("\n").rpartition("\n")
    status, heavy = json.loads(last)
    assert done.stderr == "", done.stderr
    return status, output, heavy


def test_version_imports_nothing_heavy():
    status, output, heavy = netmem_in_fresh_python("--version")
    assert (status, output.strip()) == (0, "netmem 0.1.0") and heavy == []


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_runs_lists_from_the_index_without_importing_anything_heavy(fmt):
    saved = {library.save_run(real_record()).id for _ in range(3)}
    library.list_runs()  # the first list reads every record and writes the index
    status, output, heavy = netmem_in_fresh_python("runs", "--format", fmt)
    assert status == 0 and heavy == []
    if fmt == "json":
        assert {e["id"] for e in json.loads(output)["runs"]} == saved
    else:
        assert "(3 runs)" in output.splitlines()[0] and all(rid in output for rid in saved)


def test_compare_still_imports_what_it_needs():
    """The other side: a command that compares does import numpy (so the probe above would see a heavy import)."""
    ids = [library.save_run(real_record()).id for _ in range(2)]
    status, output, heavy = netmem_in_fresh_python("compare", *ids)
    assert status == 0 and "numpy" in heavy and ids[1] in output
