"""The run's lifecycle in the core: one way to prepare and finish a run, whichever view started it."""

from __future__ import annotations

import signal

import pytest
from conftest import run_to_end, small_config

from netmem_gui.core.config import ConfigError, RunConfig
from netmem_gui.core.exits import Exit
from netmem_gui.core.records import record
from netmem_gui.core.running import lifecycle
from netmem_gui.core.runs import library


def test_prepare_refuses_what_cannot_run(tmp_path):
    with pytest.raises(ConfigError):
        lifecycle.prepare(RunConfig(messages=0))
    with pytest.raises(record.RecordError, match="does not exist"):
        lifecycle.prepare(RunConfig(), [tmp_path / "missing" / "run.json"])


def test_finish_keeps_the_run_in_the_library_even_when_the_record_file_fails(tmp_path):
    run = run_to_end(small_config("connections", "inapp", connections=5))
    doomed = tmp_path / "gone" / "run.json"  # its folder does not exist by the time the run ends
    outcome = lifecycle.finish(run, json_path=doomed)
    assert outcome.status == Exit.USAGE  # a path that can't be written: bad input, named in one line
    assert any(str(doomed) in p for p in outcome.problems)
    assert outcome.library_id is not None
    assert [e.id for e in library.list_runs()] == [outcome.library_id]
    written = tmp_path / "run.json"
    again = lifecycle.finish(run, json_path=written, keep=False)
    assert again.status == Exit.OK and again.library_id is None and again.verdict is None
    assert record.load(written)["completed"] is True
    assert lifecycle.finish(run, keep=False, stopped_by=signal.SIGINT).status == Exit.INTERRUPTED
    assert lifecycle.finish(run, keep=False, stopped_by=signal.SIGTERM).status == Exit.TERMINATED == 143


def test_a_run_kept_nowhere_fails_instead_of_passing(tmp_path, monkeypatch):
    """A full disk or a read-only library only warned, and the run exited 0: a CI job passed with no run kept."""
    monkeypatch.setenv("NETMEM_DATA_DIR", str(tmp_path))

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(library, "save_run", full_disk)
    run = run_to_end(small_config("messages", "inapp"))
    outcome = lifecycle.finish(run, keep=True)
    assert outcome.status == Exit.FAILED and outcome.verdict.startswith("the run was kept nowhere")
    assert outcome.problems == ["the run was not saved to the run library: No space left on device"]
    written = tmp_path / "run.json"
    kept_there = lifecycle.finish(run, json_path=written, keep=True)  # the record file keeps it: a warning only
    assert kept_there.status == Exit.OK and written.exists()
