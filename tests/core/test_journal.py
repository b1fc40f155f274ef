"""The journal of a run: a killed run's journal becomes an interrupted run in the library; torn, empty and older
journals; the library's index."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import pytest
from conftest import small_config

from netmem_gui.core.records import record
from netmem_gui.core.reports import compare
from netmem_gui.core.running import execute as execute_module
from netmem_gui.core.running.execute import execute
from netmem_gui.core.runs import journal, library
from netmem_gui.core.runs.run import Run


def journaled_run(folder, scenario="stability", **overrides):
    """A real in-app run, journaled into the library `folder` as it went; its journal is left as a crash would."""
    run = Run(small_config(scenario, "inapp", **overrides), label="soak")
    library.start_journal(run, folder)
    asyncio.run(execute(run))
    assert run.journal.closed and run.journal.path.exists()
    return run, run.journal.path


def dead_writer() -> dict:
    """The writer of a journal whose process has ended (a pid that no longer runs)."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return {"pid": int(done.stdout), "started": 0.0}


def as_killed(path) -> None:
    """Make the journal's writer a process that is gone, as after a SIGKILL."""
    lines = path.read_text().split("\n")
    head = json.loads(lines[0])
    head["writer"] = dead_writer()
    lines[0] = json.dumps(head)
    path.write_text("\n".join(lines))


def test_a_killed_runs_journal_is_listed_as_an_interrupted_run_that_opens_and_compares(tmp_path):
    run, path = journaled_run(tmp_path)
    as_killed(path)
    entries = library.list_runs(tmp_path)
    assert [e.id for e in entries] == [path.stem]
    entry = entries[0]
    assert entry.state == "interrupted" and entry.interrupted and not entry.completed and not entry.damaged
    assert entry.duration_s and entry.duration_s > 0.3 and entry.state_text().startswith("interrupted at ")
    assert entry.label == "soak" and entry.scenario == "stability"
    # Recovered into a record beside it, under the same ID; the journal has served.
    assert entry.path == path.with_suffix(".json") and not path.exists()
    rec = record.load(entry.path)
    assert rec["completed"] is False and rec["interrupted"] is True
    assert rec["stop_reason"].startswith("interrupted after ")
    live = run.record()
    assert rec["samples"] == live["samples"] and rec["checkpoints"] == live["checkpoints"]
    assert rec["cycle_series"] == live["cycle_series"] and rec["phases"] == live["phases"]
    assert rec["loop_lag"] == live["loop_lag"]
    result = compare.compare([live, rec], ["live", "recovered"])
    assert not result.regressed
    assert library.find(path.stem, tmp_path) == entry.path
    # Listed again: the same, from the index, and nothing left to recover.
    assert library.list_runs(tmp_path) == entries


def test_a_recovered_run_that_the_disk_cant_take_is_interrupted_not_damaged_and_saved_later(tmp_path, monkeypatch):
    """A full disk left the journal listed as DAMAGED ("recovered but not saved"): the run is whole in it."""
    _, path = journaled_run(tmp_path)
    as_killed(path)
    real_save = record.save

    def full(rec, where):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(record, "save", full)
    (entry,) = library.list_runs(tmp_path)
    assert not entry.damaged and entry.state == "interrupted" and entry.path == path and path.exists()
    assert entry.unsaved and "No space left on device" in entry.unsaved
    assert entry.state_text().endswith(f", not saved yet: {entry.unsaved}") and entry.scenario == "stability"
    assert library.load(library.resolve(entry.id, tmp_path))["interrupted"] is True  # compare and check read it
    monkeypatch.setattr(record, "save", real_save)  # space again: the next list saves it
    (entry,) = library.list_runs(tmp_path)
    assert entry.path == path.with_suffix(".json") and not entry.unsaved and not path.exists()


def test_a_journal_whose_writer_still_runs_is_a_run_in_progress(tmp_path):
    _, path = journaled_run(tmp_path)  # written by this process, which is alive
    (entry,) = library.list_runs(tmp_path)
    assert entry.running and entry.state == "running" and entry.path == path
    assert not path.with_suffix(".json").exists()


