"""Expectations files: sizes and tolerances, RSS at a connection count, each outcome, formats and bad files."""

from __future__ import annotations

import json

import pytest
from conftest import ROOT
from records import edited, real_record

from netmem_gui.core.reports import expectations as ex

EXAMPLE = ROOT / "resources" / "expectations" / "isolated-host.toml"
HEAD = 'schema = "netmem.expectations/1"\n'


@pytest.mark.parametrize(("text", "size"), [(512, 512.0), ("512 B", 512.0), ("1.5 KB", 1536.0),
                                            ("21.9 MB", 21.9 * 1024**2), (" 2 GB ", 2.0 * 1024**3)])
def test_parse_size(text, size):
    assert ex.parse_size(text) == size


def test_tolerance_is_a_size_or_a_percentage_of_the_expected_value():
    assert ex.tolerance_bytes("10 %", 2000) == 200
    assert ex.tolerance_bytes("1 KB", 2000) == 1024
    assert ex.tolerance_bytes(300, 2000) == 300


def cp(label, connections, rss, scenario="connections"):
    return {"scenario": scenario, "label": label, "t_s": 0.0, "rss_bytes": rss, "vms_bytes": rss,
            "connections": connections, "messages": 0}


def with_checkpoints():
    rec = real_record()
    rec["checkpoints"] = [cp("Baseline", 0, 900), cp("After server start", 0, 1000),
                          cp("After 50 connections", 50, 1500), cp("After 100 connections", 100, 3000),
                          cp("After closing clients", 0, 2800), cp("After 100 cycles", 0, 99, "stability")]
    return rec


def test_rss_at_a_checkpoint_between_two_and_outside():
    rec = with_checkpoints()
    assert ex.rss_at(rec, 0) == (1000.0, 'checkpoint "After server start"')
    assert ex.rss_at(rec, 100) == (3000.0, 'checkpoint "After 100 connections"')
    value, how = ex.rss_at(rec, 75)
    assert value == 2250.0 and how == 'interpolated between "After 50 connections" and "After 100 connections"'
    assert ex.rss_at(rec, 101) is None  # no extrapolation


def doc(body: str) -> dict:
    import tomllib

    return ex.validate(tomllib.loads(HEAD + body))


def statuses(report):
    return {o.key: o.status for o in report.outcomes}


def test_each_kind_of_expectation_is_met_or_breached():
    rec = with_checkpoints()
    rec["scenarios"]["connections"]["per_connection_bytes"] = 1200.0
    rec["scenarios"]["stability"]["drift_bytes"] = 100_000
    rec["scenarios"]["messages"]["messages_per_s"] = 5000.0
    report = ex.check(rec, doc("""
[[connections.rss]]
connections = 75
rss = 2200
tolerance = 100
[[connections.rss]]
connections = 100
rss = "4 KB"
tolerance = "10 %"
[[connections.rss]]
connections = 5000
rss = "40 MB"
tolerance = "10 %"
[connections.per_connection]
bytes = "1 KB"
tolerance = "20 %"
[messages]
min_per_s = 6000
[stability]
max_drift = "100 KB"
"""))
    assert statuses(report) == {
        "connections.rss[0]": "met",  # 2250 interpolated, within 100
        "connections.rss[1]": "breached",  # 3000 vs 4096 ± 410
        "connections.rss[2]": "not measured",
        "connections.per_connection": "met",  # 1200 vs 1024 ± 205
        "messages.min_per_s": "breached",
        "stability.max_drift": "met",  # 100,000 <= 102,400
    }
    assert [o.key for o in report.breached] == ["connections.rss[1]", "messages.min_per_s"]


def test_host_and_verdict():
    rec = edited(leak_verdict="POSSIBLE LEAK")
    report = ex.check(rec, doc('[applies_to]\nhost = "isolated"\n[summary]\nverdict = "OK"\n'))
    assert statuses(report) == {"applies_to.host": "breached", "summary.verdict": "breached"}
    assert report.outcomes[1].detail == "from leak_verdict"


def test_a_scenario_the_run_did_not_run_is_not_measured_not_breached():
    rec = real_record()
    del rec["scenarios"]["stability"]
    report = ex.check(rec, doc('[stability]\nmax_drift = "1 KB"\nmax_peak_rss = "1 KB"\n'))
    assert set(statuses(report).values()) == {"not measured"} and not report.breached


def test_the_shipped_example_is_valid_and_checks_a_real_record():
    example = ex.load(EXAMPLE)
    report = ex.check(real_record(), example, "run.json", str(EXAMPLE))
    keys = [o.key for o in report.outcomes]
    assert keys[0] == "applies_to.host" and "connections.per_connection" in keys
    assert report.outcomes[0].status == "breached"  # the real record here ran in-app


def test_formats():
    rec = with_checkpoints()
    report = ex.check(rec, doc('[[connections.rss]]\nconnections = 100\nrss = 1\ntolerance = 1\n'), "r.json", "e.toml")
    text = ex.render(report, "text")
    assert text.startswith("netmem check: r.json against e.toml")
    assert text.splitlines()[-1] == "BREACHED: 0 met, 1 breached."
    md = ex.render(report, "markdown").splitlines()
    assert md[0] == "### netmem check :x:"
    assert "| expectation | expected | measured | status | how |" in md
    assert any("**BREACHED**" in line for line in md)
    data = json.loads(ex.render(report, "json"))
    assert data["breached"] is True and data["counts"] == {"met": 0, "breached": 1, "not measured": 0}
    assert data["outcomes"][0]["measured"] == 3000.0


@pytest.mark.parametrize(("content", "words"), [
    ("", "not a netmem.expectations/1 file (no schema tag"),
    ('schema = "netmem.expectations/2"\n', "(schema 'netmem.expectations/2'"),
    (HEAD + "[connections\n", "not TOML ("),
    (HEAD + "[stability]\nmax_drift = \"lots\"\n", "invalid at stability.max_drift"),
    (HEAD + "[stability]\nmax_drfit = \"1 KB\"\n", "'max_drfit' was unexpected"),
    (HEAD + "[[connections.rss]]\nconnections = 10\nrss = \"1 MB\"\n", "'tolerance' is a required property"),
    (HEAD + "[[connections.rss]]\nconnections = -1\nrss = 1\ntolerance = 1\n", "connections.rss.0.connections"),
])
def test_malformed_files_are_refused_in_one_line_naming_the_problem(tmp_path, content, words):
    path = tmp_path / "bad.toml"
    path.write_text(content)
    with pytest.raises(ex.ExpectationsError) as err:
        ex.load(path)
    assert words in str(err.value) and str(path) in str(err.value) and "\n" not in str(err.value)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(ex.ExpectationsError, match="no such file"):
        ex.load(tmp_path / "none.toml")
    with pytest.raises(ex.ExpectationsError, match="is a folder"):
        ex.load(tmp_path)
