"""netmem under a real Locust cluster: a master and two workers on 127.0.0.1 load a real server while netmem
watches it; the record holds the load, the per-connection figure and Locust's checkpoints."""

from __future__ import annotations

import json
import subprocess

import pytest

from netmem_gui.core.records import record
from tests.core.locust_cluster import cluster, free_port, need_locust, wait_for

pytestmark = pytest.mark.slow

USERS = 40


def test_a_locust_cluster_loads_the_server_netmem_watches(tmp_path, netmem_cmd):
    need_locust()
    port = free_port()
    out = tmp_path / "run.json"
    with cluster("tcp_echo.py", f"tcp://127.0.0.1:{port}", users=USERS, spawn_rate=10, run_time_s=12, workers=2,
                 log_dir=tmp_path) as locust:
        # The master waits for its workers; netmem checks it answers, then its echo server listens on `port`.
        netmem = subprocess.Popen([*netmem_cmd, "run", "stability", "--duration", "40", "--port", str(port),
                                   "--locust", locust.url, "--until-locust-stops", "--json", str(out)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            wait_for(lambda: _listening(port) or netmem.poll() is not None, 20, "netmem's echo server")
            locust.start_workers()
            stdout, stderr = netmem.communicate(timeout=60)
        finally:
            if netmem.poll() is None:
                netmem.kill()
    assert out.exists(), stderr
    rec = record.load(out)
    load = rec["load"]
    series = load["series"]
    assert max(series["users"]) == USERS
    assert max(c for c in series["connections"] if c is not None) >= USERS
    assert series["requests"][-1] > 0 and series["failures"][-1] == 0
    assert {"spawning", "running"} <= set(series["state"])
    figures = load["figures"]
    assert figures["users_max"] == USERS
    # 40 connections of ~1.6 KB can hide in pages the allocator already has: the fit is a figure only when memory
    # followed the connections (r² 0.5), else it says so.
    fit = figures["per_connection_fit"]
    assert fit["points"] >= 3
    assert (figures["per_connection_bytes"] == fit["slope"]) == (fit["r_squared"] >= 0.5)
    assert figures["per_connection_reason"] == (None if fit["r_squared"] >= 0.5
                                                else f"memory did not follow connections: r² {fit['r_squared']:.3f}")
    assert any(p["users"] == USERS for p in figures["plateaus"])
    labels = [cp["label"] for cp in rec["checkpoints"]]
    assert "Locust spawning" in labels and f"Locust running {USERS} users" in labels
    assert any(label.startswith("Locust stopped") for label in labels)
    assert labels.index("Locust spawning") < labels.index(f"Locust running {USERS} users")
    assert "Under Locust's Load" in stdout
    # The figure when memory followed the connections, else the fit and why it is none (the r² rule).
    assert ("Per-connection overhead under load" in stdout) == (fit["r_squared"] >= 0.5)
    assert f"r² {fit['r_squared']:.3f} over {fit['points']} polls of the ramp" in stdout
    json.dumps(rec)


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_netmem_observes_redis_under_a_locust_cluster_until_the_test_stops(tmp_path, netmem_cmd):
    from tests.core.servers import redis_server

    need_locust()
    out = tmp_path / "observe.json"
    with redis_server() as (redis, port), cluster("redis_user.py", f"127.0.0.1:{port}", users=USERS, spawn_rate=10,
                                                  run_time_s=10, workers=2, log_dir=tmp_path) as locust:
        netmem = subprocess.Popen([*netmem_cmd, "run", "observe", "--attach", str(redis.pid), "--locust", locust.url,
                                   "--until-locust-stops", "--duration", "60", "--json", str(out)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # The workers may join before netmem's first poll: the 2 s ramp and 8 s at full load are seen either way.
        locust.start_workers()
        _, stderr = netmem.communicate(timeout=60)
    assert netmem.returncode == 0, stderr  # the Locust test stopping ends an observation as complete
    rec = record.load(out)
    assert rec["completed"]
    assert max(rec["load"]["series"]["users"]) == USERS
    assert rec["load"]["figures"]["per_connection_bytes"] is not None
    labels = [cp["label"] for cp in rec["checkpoints"]]
    assert f"Locust running {USERS} users" in labels and any(label.startswith("Locust stopped") for label in labels)
