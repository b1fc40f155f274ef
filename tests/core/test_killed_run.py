"""SIGKILL of `netmem run` mid-run: its children exit at once and the library keeps the run, interrupted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from netmem_gui.core.records import record
from netmem_gui.core.runs import library

ROOT = Path(__file__).resolve().parents[2]


def kill_mid_run(command: list[str], data: Path, env: dict[str, str] | None = None) -> list[library.Entry]:
    """Start `command` with its run library in `data`, SIGKILL it once its journal holds samples, check that its
    children end at once, and return the library's entries."""
    env = {**os.environ, **(env or {}), "NETMEM_DATA_DIR": str(data), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        journaled = None
        while time.monotonic() < deadline and proc.poll() is None:
            found = list((data / "runs").glob("*.journal")) if (data / "runs").is_dir() else []
            lines = found[0].read_text().split("\n") if found else []
            if sum(1 for line in lines[1:-1] if json.loads(line)["samples"][0]) >= 2:
                journaled = found[0]
                break
            time.sleep(0.1)
        assert journaled is not None, "the run never journaled two flushes of samples"
        children = psutil.Process(proc.pid).children(recursive=True)
        assert children, "an isolated run has a load process and a server process"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        _, alive = psutil.wait_procs(children, timeout=10)  # well under a second when the machine is idle
        assert not alive, f"children still running after their parent was killed: {alive}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return library.list_runs(data / "runs")


def test_a_killed_netmem_run_leaves_an_interrupted_run_and_no_children(tmp_path):
    entries = kill_mid_run([sys.executable, "-m", "netmem_gui.cli", "run", "stability", "--duration", "60",
                            "--interval", "50"], tmp_path)
    (entry,) = entries
    assert entry.state == "interrupted" and entry.duration_s > 0.5
    rec = record.load(entry.path)
    assert rec["completed"] is False and rec["interrupted"] and len(rec["samples"]["t_s"]) > 10
    out = subprocess.run([sys.executable, "-m", "netmem_gui.cli", "runs"], capture_output=True, text=True,
                         env={**os.environ, "NETMEM_DATA_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)})
    assert "stability (interrupted at " in out.stdout
    compared = subprocess.run([sys.executable, "-m", "netmem_gui.cli", "compare", entry.id, entry.id],
                              capture_output=True, text=True,
                              env={**os.environ, "NETMEM_DATA_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)})
    assert compared.returncode == 0, compared.stderr
