"""Each scenario, on each host, with small counts: the checkpoints, the counts and the record."""

from __future__ import annotations

import json

import psutil
import pytest
from conftest import run_to_end, small_config

from netmem_gui.core.config import RunConfig
from netmem_gui.core.records import record

HOSTS = ["inapp", "isolated"]


def labels(run, scenario):
    return [cp["label"] for cp in run.checkpoints if cp["scenario"] == scenario]


@pytest.mark.parametrize("host", HOSTS)
def test_connections_scenario(host):
    run = run_to_end(small_config("connections", host, connections=30))
    assert run.completed, run.stop_reason
    assert labels(run, "connections") == [
        "Baseline", "After server start", "After 10 connections", "After 20 connections", "After 30 connections",
        "After closing clients", "After server stop"]
    held = [cp["connections"] for cp in run.checkpoints if cp["label"].endswith(" connections")]
    assert held == [10, 20, 30]
    fig = run.figures()["scenarios"]["connections"]
    assert (fig["connections_created"], fig["connections_failed"]) == (30, 0)
    assert fig["per_connection_fit"]["points"] == 4
    assert fig["per_connection_bytes"] is not None
    assert run.measured["role"] == ("app" if host == "inapp" else "server")
    record.validate(run.record())


@pytest.mark.parametrize("host", HOSTS)
def test_messages_scenario_checks_every_echo(host):
    run = run_to_end(small_config("messages", host, connections=3, messages=300))
    assert run.completed, run.stop_reason
    assert labels(run, "messages") == [
        "Baseline", "After server start", "After connecting clients", "After 100 messages", "After 200 messages",
        "After 300 messages", "After processing", "After cleanup"]
    fig = run.figures()["scenarios"]["messages"]
    assert (fig["messages_echoed"], fig["messages_mismatched"], fig["clients"]) == (300, 0, 3)
    assert fig["bytes_echoed"] == 300 * 512
    assert fig["messages_per_s"] > 0
    record.validate(run.record())


@pytest.mark.parametrize("host", HOSTS)
def test_stability_scenario_cycles_for_its_duration(host):
    run = run_to_end(small_config("stability", host, duration_s=0.6))
    assert run.completed, run.stop_reason
    fig = run.figures()["scenarios"]["stability"]
    assert fig["cycles"] >= 10
    assert fig["cycles_ok"] == fig["cycles"]
    assert 0.6 <= fig["duration_s"] < 5
    got = labels(run, "stability")
    assert got[:2] == ["Baseline", "After server start"]
    assert got[-2:] == ["After stability run", "After server stop"]
    assert "After 10 cycles" in got
    assert fig["drift_bytes"] is not None and fig["peak_rss_bytes"] >= fig["rss_at_start_bytes"]


@pytest.mark.parametrize("host", HOSTS)
def test_all_runs_the_three_in_order_in_one_record(host):
    run = run_to_end(small_config("all", host, connections=4, messages=100, duration_s=0.3))
    assert run.completed, run.stop_reason
    rec = record.validate(run.record())
    assert list(rec["scenarios"]) == ["connections", "messages", "stability"]
    order = [cp["scenario"] for cp in rec["checkpoints"]]
    assert order == sorted(order, key=["connections", "messages", "stability"].index)
    assert len(rec["samples"]["t_s"]) >= 5
    assert rec["samples"]["t_s"] == sorted(rec["samples"]["t_s"])
    assert rec["summary"]["baseline_rss_bytes"] == rec["checkpoints"][0]["rss_bytes"]
    assert rec["summary"]["baseline_rule"]["verdict"] in ("OK", "POSSIBLE LEAK")


def test_isolated_host_measures_a_child_not_this_process():
    run = run_to_end(small_config("connections", "isolated", connections=5))
    pid = run.measured["pid"]
    assert pid != psutil.Process().pid
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert psutil.Process().children(recursive=True) == []


def test_a_port_in_use_ends_the_run_with_the_reason():
    import socket

    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    try:
        run = run_to_end(small_config("connections", "inapp", connections=2, port=port))
    finally:
        holder.close()
    assert not run.completed
    assert f"cannot listen on 127.0.0.1:{port}" in run.stop_reason


