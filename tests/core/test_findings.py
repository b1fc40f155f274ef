"""Findings: each rule on real small runs that show its symptom and on runs that don't, in the record and report."""

from __future__ import annotations

import asyncio
import copy
import json

import pytest
from conftest import run_to_end, small_config
from test_leak_cli import leak_line

from netmem_gui.core.records import record
from netmem_gui.core.reports import findings, report
from netmem_gui.core.running.execute import execute
from netmem_gui.core.runs.run import Run

LEAK = 64 * 1024


def _ids(rec) -> list[str]:
    return [f["id"] for f in rec["findings"]]


def _record(config, expectations=None, name=None):
    run = run_to_end(config)
    assert run.completed, run.stop_reason
    if expectations is not None:
        run.expectations, run.expectations_name = expectations, name
    return record.validate(run.record())


@pytest.fixture(scope="module")
def clean_rounds():
    """A clean connections run of two rounds: the symptom-free counterpart of the connection rules."""
    return _record(small_config("connections", "isolated", connections=30, rounds=2))


@pytest.fixture(scope="module")
def leaky_rounds():
    """Every connection leaves 64 KiB behind (--inject-leak) for two rounds."""
    return _record(small_config("connections", "isolated", connections=30, rounds=2, inject_leak_bytes=LEAK))


def test_a_clean_run_has_no_findings_and_says_so(clean_rounds):
    assert clean_rounds["findings"] == []
    text = report.render(clean_rounds)
    assert text.endswith(f"=== Findings ===\n{report.NOTHING_FOUND}")


def test_memory_grows_over_time_names_the_leaking_line_with_tracing():
    rec = _record(small_config("stability", "isolated", duration_s=1.5, inject_leak_bytes=4096,
                               trace_allocations=True))
    grows = [f for f in rec["findings"] if f["id"] == "memory-grows"]
    assert len(grows) == 1, rec["findings"]
    finding = grows[0]
    assert finding["symptom"] == "Memory grows over time" and finding["scenario"] == "stability"
    evidence = {e["name"]: e for e in finding["evidence"]}
    assert evidence["Leak verdict"]["value"] == "POSSIBLE LEAK"
    assert evidence["RSS growth per cycle"]["unit"] == "bytes/cycle"
    assert evidence["Traced Python memory growth per cycle"]["value"] == pytest.approx(4096, rel=0.15)
    first = finding["next_steps"][0]["text"]
    assert f"workload.py:{leak_line()} +" in first  # the top site that grew, from the record's allocations
    memray = next(s["command"] for s in finding["next_steps"] if s["command"] and "memray" in s["command"])
    assert memray.startswith("PYTHONMALLOC=malloc memray run -o netmem-memray.bin -m netmem_gui.cli run stability")
    assert "--host inapp" in memray and "--trace-allocations" not in memray
    text = report.render(rec)
    assert "1. Memory grows over time (stability): the server keeps memory on every cycle" in text
    assert "   Evidence: Leak verdict: POSSIBLE LEAK; RSS growth per cycle: " in text


def test_memory_grows_without_tracing_gives_the_command_that_traces():
    rec = _record(small_config("stability", "isolated", duration_s=1.5, inject_leak_bytes=LEAK))
    finding = next(f for f in rec["findings"] if f["id"] == "memory-grows")
    command = finding["next_steps"][0]["command"]
    assert command == "netmem run stability --duration 1.5 --interval 20 --inject-leak 65536 --trace-allocations"


def test_a_clean_stability_run_does_not_say_memory_grows():
    rec = _record(small_config("stability", "isolated", duration_s=1.5))
    assert rec["scenarios"]["stability"]["leak_verdict"]["verdict"] != "POSSIBLE LEAK"
    assert "memory-grows" not in _ids(rec)


