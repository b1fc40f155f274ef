"""The `netmem` command: its report, its record, its exit statuses and one-line errors for bad input."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import psutil
import pytest

from netmem_gui import __version__
from netmem_gui.core.records import record

SMALL_RUN = ["--interval", "20"]


def netmem(*args: str, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "netmem_gui.cli", *args], capture_output=True, text=True,
                          timeout=timeout, **kw)


def assert_one_line_error(done: subprocess.CompletedProcess, words: str, status: int = 2) -> None:
    assert done.returncode == status, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert words in lines[0]
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("host", ["isolated", "inapp"])
def test_run_prints_the_report_and_writes_the_record(tmp_path, host):
    out = tmp_path / "run.json"
    done = netmem("run", "connections", "--connections", "20", "--host", host, "--json", str(out), *SMALL_RUN)
    assert done.returncode == 0, done.stderr
    text = done.stdout
    for line in ("=== Connection Profiling ===", "[Baseline] RSS: ", "[After 20 connections] RSS: ",
                 "Per-connection overhead: ", "Memory delta from baseline: ", "Baseline rule: "):
        assert line in text
    rec = record.load(out)
    assert rec["config"]["host"] == host and rec["completed"] is True
    delta_kb = round(rec["summary"]["delta_bytes"] / 1024)
    assert f"Memory delta from baseline: {delta_kb} KB" in text


def test_schema_and_version():
    done = netmem("schema")
    assert done.returncode == 0
    assert json.loads(done.stdout)["title"].startswith("netmem run record")
    assert netmem("--version").stdout.strip() == f"netmem {__version__}"


@pytest.mark.parametrize(("args", "words"), [
    (["run", "connections", "--connections", "0"], "--connections must be at least 1"),
    (["run", "connections", "--connections", "-3"], "--connections must be at least 1"),
    (["run", "connections", "--connections", "9999999"], "is more than the 100000 allowed"),
    (["run", "connections", "--connections", "many"], "invalid int value: 'many'"),
    (["run", "stability", "--duration", "0"], "--duration must be a positive"),
    (["run", "stability", "--duration", "nan"], "--duration must be a positive"),
    (["run", "messages", "--message-size", "0"], "--message-size must be at least 1"),
    (["run", "messages", "--interval", "1"], "--interval must be at least 10"),
    (["run", "bogus"], "invalid choice: 'bogus'"),
    (["run", "connections", "--host", "cloud"], "invalid choice: 'cloud'"),
    ([], "the following arguments are required: COMMAND"),
])
def test_bad_arguments_get_one_line_and_status_2(args, words):
    assert_one_line_error(netmem(*args), words)


def test_unwritable_json_path_is_refused_before_the_run(tmp_path):
    started = time.monotonic()
    done = netmem("run", "stability", "--duration", "30", "--json", str(tmp_path / "no" / "such" / "run.json"))
    assert_one_line_error(done, "does not exist")
    assert time.monotonic() - started < 20  # refused up front, not after a 30 s run
    assert_one_line_error(netmem("run", "connections", "--json", str(tmp_path)), "is a folder")


def test_a_port_that_cannot_be_bound_is_refused(tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        done = netmem("run", "connections", "--connections", "5", "--port", str(port))
    assert_one_line_error(done, f"cannot listen on 127.0.0.1:{port}: address already in use")


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_NOFILE is POSIX")
@pytest.mark.parametrize(("host", "most"), [("isolated", 256 - 64), ("inapp", (256 - 64) // 2)])
def test_more_connections_than_descriptors_allow_is_refused_naming_the_most(host, most):
    import resource

    def low_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))

    done = netmem("run", "connections", "--connections", "5000", "--host", host, preexec_fn=low_limit)
    assert_one_line_error(done, f"the {host} host can hold at most {most}")
    ok = netmem("run", "connections", "--connections", str(most), "--host", host, *SMALL_RUN, preexec_fn=low_limit)
    assert ok.returncode == 0, ok.stderr


def wait_for_children(proc: psutil.Process, count: int, timeout: float = 20) -> list[psutil.Process]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        kids = proc.children(recursive=True)
        if len(kids) >= count:
            return kids
        time.sleep(0.05)
    raise AssertionError(f"expected {count} child processes")


def wait_for_listener(procs: list[psutil.Process], timeout_s: float = 30.0) -> None:
    """Wait until one of `procs` listens on a TCP port: the echo server is up and the run is under way."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for p in procs:
            try:
                if any(c.status == psutil.CONN_LISTEN for c in p.net_connections("tcp")):
                    return
            except psutil.Error:
                pass
        time.sleep(0.05)
    raise AssertionError("no process started listening")


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT delivery to a console process differs on Windows")
@pytest.mark.parametrize("host", ["isolated", "inapp"])
def test_ctrl_c_stops_cleanly_and_writes_the_partial_record(tmp_path, host):
    out = tmp_path / "partial.json"
    proc = subprocess.Popen([sys.executable, "-m", "netmem_gui.cli", "run", "stability", "--duration", "60",
                             "--host", host, "--json", str(out), *SMALL_RUN],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    me = psutil.Process(proc.pid)
    kids = wait_for_children(me, 2) if host == "isolated" else []
    wait_for_listener([me, *kids])
    time.sleep(0.5)  # a few cycles into the run
    # A terminal sends SIGINT to the whole foreground process group; children must not die half way.
    for p in [me, *kids]:
        os.kill(p.pid, signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr
    assert "interrupted; the partial run was kept" in stderr and "Traceback" not in stderr
    assert "Run incomplete" in stdout
    rec = record.load(out)
    assert rec["completed"] is False
    assert rec["scenarios"]["stability"]["cycles"] > 0
    assert not any(k.is_running() and k.status() != psutil.STATUS_ZOMBIE for k in kids)
