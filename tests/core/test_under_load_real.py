"""Figures under a load netmem doesn't make, against real components: redis-server observed while clients connect
and close (checked against a measurement made beside it without netmem), and the leak verdict of a stability run
beside a real Locust cluster, clean and leaking."""

from __future__ import annotations

import socket
import statistics
import subprocess
import time

import psutil
import pytest

from netmem_gui.core.records import record
from tests.core.locust_cluster import cluster, free_port, need_locust, wait_for
from tests.core.servers import redis_server
from tests.core.test_locust_real import _listening

CLIENTS = 1500
BATCH = 100


def _rss(pid: int) -> int:
    """The median of five reads: one read can land on a page step in progress."""
    reads = []
    for _ in range(5):
        reads.append(psutil.Process(pid).memory_info().rss)
        time.sleep(0.02)
    return int(statistics.median(reads))


def _connect_all(port: int) -> list[socket.socket]:
    """CLIENTS connections, each answered one PING, opened in batches over about two seconds (a ramp the sampler
    reads at several points)."""
    clients = []
    for _ in range(CLIENTS // BATCH):
        for _ in range(BATCH):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(b"PING\r\n")
            clients.append(s)
        for s in clients[-BATCH:]:
            assert s.recv(16) == b"+PONG\r\n"
        time.sleep(0.12)
    return clients


def test_observe_fits_redis_per_connection_on_the_rise_not_over_the_release(tmp_path, netmem_cmd):
    out = tmp_path / "observe.json"
    with redis_server() as (redis, port):
        netmem = subprocess.Popen([*netmem_cmd, "run", "observe", "--attach", str(redis.pid), "--duration", "12",
                                   "--json", str(out), "--no-save"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True)
        try:
            time.sleep(3)  # netmem starts and reads the idle server first
            before = _rss(redis.pid)
            clients = _connect_all(port)
            time.sleep(0.5)
            held = _rss(redis.pid)
            time.sleep(2)
            for s in clients:
                s.close()
            stdout, stderr = netmem.communicate(timeout=60)
        finally:
            if netmem.poll() is None:
                netmem.kill()
    assert netmem.returncode == 0, stderr
    independent = (held - before) / CLIENTS
    fig = record.load(out)["scenarios"]["observe"]
    kinds = [p["kind"] for p in fig["phases"]]
    assert kinds.count("rising") == 1 and kinds.count("falling") == 1, fig["phases"]
    assert fig["per_connection_bytes"] is not None, fig["fit_reason"]
    assert abs(fig["per_connection_bytes"] - independent) <= 0.3 * independent, (fig["per_connection_bytes"],
                                                                                  independent)
    release = fig["releases"][0]
    assert abs(release["released"] - CLIENTS) <= 0.1 * CLIENTS
    # redis keeps most of what its clients used after they leave: what the release kept is reported as such.
    assert release["kept_bytes"] is not None
    assert f"Per-connection overhead: {fig['per_connection_bytes'] / 1024:,.1f} KB" in stdout
    assert "released" in stdout and "Kept after release" in stdout


# ---- the leak verdict beside a real Locust cluster (master and two workers on 127.0.0.1) --------------------------

LOCUST_USERS = 150


def _stability_beside_locust(tmp_path, netmem_cmd, locustfile: str, users: int, *extra: str) -> dict:
    """A stability run of netmem's echo server while Locust ramps `users` up at 15 a second and holds them."""
    need_locust()
    port = free_port()
    out = tmp_path / "run.json"
    with cluster(locustfile, f"tcp://127.0.0.1:{port}", users=users, spawn_rate=15, run_time_s=24, workers=2,
                 log_dir=tmp_path) as locust:
        netmem = subprocess.Popen([*netmem_cmd, "run", "stability", "--duration", "20", "--port", str(port),
                                   "--locust", locust.url, "--json", str(out), "--no-save", *extra],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            wait_for(lambda: _listening(port) or netmem.poll() is not None, 20, "netmem's echo server")
            locust.start_workers()
            _, stderr = netmem.communicate(timeout=90)
        finally:
            if netmem.poll() is None:
                netmem.kill()
    assert netmem.returncode in (0, 3), stderr
    return record.load(out)


@pytest.mark.slow
def test_a_clean_server_beside_a_ramp_of_connection_holding_users_is_not_called_a_leak(tmp_path, netmem_cmd):
    rec = _stability_beside_locust(tmp_path, netmem_cmd, "tcp_echo.py", LOCUST_USERS)
    assert max(rec["load"]["series"]["users"]) == LOCUST_USERS
    rss = rec["scenarios"]["stability"]["leak_verdict"]["rss"]
    # Before the load was a term, this run's memory rose with the users' connections and read ~400-600 B per cycle:
    # POSSIBLE LEAK. Now the load's share is taken out, or the verdict says it could not be told apart.
    assert rss["load_term"] is not None and rss["verdict"] != "POSSIBLE LEAK", rss
    steady = rec["load"]["figures"]["steady"]["leak_verdict"]["verdict"]
    assert steady != "POSSIBLE LEAK" and rec["summary"]["leak_verdict"]["verdict"] != "POSSIBLE LEAK"
    if rss["reason"].startswith("not judged"):  # then the verdict at steady load is the run's
        assert rec["summary"]["leak_verdict"]["verdict"] == steady
        assert rec["summary"]["leak_verdict"]["scenarios"] == ["load"]


@pytest.mark.slow
def test_a_server_leaking_per_connection_under_locust_churn_is_still_caught(tmp_path, netmem_cmd):
    rec = _stability_beside_locust(tmp_path, netmem_cmd, "tcp_churn.py", 60, "--inject-leak", "4096")
    steady = rec["load"]["figures"]["steady"]["leak_verdict"]
    assert steady["verdict"] == "POSSIBLE LEAK", steady
    assert steady["slope_bytes_per_cycle"] >= 4096 * 0.8  # one connection per request, 4 KiB kept for each
    assert rec["summary"]["leak_verdict"]["verdict"] == "POSSIBLE LEAK"
    assert any(f["id"] == "memory-grows" for f in rec["findings"])
