"""The run library: where it lives, saving, listing (damaged files too), labelling, deleting, finding by ID."""

from __future__ import annotations

import json
import re

import pytest
from records import edited, real_record

from netmem_gui.core.records import record
from netmem_gui.core.runs import library


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.setenv("NETMEM_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data" / "runs"


def test_the_env_var_overrides_the_data_folder(folder):
    assert library.library_dir() == folder
    assert not folder.exists()  # nothing is created until a run is saved
    assert library.list_runs() == []


def test_without_the_env_var_the_platform_data_folder_is_used(monkeypatch):
    from platformdirs import user_data_dir

    monkeypatch.delenv("NETMEM_DATA_DIR")
    assert library.library_dir() == library.Path(user_data_dir("netmem", appauthor=False)) / "runs"


def test_save_run_writes_a_valid_record_under_a_unique_dated_name(folder):
    rec = real_record()
    first = library.save_run(rec)
    second = library.save_run(rec)
    assert first.id != second.id
    assert re.fullmatch(r"\d{8}T\d{6}Z-all-[0-9a-f]{6}", first.id)
    assert first.id[:8] == rec["started_at"][:10].replace("-", "")
    assert first.path == folder / f"{first.id}.json"
    assert record.load(first.path) == json.loads(json.dumps(rec))
    # With the library's index, which save_run keeps up to date (nothing else: no temporary file left)
    assert sorted(p.name for p in folder.iterdir()) == sorted([f"{first.id}.json", f"{second.id}.json",
                                                                library.INDEX_NAME])


def test_list_shows_what_the_library_window_needs(folder):
    rec = real_record()
    saved = library.save_run(rec)
    [entry] = library.list_runs()
    assert entry == saved
    assert entry.scenario == "all" and entry.host == "inapp" and entry.completed is True
    assert entry.counts == {"connections": rec["scenarios"]["connections"]["connections_created"],
                            "messages": rec["scenarios"]["messages"]["messages_echoed"],
                            "cycles": rec["scenarios"]["stability"]["cycles_ok"]}
    assert entry.peak_rss_bytes == rec["summary"]["peak_rss_bytes"]
    assert entry.verdict == rec["summary"]["leak_verdict"]["verdict"]
    assert entry.verdict_source == "leak_verdict"
    assert entry.damaged is None
    assert json.loads(json.dumps(entry.to_dict()))["id"] == entry.id


def test_the_trend_verdict_is_listed_when_a_record_has_one(folder):
    rec = edited(leak_verdict="POSSIBLE LEAK")
    rec["summary"]["baseline_rule"]["verdict"] = "OK"
    library.save_run(rec)
    [entry] = library.list_runs()
    assert (entry.verdict, entry.verdict_source) == ("POSSIBLE LEAK", "leak_verdict")


def test_damaged_files_are_listed_with_their_reason_never_fatal(folder):
    good = library.save_run(real_record())
    (folder / "20200101T000000Z-all-000001.json").write_text("")
    (folder / "20200101T000000Z-all-000002.json").write_text('{"schema": "netmem.run/1", "tool": ')
    (folder / "20200101T000000Z-all-000003.json").write_text('{"schema": "netmem.run/2"}')
    (folder / ".20200101T000000Z-all-000004.json.x.tmp").write_text("half written")  # record.save's temp file
    (folder / "notes.txt").write_text("not a record and not .json")
    entries = library.list_runs()
    assert [e.id for e in entries] == [good.id, "20200101T000000Z-all-000003", "20200101T000000Z-all-000002",
                                       "20200101T000000Z-all-000001"]
    reasons = [e.damaged for e in entries[1:]]
    assert reasons[0] == "not a netmem.run/1 record (schema 'netmem.run/2')"
    assert reasons[1].startswith("not JSON (")
    assert reasons[2] == "empty file"
    assert all("\n" not in r and str(folder) not in r for r in reasons)


def test_label_rewrites_the_record_and_an_empty_label_removes_it(folder):
    saved = library.save_run(real_record())
    entry = library.set_label(saved.id, "before the fix")
    assert entry.label == "before the fix"
    assert record.load(saved.path)["label"] == "before the fix"
    assert library.set_label(saved.id, "").label is None
    assert record.load(saved.path)["label"] is None
    # Atomic: no temporary file left, beside the record and the library's index
    assert sorted(p.name for p in folder.iterdir()) == sorted([saved.path.name, library.INDEX_NAME])


def test_find_by_whole_id_short_id_or_unique_beginning(folder):
    a = library.save_run(real_record())
    b = library.save_run(edited(label="b"))
    short = a.id.rsplit("-", 1)[1]
    assert library.find(a.id) == a.path
    assert library.find(short) == a.path
    assert library.find(b.id[:-2]) == b.path
    with pytest.raises(library.LibraryError, match="names 2 runs"):
        library.find(a.id[:8])
    with pytest.raises(library.LibraryError, match="no run with that ID"):
        library.find("nothing-like-it")


def test_resolve_prefers_a_file_and_falls_back_to_the_library(folder, tmp_path):
    saved = library.save_run(real_record())
    outside = tmp_path / "elsewhere.json"
    record.save(real_record(), outside)
    assert library.resolve(str(outside)) == outside
    assert library.resolve(saved.id) == saved.path
    assert library.resolve("missing.json") == library.Path("missing.json")  # record.load then says "no such file"


def test_delete_removes_good_and_damaged_runs(folder):
    saved = library.save_run(real_record())
    bad = folder / "20200101T000000Z-all-0000aa.json"
    bad.write_text("{")
    assert library.delete(saved.id) == saved.path
    assert library.delete("0000aa") == bad
    assert library.list_runs() == []
    with pytest.raises(library.LibraryError):
        library.delete(saved.id)


def test_the_list_says_what_each_run_measured(folder, capsys):
    """Runs of redis attached, redis spawned and the echo server all read 'stability · isolated' (#26)."""
    from netmem_gui import cli

    echo = real_record()
    redis = real_record()
    redis["config"]["attach_pid"] = 4242
    redis["target"] = {**(redis.get("target") or {}), "kind": "attach", "name": "redis-server", "pid": 4242}
    library.save_run(echo)
    library.save_run(redis)
    assert sorted(e.target for e in library.list_runs()) == ["echo server", "redis-server attached"]
    assert cli.main(["runs"]) == 0
    listed = capsys.readouterr().out
    assert "measured" in listed.splitlines()[1] and "redis-server attached" in listed and "echo server" in listed
