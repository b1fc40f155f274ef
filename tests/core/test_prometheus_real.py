"""observe through a real Prometheus (prometheus-process-exporter watching a real redis-server, scraped every
second, all on 127.0.0.1): bad sources are one line and exit 2; a Prometheus that pauses leaves a gap filled from
query_range, one that goes away ends the run with exit 1 and keeps it; under a real Locust cluster memory per user
matches the figure measured by PID in the same test."""

from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
import time

import psutil
import pytest

from netmem_gui.core.records import record
from tests.core.locust_cluster import cluster, need_locust
from tests.core.prometheus_stack import prometheus_stack
from tests.core.servers import redis_server

RESIDENT = 'namedprocess_namegroup_memory_bytes{{groupname="{name}",memtype="resident"}}'
FDS = 'namedprocess_namegroup_open_filedesc{{groupname="{name}"}}'


def _observe(netmem_cmd, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*netmem_cmd, "run", "observe", "--no-save", "--duration", "2", *args],
                          capture_output=True, text=True, timeout=60)


@pytest.mark.slow
def test_bad_prometheus_urls_and_queries_are_one_line_and_exit_2(tmp_path, netmem_cmd):
    with redis_server() as (_, port), prometheus_stack(tmp_path, "redis", f"redis-server.*:{port}") as url:
        exporter = url.replace(url.rsplit(":", 1)[1], "1")  # a port nothing listens on
        memory = RESIDENT.format(name="redis")
        cases = {
            (exporter, memory): "does not answer",
            (url + "/api/v1/query", "nosuch_metric_netmem"): "returns no series",
            (url, "sum(process_resident_memory_bytes"): "parse error",
            (url, "vector(-1)"): "negative",
            (url, "vector(NaN)"): "not a measurement",
            (url, "vector(1e20)"): "no server's memory",
            (url, f"{memory}[1m]"): "give an instant vector",
            (url.replace("http://", "http://user:secret@"), memory): "no credentials in the URL",
        }
        for (where, query), said in cases.items():
            done = _observe(netmem_cmd, "--prometheus", where, "--memory-query", query)
            assert done.returncode == 2, (where, query, done.stderr)
            assert len(done.stderr.strip().splitlines()) == 1 and said in done.stderr, (where, query, done.stderr)
            assert "secret" not in done.stderr
        done = _observe(netmem_cmd, "--prometheus", url, "--memory-query", memory, "--connections-query", "nosuch_x")
        assert done.returncode == 2 and "--connections-query 'nosuch_x' returns no series" in done.stderr


