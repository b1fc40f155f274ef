"""Relabelling a big record in a child process (core/runs/relabel.py): the same outcome as library.set_label, the same
one-line errors, and the work really done by another process."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from long_records import with_samples
from records import real_record

from netmem_gui.core.records import opening, record
from netmem_gui.core.runs import library, relabel

ROLE_LABEL = "import sys; from netmem_gui.core.running.roles import run_worker; sys.exit(run_worker(['label']))"


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    folder = tmp_path_factory.mktemp("library")
    entry = library.save_run(with_samples(real_record(), 100_000), folder)
    assert opening.needs_child(entry.path)
    return folder, entry


def _not_here(*_args, **_kwargs):
    raise AssertionError("library.set_label ran in the asking process")


def test_a_big_record_is_relabelled_by_a_child(big, monkeypatch):
    folder, entry = big
    samples = record.load(entry.path)["samples"]
    monkeypatch.setattr(library, "set_label", _not_here)  # only this process's: the child has its own
    labelled = relabel.set_label(entry.id, "overnight ✓", folder)
    assert labelled.label == "overnight ✓" and labelled.path == entry.path
    rec = record.load(entry.path)
    assert rec["label"] == "overnight ✓" and rec["samples"] == samples
    # The child put it in the index as it wrote it: the list agrees, and reads it from there.
    assert [e for e in library.list_runs(folder) if e.id == entry.id] == [labelled]
    removed = relabel.set_label(entry.id, None, folder)
    assert removed.label is None and record.load(entry.path)["label"] is None


def test_a_bad_label_and_a_damaged_record_give_the_one_line_set_label_gives(big, tmp_path, monkeypatch):
    folder, entry = big
    damaged = tmp_path / entry.path.name
    damaged.write_bytes(entry.path.read_bytes()[:-1000])  # cut short: no longer JSON, and still big
    assert opening.needs_child(damaged)
    with monkeypatch.context() as here:
        here.setattr(library, "set_label", _not_here)
        with pytest.raises(library.LibraryError) as bad_label:
            relabel.set_label(entry.id, "bad \udcff", folder)
        with pytest.raises(record.RecordError) as bad_record:
            relabel.set_label(entry.id, "x", tmp_path)
    with pytest.raises(library.LibraryError) as in_place:
        library.set_label(entry.id, "bad \udcff", folder)
    assert str(bad_label.value) == str(in_place.value) and "\n" not in str(bad_label.value)
    with pytest.raises(record.RecordError) as in_place:
        library.set_label(entry.id, "x", tmp_path)
    assert str(bad_record.value) == str(in_place.value) and "\n" not in str(bad_record.value)
    assert damaged.stat().st_size == entry.path.stat().st_size - 1000  # left as it was


def test_a_small_record_is_relabelled_in_place(tmp_path, monkeypatch):
    entry = library.save_run(real_record(), tmp_path)
    assert not opening.needs_child(entry.path)
    asked = []
    monkeypatch.setattr(library, "set_label", lambda *args: asked.append(args) or entry)
    assert relabel.set_label(entry.id, "small", tmp_path) is entry
    assert asked == [(entry.id, "small", tmp_path)]


def test_a_child_that_dies_before_it_answers_gives_one_line(big, monkeypatch):
    folder, entry = big
    before = entry.path.read_bytes()
    dies = "import sys; sys.stderr.write('Killed\\x1b[31m\\n'); sys.exit(1)"  # says why, with an escape code
    monkeypatch.setattr(relabel, "child_command", lambda: [sys.executable, "-c", dies])
    with pytest.raises(library.LibraryError) as died:
        relabel.set_label(entry.id, "x", folder)
    assert str(died.value).endswith("the process relabelling it ended early (exit status 1): Killed\\x1b[31m")
    assert entry.path.read_bytes() == before


def test_a_bundle_reaches_the_child_through_the_worker_role(big, tmp_path):
    # A frozen bundle starts `netmem --netmem-worker label`, which ends in roles.run_worker(["label"]).
    folder, entry = big
    request = json.dumps({"ref": entry.id, "label": "from a bundle", "folder": str(folder)})
    done = subprocess.run([sys.executable, "-c", ROLE_LABEL], input=request.encode(),
                          capture_output=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    answer = library.Entry.from_dict(json.loads(done.stdout)["entry"])
    assert answer.label == "from a bundle" == record.load(entry.path)["label"] and answer.path == entry.path