def test_memory_not_released_fires_when_each_round_keeps_what_it_took(leaky_rounds, clean_rounds):
    assert "not-released" in _ids(leaky_rounds)
    finding = next(f for f in leaky_rounds["findings"] if f["id"] == "not-released")
    evidence = {e["name"]: e for e in finding["evidence"]}
    kept = evidence["Memory kept per round"]
    assert kept["unit"] == "bytes/round" and kept["value"] > 30 * LEAK * 0.5
    assert evidence["Share kept per round"]["value"] > 100 * findings.NOT_RELEASED_SHARE
    assert any("connection_lost" in s["text"] for s in finding["next_steps"])
    # The clean run returned as little RSS to the OS, but its second round reused it: no finding.
    fig = clean_rounds["scenarios"]["connections"]
    assert fig["rss_growth_per_round_bytes"] < findings.NOT_RELEASED_MIN_BYTES
    assert "not-released" not in _ids(clean_rounds)


def test_one_round_never_says_not_released_and_the_report_says_why():
    rec = _record(small_config("connections", "isolated", connections=30, inject_leak_bytes=LEAK))
    assert rec["scenarios"]["connections"]["rss_growth_per_round_bytes"] is None
    assert "not-released" not in _ids(rec)
    assert "--rounds 2 tells them apart" in report.render(rec)


def test_high_per_connection_memory_against_the_expectations_file(leaky_rounds, clean_rounds):
    doc = {"schema": "netmem.expectations/1", "connections": {"per_connection": {"bytes": "8 KB",
                                                                                 "tolerance": "50 %"}}}
    found = findings.evaluate(leaky_rounds, doc, "ours.toml")
    high = next(f for f in found if f["id"] == "high-per-connection")
    evidence = {e["name"]: e["value"] for e in high["evidence"]}
    assert evidence["Limit"] == 12 * 1024
    assert evidence["Limit from"] == "ours.toml: per_connection 8 KB ± 50 %"
    assert evidence["Per-connection overhead"] == leaky_rounds["scenarios"]["connections"]["per_connection_bytes"]
    assert "high-per-connection" not in [f["id"] for f in findings.evaluate(clean_rounds, doc, "ours.toml")]
    # No file: netmem's default limit, which a clean server stays far below.
    assert findings.per_connection_limit(None)[0] == findings.DEFAULT_PER_CONNECTION_LIMIT_BYTES
    assert "high-per-connection" not in _ids(clean_rounds)


def test_the_expectations_limit_reaches_the_record_through_the_run():
    doc = {"schema": "netmem.expectations/1", "connections": {"per_connection": {"bytes": 4096, "tolerance": 0}}}
    config = small_config("connections", "isolated", connections=30, inject_leak_bytes=LEAK)
    run = asyncio.run(execute(Run(config, expectations=doc, expectations_name="x.toml")))
    high = next(f for f in run.record()["findings"] if f["id"] == "high-per-connection")
    assert {"name": "Limit from", "value": "x.toml: per_connection 4096 ± 0", "unit": ""} in high["evidence"]


def test_too_few_connections_give_no_per_connection_finding():
    rec = _record(small_config("connections", "isolated", connections=10, inject_leak_bytes=LEAK))
    doc = {"schema": "netmem.expectations/1", "connections": {"per_connection": {"bytes": 1024, "tolerance": 0}}}
    assert rec["scenarios"]["connections"]["per_connection_bytes"] > 1024
    assert "high-per-connection" not in [f["id"] for f in findings.evaluate(rec, doc)]


