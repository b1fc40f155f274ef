"""The one signal policy (issue 15, rows 1, 2 and 5): SIGINT and SIGTERM alike stop `netmem run`, keep the partial
run (library and --json) and exit 130 / 143; a stopped child can't hold the parent; a --json that can't be
written at the end costs the record file only, never the library's copy."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import psutil
import pytest
from conftest import ROOT

from netmem_gui.core.records import record
from netmem_gui.core.running.hosts import STOP_GRACE_S
from netmem_gui.core.runs import library

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def start(*args: str) -> tuple[subprocess.Popen, psutil.Process]:
    proc = subprocess.Popen([sys.executable, "-m", "netmem_gui.cli", "run", *args, "--interval", "20"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return proc, psutil.Process(proc.pid)


def wait_for(condition, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _connections(procs: list[psutil.Process]) -> int:
    total = 0
    for p in procs:
        try:
            total += len(p.net_connections(kind="tcp"))
        except psutil.Error:
            pass
    return total


def running_stability(me: psutil.Process, host: str) -> list[psutil.Process]:
    """Wait until the stability scenario is cycling (echo connections open, so samples and checkpoints exist);
    return the children (the isolated host's workload and server processes)."""
    if host == "isolated":
        wait_for(lambda: len(me.children(recursive=True)) >= 2, "the workload and server processes")
    kids = me.children(recursive=True)
    wait_for(lambda: _connections([me, *kids]) > 0, "the stability cycles")
    return kids


@pytest.mark.parametrize(("host", "signum", "status"), [
    ("isolated", signal.SIGTERM, 143),
    ("inapp", signal.SIGTERM, 143),
    ("inapp", signal.SIGINT, 130),
])
def test_sigterm_and_sigint_keep_the_partial_run(tmp_path, host, signum, status):
    out = tmp_path / "partial.json"
    proc, me = start("stability", "--duration", "60", "--host", host, "--json", str(out))
    kids = running_stability(me, host)
    proc.send_signal(signum)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == status, stderr
    assert "the partial run was kept" in stderr and "Traceback" not in stderr
    assert "Run incomplete" in stdout
    rec = record.load(out)
    assert rec["completed"] is False and rec["samples"]["t_s"]
    assert [e.started_at for e in library.list_runs()] == [rec["started_at"]]
    _, alive = psutil.wait_procs(kids, timeout=5)
    assert not alive


def test_a_stopped_server_child_cannot_hold_the_parent(tmp_path):
    proc, me = start("stability", "--duration", "120", "--host", "isolated")
    load = None
    try:
        wait_for(lambda: len(me.children(recursive=True)) >= 2, "the workload and server processes")
        load = me.children()[0]
        server = load.children()[0]
        server.suspend()  # kill -STOP
        asked = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=STOP_GRACE_S + 20)
        took = time.monotonic() - asked
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    assert took < STOP_GRACE_S + 10, took
    _, alive = psutil.wait_procs([load, server], timeout=5)
    assert not alive, alive
    assert len(library.list_runs()) == 1


def test_a_record_file_that_fails_at_the_end_still_leaves_the_run_in_the_library(tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    target = folder / "run.json"
    proc, me = start("stability", "--duration", "3", "--host", "inapp", "--json", str(target))
    running_stability(me, "inapp")
    shutil.rmtree(folder)  # passed the check before the run; gone when the record is written
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 2, stderr
    problem = [line for line in stderr.splitlines() if "could not be written" in line]
    assert len(problem) == 1 and str(target) in problem[0] and "in the run library" in problem[0], stderr
    assert "Traceback" not in stderr
    runs = library.list_runs()
    assert len(runs) == 1 and runs[0].completed is True and not runs[0].damaged
    assert not folder.exists()


def test_a_full_disk_for_json_still_saves_to_the_library(tmp_path):
    """ENOSPC itself, where the test may mount a small tmpfs (root on Linux); else skipped."""
    mount = tmp_path / "full"
    mount.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("needs root to mount a small tmpfs")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"can't mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        fd = os.open(mount / "filler", os.O_WRONLY | os.O_CREAT)  # fill it to the last byte
        try:
            while os.write(fd, b"x" * 512):
                pass
        except OSError:
            pass
        finally:
            os.close(fd)
        target = mount / "run.json"
        done = subprocess.run([sys.executable, "-m", "netmem_gui.cli", "run", "messages", "--host", "inapp",
                               "--messages", "300", "--interval", "10", "--json", str(target)],
                              cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert done.returncode == 2, done.stderr
        assert f"{target}: cannot write: No space left on device" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
        assert len(library.list_runs()) == 1
        assert os.listdir(mount) == ["filler"]  # no temporary file left on the full disk
    finally:
        subprocess.run(["umount", str(mount)], check=False)
