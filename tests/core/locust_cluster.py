"""A real Locust cluster on loopback for the tests: a master (web UI on 127.0.0.1) and its workers."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "locust"


def need_locust() -> None:
    """Locust is an optional extra: skip without it, except in CI (CI=true), where its absence is a failure."""
    if importlib.util.find_spec("locust") is None:
        if os.environ.get("CI"):
            pytest.fail("locust is not installed: CI installs '.[test,locust]'")
        pytest.skip("locust is not installed (pip install 'netmem[locust]')")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(0.05)


def answers(url: str) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=0.5):
            return True
    except OSError:
        return False


class Cluster:
    """A master started with --autostart, waiting for `workers` workers; `start_workers()` begins the test."""

    def __init__(self, locustfile: str, host: str, users: int, spawn_rate: float, run_time_s: int,
                 workers: int, log_dir: Path) -> None:
        self.web_port, self.master_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.web_port}"
        self.locustfile = str(EXAMPLES / locustfile)
        self.workers = workers
        self.log_dir = log_dir
        self.procs: list[subprocess.Popen] = []
        self.logs: list = []
        self._start("master", "--master", "--master-bind-host", "127.0.0.1", "--master-bind-port",
                    str(self.master_port), "--web-host", "127.0.0.1", "--web-port", str(self.web_port),
                    "--autostart", "--autoquit", "1", "--expect-workers", str(workers), "-u", str(users),
                    "-r", str(spawn_rate), "-t", f"{run_time_s}s", "--host", host)
        wait_for(lambda: answers(self.url + "/stats/requests"), 30, "the Locust master's web UI")

    def _start(self, name: str, *args: str) -> None:
        log = open(self.log_dir / f"locust-{name}-{len(self.procs)}.log", "wb")
        self.logs.append(log)
        self.procs.append(subprocess.Popen([sys.executable, "-m", "locust", "-f", self.locustfile, *args],
                                           stdout=log, stderr=subprocess.STDOUT))

    def start_workers(self) -> None:
        for _ in range(self.workers):
            self._start("worker", "--worker", "--master-host", "127.0.0.1", "--master-port", str(self.master_port))

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for log in self.logs:
            log.close()


@contextmanager
def cluster(*args, **kwargs) -> Iterator[Cluster]:
    c = Cluster(*args, **kwargs)
    try:
        yield c
    finally:
        c.stop()