def test_native_targets_get_heaptrack_valgrind_and_asan_command_lines(leaky_rounds):
    attached = copy.deepcopy(leaky_rounds)
    attached["target"] = {"kind": "attach", "pid": 4242, "command": ["redis-server", "--port", "6400"]}
    steps = [s["command"] for f in findings.evaluate(attached) if f["id"] == "not-released" for s in f["next_steps"]]
    # heaptrack -p writes its file only when the server exits: netmem starts the server under heaptrack instead.
    assert steps[0].startswith("netmem run ") and "--spawn 'redis-server --port 6400'" in steps[0]
    assert "--trace-allocations" in steps[0] and "--attach" not in steps[0]
    assert steps[1:3] == ["valgrind --leak-check=full --show-leak-kinds=all redis-server --port 6400",
                          "ASAN_OPTIONS=detect_leaks=1 redis-server --port 6400"]
    spawned = copy.deepcopy(leaky_rounds)
    spawned["config"]["spawn"] = "redis-server --port {port} --save ''"
    spawned["target"] = {"kind": "spawn"}
    doc = {"schema": "netmem.expectations/1", "connections": {"per_connection": {"bytes": 1024, "tolerance": 0}}}
    high = next(f for f in findings.evaluate(spawned, doc) if f["id"] == "high-per-connection")
    commands = [s["command"] for s in high["next_steps"]]
    assert any(c.startswith("netmem run ") and "--trace-allocations" in c and "--spawn" in c for c in commands)
    assert "valgrind --tool=massif redis-server --port {port} --save ''" in commands


def test_old_records_without_findings_still_load_and_report(clean_rounds, tmp_path):
    old = copy.deepcopy(clean_rounds)
    del old["findings"]
    del old["scenarios"]["connections"]["rss_growth_per_round_bytes"]
    path = tmp_path / "old.json"
    path.write_text(json.dumps(old), encoding="utf-8")
    loaded = record.load(path)
    text = report.render(loaded)
    assert "=== Findings ===" not in text and "--rounds 2 tells them apart" not in text


def test_the_schema_rejects_a_malformed_finding(clean_rounds):
    bad = copy.deepcopy(clean_rounds)
    bad["findings"] = [{"id": "memory-grows", "symptom": "x"}]
    with pytest.raises(record.RecordError, match="findings/0"):
        record.validate(bad)


def test_cli_run_with_expect_reports_the_finding_and_a_bad_file_is_one_line(tmp_path):
    from test_cli import assert_one_line_error, netmem

    toml = tmp_path / "ours.toml"
    toml.write_text('schema = "netmem.expectations/1"\n[connections.per_connection]\nbytes = "4 KB"\n'
                    'tolerance = "25 %"\n', encoding="utf-8")
    done = netmem("run", "connections", "--connections", "30", "--inject-leak", "65536", "--interval", "20",
                  "--expect", str(toml))
    assert done.returncode == 0, done.stderr
    assert "1. High per-connection memory (connections): each connection costs" in done.stdout
    assert f"Limit from: {toml}: per_connection 4 KB ± 25 %" in done.stdout
    assert_one_line_error(netmem("run", "connections", "--expect", str(tmp_path / "none.toml")), "none.toml")
    toml.write_text("schema = 1\n", encoding="utf-8")
    assert_one_line_error(netmem("run", "connections", "--expect", str(toml)), "not a netmem.expectations/1 file")


def test_the_default_limit_finds_a_server_holding_64_kib_a_connection_and_nothing_else():
    from pathlib import Path

    servers = str(Path(__file__).parent / "user_servers")
    rec = _record(small_config("connections", "isolated", connections=40, rounds=2, server="kinds:Hoarder",
                               app_dir=servers))
    assert rec["scenarios"]["connections"]["per_connection_bytes"] > findings.DEFAULT_PER_CONNECTION_LIMIT_BYTES
    assert _ids(rec) == ["high-per-connection"]  # it gives the memory back: round 2 reuses it
    high = rec["findings"][0]
    assert {"name": "Limit from", "value": "netmem's default (docs/findings.md)", "unit": ""} in high["evidence"]
    memray = next(s["command"] for s in high["next_steps"] if s["command"] and "memray" in s["command"])
    assert memray.startswith("memray run -o netmem-memray.bin -m netmem_gui.cli run connections")
    assert f"--server kinds:Hoarder --app-dir {servers}" in memray