@pytest.mark.slow
def test_a_pause_is_a_gap_filled_from_query_range_and_prometheus_gone_ends_the_run_kept(tmp_path, netmem_cmd):
    out = tmp_path / "run.json"
    with redis_server() as (redis, port), prometheus_stack(tmp_path, "redis", f"redis-server.*:{port}") as url:
        netmem = subprocess.Popen([*netmem_cmd, "run", "observe", "--prometheus", url, "--memory-query",
                                   RESIDENT.format(name="redis"), "--duration", "120", "--json", str(out),
                                   "--no-save"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        prom = int(subprocess.check_output(["pgrep", "-f", f"web.listen-address=127.0.0.1:{url.rsplit(':', 1)[1]}"],
                                           text=True).split()[0])
        try:
            time.sleep(4)
            os.kill(prom, signal.SIGSTOP)  # no answers for 4 s; it scrapes again once it goes on
            time.sleep(4)
            os.kill(prom, signal.SIGCONT)
            time.sleep(4)
            rss = psutil.Process(redis.pid).memory_info().rss
            os.kill(prom, signal.SIGKILL)
            started = time.monotonic()
            _, stderr = netmem.communicate(timeout=60)
            took = time.monotonic() - started
        finally:
            os.kill(prom, signal.SIGCONT) if netmem.poll() is None else None
            if netmem.poll() is None:
                netmem.kill()
    assert netmem.returncode == 1, stderr
    assert "the run failed: Prometheus gave no reading for 10 s" in stderr and "does not answer" in stderr, stderr
    assert took < 20
    rec = record.load(out)
    assert rec["completed"] is False
    p = rec["target"]["prometheus"]
    assert p["url"] == url and p["scrape_interval_s"] == 1 and p["series_min"] == p["series_max"] == 1
    paused, gone = p["gaps"][0], p["gaps"][-1]
    assert 3 <= paused["to_s"] - paused["from_s"] <= 7, paused
    # A stopped Prometheus did not scrape either: query_range had nothing for the pause, and the record says so.
    assert paused["filled"] == 0 and ("does not answer" in paused["reason"] or "timed out" in paused["reason"]), paused
    t = rec["observations"]["t_s"]
    assert all(b > a for a, b in itertools.pairwise(t)), "readings in time order"
    assert gone["to_s"] is not None and gone["to_s"] - gone["from_s"] >= 10
    memory = rec["observations"]["memory_bytes"]
    assert abs(memory[-1] - rss) <= 0.1 * rss, (memory[-1], rss)  # what Prometheus held is redis's RSS


PER_USER_USERS = 300


@pytest.mark.slow
def test_memory_per_user_through_prometheus_matches_the_figure_measured_by_pid(tmp_path, netmem_cmd):
    need_locust()
    remote_out, local_out = tmp_path / "remote.json", tmp_path / "local.json"
    with redis_server() as (redis, port), prometheus_stack(tmp_path, "redis", f"redis-server.*:{port}") as url, \
            cluster("redis_user.py", f"127.0.0.1:{port}", users=PER_USER_USERS, spawn_rate=15, run_time_s=30,
                    workers=2, log_dir=tmp_path) as locust:
        common = ["--locust", locust.url, "--until-locust-stops", "--duration", "90", "--no-save"]
        remote = subprocess.Popen([*netmem_cmd, "run", "observe", "--prometheus", url, "--memory-query",
                                   RESIDENT.format(name="redis"), "--connections-query", FDS.format(name="redis"),
                                   "--json", str(remote_out), *common], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        local = subprocess.Popen([*netmem_cmd, "run", "observe", "--attach", str(redis.pid), "--json",
                                  str(local_out), *common], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(3)  # both read the idle server first
        locust.start_workers()
        remote_text, remote_err = remote.communicate(timeout=120)
        _, local_err = local.communicate(timeout=120)
    assert remote.returncode == 0, remote_err
    assert local.returncode == 0, local_err
    by_prometheus = record.load(remote_out)["load"]["figures"]
    by_pid = record.load(local_out)["load"]["figures"]
    assert by_pid["per_user_bytes"] and by_prometheus["per_user_bytes"], (by_pid, by_prometheus)
    print(f"per user: {by_prometheus['per_user_bytes']:.0f} B through Prometheus, {by_pid['per_user_bytes']:.0f} B"
          " by PID")  # pytest -s shows it: docs/remote.md quotes these
    assert abs(by_prometheus["per_user_bytes"] - by_pid["per_user_bytes"]) <= 0.3 * by_pid["per_user_bytes"], (
        by_prometheus["per_user_bytes"], by_pid["per_user_bytes"])
    assert by_prometheus["steady"]["leak_verdict"] is not None and by_pid["steady"]["leak_verdict"] is not None
    assert "Target: Prometheus at" in remote_text and "Readings every 1 s" in remote_text
    assert "sampled every 1000 ms" in remote_text.splitlines()[0]  # the scrape interval, not --interval's 100 ms


@pytest.mark.slow
def test_a_gap_netmem_could_not_read_is_filled_with_what_prometheus_scraped_meanwhile(tmp_path):
    from netmem_gui.core.config import RunConfig
    from netmem_gui.core.targets.prometheus import PrometheusTarget

    with redis_server() as (_, port), prometheus_stack(tmp_path, "redis", f"redis-server.*:{port}") as url:
        target = PrometheusTarget(RunConfig(scenario="observe", prometheus_url=url,
                                            memory_query=RESIDENT.format(name="redis"), interval_ms=1000))
        assert len(target.readings()) == 1
        target.base = url.rsplit(":", 1)[0] + ":1"  # netmem can't reach it for a while; Prometheus goes on scraping
        clients = []
        for _ in range(5):
            time.sleep(1)
            assert target.readings() == []
            for _ in range(200):  # redis grows while netmem can't see it
                s = socket.create_connection(("127.0.0.1", port))
                s.sendall(b"PING\r\n")
                clients.append(s)
        target.base = url
        time.sleep(1.2)
        rows = target.readings()
        for s in clients:
            s.close()
    gap = target.gaps[0]
    assert gap["filled"] == len(rows) - 1 >= 2, (gap, rows)
    times = [r[0] for r in rows]
    assert gap["from"] - 1.5 < times[0] and times[-2] < gap["to"] and times == sorted(times)
    memory = [r[2] for r in rows]
    assert memory[-1] > memory[0], memory  # the filled readings follow redis's growth, not a repeat of the last one