@pytest.mark.parametrize("host", HOSTS)
def test_the_server_loops_lag_and_the_samplers_cost_are_recorded(host):
    run = run_to_end(small_config("stability", host, duration_s=0.6, interval_ms=20))
    rec = record.validate(run.record())
    lag = rec["loop_lag"]
    assert len(lag["t_s"]) == len(lag["lag_s"]) >= 10  # one reading per 20 ms interval of a 0.6 s run, at least
    assert all(x >= 0 for x in lag["lag_s"])
    summary = rec["summary"]
    assert 0 <= summary["loop_lag_p50_s"] <= summary["loop_lag_p99_s"] <= summary["loop_lag_max_s"]
    assert summary["loop_lag_max_s"] == pytest.approx(max(lag["lag_s"]), abs=1e-6)
    assert 0 < summary["sampler_cpu_percent"] < 100


def test_now_gives_the_latest_sample_and_its_delta_from_the_baseline():
    run = run_to_end(small_config("connections", "inapp", connections=10))
    now = run.now()
    _, rss, _ = run.samples.view()
    assert now["rss_bytes"] == int(rss[-1])
    assert now["delta_bytes"] == int(rss[-1]) - run.checkpoints[0]["rss_bytes"]
    assert now["open_connections"] == 0  # the last checkpoint: after the server stopped


def test_every_type_of_event_has_one_maker_and_one_handler():
    from netmem_gui.core import events
    from netmem_gui.core.runs import run as run_module

    assert set(run_module._HANDLERS) == events.TYPES and len(events.TYPES) == 12
    run = run_module.Run(RunConfig(scenario="stability"))
    made = [events.phase("stability", "start", run.t0 + 1), events.target(42, "server", {"name": "x"}),
            events.checkpoint("stability", "Baseline", run.t0 + 1, 10, 20, 0, 0), events.lag(run.t0 + 1, 0.001),
            events.cycles("stability", 1, [10, 11], None, [run.t0 + 1, run.t0 + 2]),
            events.progress("stability", 1, 2, "s"),
            events.result("stability", {"cycles": 2}), events.server_errors(1, "Traceback"),
            events.allocations("stability", "a", "b", []), events.observations("stability", [run.t0 + 1], [0], [10]),
            events.sent("backpressure", [run.t0 + 1], [65536], [10], [4096]), events.end(False, "stopped")]
    assert {e["type"] for e in made} == events.TYPES
    for event in made:
        assert events.from_json(json.dumps(event)) == event  # as it crosses the isolated host's pipe
        run.handle(event)
    assert run.ended and not run.completed and run.stop_reason == "stopped" and run.measured["pid"] == 42
    assert len(run.checkpoints) == 1 and run.results["stability"] == {"cycles": 2} and len(run.lag) == 1
    assert run.sent == {"t_s": [1.0], "sent_bytes": [65536], "memory_bytes": [10], "kernel_bytes": [4096]}
    for bad in ("[1, 2]", '{"type": "nonsense"}', "{}"):
        with pytest.raises(ValueError):
            events.from_json(bad)


def test_a_live_verdict_that_had_too_few_cycles_is_fitted_again_with_the_next_batch():
    """It was refitted only every 10 s: a 10 s stability run said "too few cycles" for its whole length."""
    from netmem_gui.core import events
    from netmem_gui.core.runs.run import Run

    run = Run(RunConfig(scenario="stability"))
    run.handle(events.phase("stability", "start", run.t0))
    run.handle(events.checkpoint("stability", "Baseline", run.t0, 10_000_000, 20_000_000, 0, 0))
    run.handle(events.cycles("stability", 1, [10_000_000] * 5, None, [run.t0 + i / 100 for i in range(5)]))
    early = run.figures(max_age_s=0)["scenarios"]["stability"]["leak_verdict"]["rss"]
    assert early["slope_bytes_per_cycle"] is None and early["reason"].startswith("too few cycles")
    run.handle(events.cycles("stability", 6, [10_000_000 + 4096 * i for i in range(200)], None,
                             [run.t0 + (5 + i) / 100 for i in range(200)]))
    later = run.figures(max_age_s=0)["scenarios"]["stability"]["leak_verdict"]["rss"]
    assert later["verdict"] == "POSSIBLE LEAK" and later["cycles"] == 205
