"""The run record: schema round trip, atomic writing, and one clear line for anything malformed."""

from __future__ import annotations

import copy
import json
import os

import pytest
from conftest import run_to_end, small_config

from netmem_gui.core.records import record


@pytest.fixture(scope="module")
def real_record():
    return run_to_end(small_config("all", "inapp", connections=3, messages=100, duration_s=0.3)).record()


def test_round_trip_is_lossless(real_record, tmp_path):
    path = tmp_path / "run.json"
    record.save(real_record, path)
    assert record.load(path) == json.loads(json.dumps(real_record))
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]  # no temporary file left behind


def test_record_holds_what_the_issue_lists(real_record):
    rec = real_record
    assert rec["schema"] == "netmem.run/1"
    assert rec["tool"]["name"] == "netmem"
    assert rec["started_at"].endswith("Z")
    assert {"os", "python", "psutil", "page_size", "cpu_count"} <= set(rec["platform"])
    assert rec["config"]["scenario"] == "all" and rec["config"]["host"] == "inapp"
    samples = rec["samples"]
    assert len(samples["t_s"]) == len(samples["rss_bytes"]) == len(samples["vms_bytes"]) > 0
    assert rec["completed"] is True
    assert rec["summary"]["baseline_rule"]["rule"] == "final RSS > baseline RSS + 1 MiB"


def test_schema_is_shipped_and_valid_json():
    doc = json.loads(record.schema_text())
    assert doc["properties"]["schema"]["const"] == "netmem.run/1"


def broken(rec, mutate):
    rec = copy.deepcopy(rec)
    mutate(rec)
    return rec


@pytest.mark.parametrize(("content", "words"), [
    ("", "empty file"),
    ("{not json", "not JSON"),
    ('{"schema": "netmem.run/1", "tool": ', "not JSON"),
    ("[1, 2, 3]", "expected a JSON object"),
    ('{"schema": "netmem.run/2"}', "not a netmem.run/1 record (schema 'netmem.run/2')"),
    ('{"hello": 1}', "no schema tag"),
])
def test_malformed_files_are_refused_in_one_line(tmp_path, content, words):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(record.RecordError) as err:
        record.load(path)
    message = str(err.value)
    assert words in message and str(path) in message and "\n" not in message


@pytest.mark.parametrize(("mutate", "words"), [
    (lambda r: r.pop("samples"), "'samples' is a required property"),
    (lambda r: r["checkpoints"][0].__setitem__("rss_bytes", "lots"), "checkpoints/0/rss_bytes"),
    (lambda r: r["config"].__setitem__("host", "cloud"), "config/host"),
    (lambda r: r.__setitem__("completed", "yes"), "completed"),
])
def test_records_that_break_the_schema_are_refused(real_record, tmp_path, mutate, words):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(broken(real_record, mutate)))
    with pytest.raises(record.RecordError) as err:
        record.load(path)
    assert words in str(err.value)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(record.RecordError, match="no such file"):
        record.load(tmp_path / "nope.json")
    with pytest.raises(record.RecordError, match="is a folder"):
        record.load(tmp_path)


def test_a_failed_write_leaves_the_old_file_whole(real_record, tmp_path):
    path = tmp_path / "run.json"
    record.save(real_record, path)
    before = path.read_text()
    with pytest.raises(ValueError):
        record.save(broken(real_record, lambda r: r["summary"].__setitem__("delta_bytes", float("nan"))), path)
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]


def test_check_writable(tmp_path):
    record.check_writable(tmp_path / "ok.json")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(record.RecordError, match="does not exist"):
        record.check_writable(tmp_path / "missing" / "x.json")
    with pytest.raises(record.RecordError, match="is a folder"):
        record.check_writable(tmp_path)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root can write anywhere")
def test_check_writable_read_only_folder(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    with pytest.raises(record.RecordError, match="cannot write"):
        record.check_writable(folder / "x.json")


def test_records_with_older_key_names_load_under_todays_names(tmp_path, real_record):
    rec = json.loads(record.dumps(real_record))
    rec["summary"]["seed_leak_rule"] = rec["summary"].pop("baseline_rule")
    if "stability" in rec["scenarios"]:
        rec["scenarios"]["stability"]["iterations"] = rec["scenarios"]["stability"].pop("cycles")
    path = tmp_path / "old.json"
    path.write_text(json.dumps(rec))
    loaded = record.load(path)
    assert "seed_leak_rule" not in loaded["summary"] and loaded["summary"]["baseline_rule"]["verdict"] in (
        "OK", "POSSIBLE LEAK")
    assert loaded["scenarios"]["stability"]["cycles"] > 0
