"""The leak verdict end to end: --inject-leak, --fail-on-leak, --trace-allocations, --rounds, and bad input."""

from __future__ import annotations

import inspect

import pytest
from conftest import run_to_end, small_config
from test_cli import assert_one_line_error, netmem

from netmem_gui.core.load import workload
from netmem_gui.core.records import record

BIG_LEAK = str(64 * 1024)
SHORT = ["--duration", "1.5", "--interval", "20"]


def leak_line() -> int:
    """Line of workload.py where the injected leak is allocated."""
    lines, first = inspect.getsourcelines(workload.EchoServer.keep_leak)
    return first + next(i for i, text in enumerate(lines) if "bytearray(" in text and "append" in text)


def test_inject_leak_gives_possible_leak_and_is_in_the_config(tmp_path):
    out = tmp_path / "leak.json"
    done = netmem("run", "stability", "--inject-leak", BIG_LEAK, "--json", str(out), *SHORT)
    assert done.returncode == 0, done.stderr  # without --fail-on-leak a leak is a finding, not a failure
    assert "Leak verdict: POSSIBLE LEAK" in done.stdout
    assert "Leak verdict (growth per cycle in steady state): POSSIBLE LEAK (stability)" in done.stdout
    assert "Baseline rule: POSSIBLE LEAK" in done.stdout
    rec = record.load(out)
    assert rec["config"]["inject_leak_bytes"] == 64 * 1024
    lv = rec["scenarios"]["stability"]["leak_verdict"]
    assert lv["verdict"] == "POSSIBLE LEAK" and lv["traced"] is None and lv["host_drift_included"] is False
    # The server keeps 64 KiB a cycle; RSS must show most of it.
    assert lv["rss"]["slope_bytes_per_cycle"] > 32 * 1024
    series = rec["cycle_series"]["stability"]
    assert len(series["cycle"]) == len(series["rss_bytes"]) == rec["scenarios"]["stability"]["cycles"]
    assert rec["summary"]["baseline_rule"]["verdict"] in ("OK", "POSSIBLE LEAK")


def test_fail_on_leak_exits_3_on_a_leak():
    done = netmem("run", "stability", "--inject-leak", BIG_LEAK, "--fail-on-leak", *SHORT)
    assert done.returncode == 3, done.stderr
    assert done.stderr.strip() == "netmem: leak verdict: POSSIBLE LEAK"
    assert "Leak verdict: POSSIBLE LEAK" in done.stdout


def test_fail_on_leak_exits_0_when_there_is_no_verdict_to_fail_on():
    # The connections scenario with one round has no repeated cycles: no verdict, so nothing to fail on.
    done = netmem("run", "connections", "--connections", "5", "--fail-on-leak", "--interval", "20")
    assert done.returncode == 0, done.stderr
    assert "Leak verdict (growth per cycle in steady state): n/a" in done.stdout


def test_trace_allocations_names_the_leaking_line_of_the_server(tmp_path):
    out = tmp_path / "traced.json"
    done = netmem("run", "stability", "--inject-leak", "4096", "--trace-allocations", "--json", str(out), *SHORT)
    assert done.returncode == 0, done.stderr
    rec = record.load(out)
    assert rec["config"]["trace_allocations"] is True
    sites = rec["allocations"]["stability"]["sites"]
    top = sites[0]
    assert top["file"].endswith("workload.py") and top["line"] == leak_line()
    assert top["size_diff_bytes"] >= 4096 * 10 and top["count_diff"] >= 10
    assert f"workload.py:{leak_line()}: +" in done.stdout
    traced = rec["scenarios"]["stability"]["leak_verdict"]["traced"]
    assert traced["verdict"] == "POSSIBLE LEAK"
    assert traced["slope_bytes_per_cycle"] == pytest.approx(4096, rel=0.1)
    assert "Traced Python memory growth: POSSIBLE LEAK" in done.stdout


@pytest.mark.parametrize("host", ["isolated", "inapp"])
def test_connection_rounds_give_a_checkpoint_per_round_and_a_verdict(host):
    cfg = small_config("connections", host, connections=10, rounds=15, inject_leak_bytes=64 * 1024)
    run = run_to_end(cfg)
    assert run.completed, run.stop_reason
    labels = [cp["label"] for cp in run.checkpoints]
    assert "Round 2: after 10 connections" in labels and "Round 15: after closing clients" in labels
    rec = record.validate(run.record())
    assert rec["cycle_series"]["connections"]["cycle"] == list(range(1, 16))
    lv = rec["scenarios"]["connections"]["leak_verdict"]
    assert lv["connections_per_cycle"] == 10
    assert lv["verdict"] == "POSSIBLE LEAK"
    assert lv["host_drift_included"] is (host == "inapp")
    fig = rec["scenarios"]["connections"]
    assert fig["connections_created"] == 150 and fig["per_connection_fit"]["points"] == 2
    assert fig["per_connection_end_minus_start_bytes"] == fig["client_bytes"] / 10  # round 1's connections


def test_the_server_process_does_not_load_numpy():
    # The verdict's maths must not add numpy's megabytes to the process it measures.
    import subprocess
    import sys

    code = "import sys, netmem_gui.core.running.worker; print('numpy' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


def test_inapp_trace_allocations_stops_tracemalloc_afterwards():
    import tracemalloc

    run = run_to_end(small_config("stability", "inapp", duration_s=0.5, trace_allocations=True))
    assert run.completed, run.stop_reason
    assert not tracemalloc.is_tracing()
    assert record.validate(run.record())["scenarios"]["stability"]["leak_verdict"]["traced"] is not None


@pytest.mark.parametrize(("args", "words"), [
    (["run", "stability", "--inject-leak", "-1"], "--inject-leak must be at least 0"),
    (["run", "stability", "--inject-leak", "99999999999"], "--inject-leak 99999999999 is more than the"),
    (["run", "stability", "--inject-leak", "1k"], "invalid int value: '1k'"),
    (["run", "connections", "--rounds", "0"], "--rounds must be at least 1"),
    (["run", "connections", "--rounds", "-2"], "--rounds must be at least 1"),
    (["run", "stability", "--trace-allocations=yes"], "ignored explicit argument 'yes'"),
    (["run", "stability", "--fail-on-leak=1"], "ignored explicit argument '1'"),
])
def test_bad_leak_options_get_one_line_and_status_2(args, words):
    assert_one_line_error(netmem(*args), words)
