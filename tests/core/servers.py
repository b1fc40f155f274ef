"""Real third-party servers for the target tests: redis-server and a pre-fork nginx, on 127.0.0.1 free ports."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest

from netmem_gui.core.addresses import free_port


def need(binary: str) -> str:
    """The path of `binary`; the test fails in CI (CI=true) when it is missing, and is skipped elsewhere."""
    path = shutil.which(binary) or (f"/usr/sbin/{binary}" if os.path.exists(f"/usr/sbin/{binary}") else None)
    if path is None:
        message = f"{binary} is not installed (Debian: apt-get install redis-server nginx-light)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def wait_listening(port: int, proc: subprocess.Popen, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"server exited with {proc.returncode}"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.02)
    raise AssertionError(f"nothing listens on {port} after {timeout_s} s")


def stop(proc: subprocess.Popen) -> None:
    """Stop a server this test started, its children too."""
    try:
        procs = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
    except psutil.Error:
        procs = []
    for p in procs:
        try:
            p.kill()
        except psutil.Error:
            pass
    proc.wait(timeout=10)
    psutil.wait_procs(procs, timeout=5)


@contextmanager
def redis_server(*extra: str) -> Iterator[tuple[subprocess.Popen, int]]:
    """redis-server on a free port of 127.0.0.1, with no persistence; `extra`: more of its options."""
    binary = need("redis-server")
    for attempt in range(3):  # a free port can be taken by another process before redis binds it: try another
        port = free_port()
        proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
                                 "no", *extra], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_listening(port, proc)
            break
        except AssertionError:
            if proc.poll() is None or attempt == 2:
                stop(proc)
                raise
    try:
        yield proc, port
    finally:
        if proc.poll() is None:
            stop(proc)


NGINX_CONF = """worker_processes 2;
pid {dir}/nginx.pid;
error_log {dir}/error.log;
daemon off;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {dir}/body;
  proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fastcgi;
  uwsgi_temp_path {dir}/uwsgi;
  scgi_temp_path {dir}/scgi;
  server {{
    listen 127.0.0.1:{port};
    location / {{ return 200 "hello from nginx\\n"; }}
    location /chunked {{ chunked_transfer_encoding on; return 200 "x"; }}
    location /missing {{ return 404; }}
  }}
}}
"""


def nginx_command(folder: Path, port: int | str) -> list[str]:
    """nginx as a pre-fork server: a master and 2 workers, everything it writes kept in `folder`."""
    binary = need("nginx")
    (folder / "nginx.conf").write_text(NGINX_CONF.format(dir=folder, port=port))
    return [binary, "-e", str(folder / "error.log"), "-p", str(folder), "-c", str(folder / "nginx.conf")]


@contextmanager
def nginx_server(folder: Path) -> Iterator[tuple[subprocess.Popen, int]]:
    port = free_port()
    proc = subprocess.Popen(nginx_command(folder, port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_listening(port, proc)
        deadline = time.monotonic() + 10
        while len(psutil.Process(proc.pid).children()) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        yield proc, port
    finally:
        if proc.poll() is None:
            stop(proc)