def test_a_torn_last_line_is_left_out(tmp_path, monkeypatch):
    monkeypatch.setattr(execute_module, "JOURNAL_FLUSH_S", 0.1)  # several lines in a short run
    _, path = journaled_run(tmp_path)
    assert len(path.read_text().split("\n")) > 4
    whole = journal.recover(path)
    text = path.read_text()
    path.write_text(text + '{"events": [{"type": "checkpoint", "scen')  # the writer died mid-line
    assert journal.recover(path)["samples"] == whole["samples"]
    # Killed while writing the last line with samples: that line is lost, everything before it is kept.
    lines = text.split("\n")[:-1]
    last = max(i for i, line in enumerate(lines) if i and json.loads(line)["samples"][0])
    path.write_text("\n".join(lines[:last]) + "\n" + lines[last][: len(lines[last]) // 2])
    torn = journal.recover(path)
    assert 0 < len(torn["samples"]["t_s"]) < len(whole["samples"]["t_s"])
    assert torn["samples"]["t_s"] == whole["samples"]["t_s"][: len(torn["samples"]["t_s"])]


def test_an_empty_journal_is_a_damaged_entry_that_can_be_deleted(tmp_path):
    path = tmp_path / "20261127T120000Z-stability-abcdef.journal"
    path.write_text("")
    (entry,) = library.list_runs(tmp_path)
    assert entry.damaged and "empty journal" in entry.damaged and entry.path == path
    with pytest.raises(journal.JournalError, match="empty journal"):
        journal.recover(path)
    assert library.delete(entry.id, tmp_path) == path and not path.exists()


def test_a_journal_of_another_format_is_damaged_not_guessed_at(tmp_path):
    path = tmp_path / "20261127T120000Z-stability-abcdef.journal"
    path.write_text(json.dumps({"journal": "netmem.journal/9", "config": {}}) + "\n")
    (entry,) = library.list_runs(tmp_path)
    assert entry.damaged and "not a netmem.journal/1 journal" in entry.damaged


def test_a_journal_written_by_an_older_netmem_recovers_with_defaults(tmp_path):
    """An older netmem wrote fewer fields: no writer, platform or expectations in the header, an older config
    (no rounds, leak injection or tracing), cycles without traced bytes, and no loop-lag columns."""
    t0 = 1000.0
    header = {"journal": "netmem.journal/1", "tool": {"name": "netmem", "version": "0.1.0"}, "label": None,
              "started_at": "2026-11-20T10:00:00.000Z", "t0": t0,
              "config": {"scenario": "stability", "connections": None, "messages": 10000, "message_size": 1024,
                         "duration_s": 60.0, "host": "isolated", "interval_ms": 100, "port": 0}}
    events = [{"type": "target", "pid": 4242, "role": "server"},
              {"type": "phase", "scenario": "stability", "phase": "start", "t": t0 + 0.1}]
    events += [{"type": "checkpoint", "scenario": "stability", "label": label, "t": t0 + at, "rss": rss, "vms": 9 << 20,
                "connections": 0, "messages": 0}
               for label, at, rss in (("After server start", 0.2, 20 << 20), ("After 100 cycles", 1.5, 21 << 20))]
    events.append({"type": "cycles", "scenario": "stability", "first": 0, "rss": [(20 << 20) + i for i in range(100)]})
    t = [round(0.1 * i, 4) for i in range(20)]
    lines = [header, {"events": events, "samples": [t, [20 << 20] * 20, [9 << 20] * 20]}]
    path = tmp_path / "20261120T100000Z-stability-0a0b0c.journal"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    (entry,) = library.list_runs(tmp_path)
    assert entry.interrupted and not entry.damaged and entry.duration_s == pytest.approx(1.9)
    rec = record.load(entry.path)
    assert rec["tool"]["version"] == "0.1.0" and rec["config"]["rounds"] == 1 and rec["loop_lag"]["t_s"] == []
    assert rec["cycle_series"]["stability"]["traced_bytes"] is None
    assert len(rec["cycle_series"]["stability"]["cycle"]) == 100
    assert [cp["t_s"] for cp in rec["checkpoints"]] == pytest.approx([0.2, 1.5])


def test_the_finished_run_replaces_its_journal(tmp_path):
    run, path = journaled_run(tmp_path)
    entry = library.save_run(run.record(), tmp_path, journal_of=run.journal)
    assert entry.id == path.stem and not path.exists() and entry.completed and entry.state == "completed"
    # A journal left beside its final record (killed between the two) is cleared away.
    path.write_text(json.dumps({"journal": journal.FORMAT, "writer": dead_writer()}) + "\n")
    assert [e.id for e in library.list_runs(tmp_path)] == [entry.id] and not path.exists()


def test_the_index_follows_changes_and_survives_damage(tmp_path):
    first = library.save_run(journaled_run(tmp_path / "a")[0].record(), tmp_path)
    second = library.save_run(journaled_run(tmp_path / "b")[0].record(), tmp_path)
    index = tmp_path / library.INDEX_NAME
    listed = library.list_runs(tmp_path)
    assert {e.id for e in listed} == {first.id, second.id} and index.exists()
    # The index is what a second list reads: a record changed in place without changing its size, time or inode
    # is not read again (it is the key of a change).
    stat = first.path.stat()
    with open(first.path, "r+b") as handle:
        handle.write(b"X")
    os.utime(first.path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert library.list_runs(tmp_path) == listed
    # A real change (a new label: a rewrite) is seen; so is a removal.
    first.path.write_bytes(b"{")
    (bad,) = [e for e in library.list_runs(tmp_path) if e.id == first.id]
    assert bad.damaged
    library.set_label(second.id, "after", tmp_path)
    assert [e.label for e in library.list_runs(tmp_path) if e.id == second.id] == ["after"]
    library.delete(first.id, tmp_path)
    assert [e.id for e in library.list_runs(tmp_path)] == [second.id]
    # An index that is damaged, or of another version, is rebuilt; so is an entry of it that isn't one.
    key = [second.path.stat().st_size, second.path.stat().st_mtime_ns, second.path.stat().st_ino]
    for junk in ("{not json", json.dumps({"format": "netmem.library-index/0", "files": {}}), "[]",
                 json.dumps({"format": library.INDEX_FORMAT, "files": {second.path.name: [1]}}),
                 json.dumps({"format": library.INDEX_FORMAT, "files": {second.path.name: {"key": key}}})):
        index.write_text(junk)
        assert [e.label for e in library.list_runs(tmp_path)] == ["after"]
        assert json.loads(index.read_text())["format"] == library.INDEX_FORMAT


def test_a_record_netmem_writes_goes_into_the_index_so_no_list_reads_it_again(tmp_path, monkeypatch):
    made = journaled_run(tmp_path / "a")[0].record()
    older = library.save_run(made, tmp_path)
    library.list_runs(tmp_path)
    newer = library.save_run(made, tmp_path)
    labelled = library.set_label(older.id, "kept", tmp_path)
    reads = []
    real = library._load_entry
    monkeypatch.setattr(library, "_load_entry", lambda path: reads.append(path.name) or real(path))
    listed = library.list_runs(tmp_path)
    # Neither the new record nor the relabelled one was read: their entries came from the index, written with them.
    assert reads == [] and {e.id for e in listed} == {older.id, newer.id}
    assert [e for e in listed if e.id == older.id] == [labelled] and labelled.label == "kept"
    # And they are what reading the files gives.
    (tmp_path / library.INDEX_NAME).unlink()
    assert library.list_runs(tmp_path) == listed and sorted(reads) == sorted([older.path.name, newer.path.name])


def _netmem_runs(folder, timeout=60) -> subprocess.CompletedProcess:
    env = {**os.environ, "NETMEM_DATA_DIR": str(folder.parent)}
    return subprocess.run([sys.executable, "-m", "netmem_gui.cli", "runs"], capture_output=True, text=True,
                          timeout=timeout, env=env)


def test_fifos_and_devices_in_the_library_are_damaged_entries_never_opened(tmp_path):
    """A FIFO named like a run waited forever for a writer; a journal linked to /dev/zero read without end."""
    folder = tmp_path / "runs"
    folder.mkdir()
    os.mkfifo(folder / "20261127T120000Z-stability-fifo01.journal")
    os.mkfifo(folder / "20261127T120000Z-stability-fifo02.json")
    (folder / "20261127T120000Z-stability-zero03.journal").symlink_to("/dev/zero")
    (folder / "20261127T120000Z-stability-zero04.json").symlink_to("/dev/zero")
    done = _netmem_runs(folder)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("DAMAGED") == 4
    assert done.stdout.count("is a FIFO, not a file") == 2 and done.stdout.count("is a device or socket") == 2


def test_a_journal_header_without_an_end_is_read_bounded(tmp_path):
    path = tmp_path / "20261127T120000Z-stability-abcdef.journal"
    path.write_text("x" * (journal.MAX_HEADER_CHARS + 10))
    (entry,) = library.list_runs(tmp_path)
    assert entry.damaged and "first line is longer than" in entry.damaged


@pytest.mark.parametrize(("edit", "words"), [
    (lambda head, body: body[0].update(events="abc"), "line 2's 'events' is not a list"),
    (lambda head, body: body[0].update(events=[1, 2]), "line 2 holds an event that is not an event"),
    (lambda head, body: body[0].update(samples=[[1.0], [2]]), "line 2's 'samples' is not 3 equal columns"),
    (lambda head, body: head.update(config="stability"), "its header's 'config' is not an object"),
    (lambda head, body: head.update(label=7), "its header's 'label' is not text"),
])
def test_a_hand_edited_journal_is_a_damaged_entry_and_every_list_still_works(tmp_path, edit, words):
    folder = tmp_path / "runs"
    _, path = journaled_run(folder, duration_s=0.3)
    as_killed(path)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    head, body = lines[0], lines[1:]
    edit(head, body)
    path.write_text("".join(json.dumps(x) + "\n" for x in [head, *body]))
    for _ in range(2):  # the first list and every one after it
        (entry,) = library.list_runs(folder)
        assert entry.damaged and words in entry.damaged, entry.damaged
    done = _netmem_runs(folder)
    assert done.returncode == 0 and "DAMAGED" in done.stdout, done.stderr
