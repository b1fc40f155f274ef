"""Opening a record in a child process (core/records/opening.py): the same record as record.load, or the same one-line
error; cancelled at once; and the columns it hands back, lists that are arrays too."""

from __future__ import annotations

import concurrent.futures
import json
import os
import sys
import time

import numpy as np
import pytest
from long_records import with_samples
from records import real_record

from netmem_gui.core.records import files, opening, record


@pytest.fixture(scope="module")
def long_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("long") / "long.json"
    record.save(with_samples(real_record(), 100_000), path)
    return path


def test_a_record_from_the_child_is_the_record_load_gives(long_file):
    assert opening.needs_child(long_file) and os.path.getsize(long_file) >= opening.CHILD_FROM_BYTES
    rec = opening.Opening(long_file).result()
    assert rec == record.load(long_file)
    assert record.dumps(rec) == long_file.read_text(encoding="utf-8")  # exports write the same JSON
    assert len(rec["samples"]["rss_bytes"]) == 100_000 and type(rec["samples"]["rss_bytes"][0]) is int
    record.validate(rec)


def test_small_files_and_other_things_are_read_in_place(tmp_path):
    small = tmp_path / "small.json"
    record.save(real_record(), small)
    assert not opening.needs_child(small)
    assert not opening.needs_child(tmp_path / "nowhere.json")
    assert not opening.needs_child(tmp_path)
    assert not opening.needs_child("/dev/zero")


@pytest.mark.parametrize(("damage", "problem"), [
    (lambda text: text[: len(text) // 2], "not JSON"),
    (lambda text: text.replace('"lag_s": [\n  ', '"lag_s": [\n  1.0,\n  ', 1), "columns of unequal length"),
    (lambda text: text.replace('"rss_bytes": [\n  ', '"rss_bytes": [\n  NaN,\n  ', 1), "not strict JSON"),
    (lambda text: text.replace('"schema": "netmem.run/1"', '"schema": "x"', 1), "not a netmem.run/1 record"),
])
def test_a_bad_file_gives_the_error_record_load_gives(long_file, tmp_path, damage, problem):
    bad = tmp_path / "bad.json"
    bad.write_text(damage(long_file.read_text(encoding="utf-8")), encoding="utf-8")
    with pytest.raises(record.RecordError) as direct:
        record.load(bad)
    with pytest.raises(record.RecordError) as child:
        opening.Opening(bad).result()
    assert str(child.value) == str(direct.value)
    assert problem in str(child.value) and "bad.json" in str(child.value) and "\n" not in str(child.value)


def test_cancel_stops_the_child(long_file):
    job = opening.Opening(long_file)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(job.result)
        deadline = time.monotonic() + 60
        while job.stage in ("waiting", "starting") and not waiting.done():
            assert time.monotonic() < deadline, "the child never started"
            time.sleep(0.01)
        job.cancel()
        with pytest.raises(opening.Cancelled):
            waiting.result(60)
    assert job._proc.returncode is not None  # the child is gone, not left running


def test_cancelled_before_it_starts_it_never_starts(long_file):
    job = opening.Opening(long_file)
    job.cancel()
    with pytest.raises(opening.Cancelled):
        job.result()
    assert job._proc is None


def test_a_child_that_dies_is_a_one_line_error(long_file, monkeypatch):
    # A child that can't run at all (here: Python told to run a module that isn't there) says so in one line.
    monkeypatch.setattr(opening, "child_command", lambda path: [sys.executable, "-m", "netmem_gui.core.nothing"])
    with pytest.raises(record.RecordError) as error:
        opening.Opening(long_file).result()
    assert "ended early" in str(error.value) and "\n" not in str(error.value)


def test_without_orjson_records_load_the_same(long_file, monkeypatch):
    fast = record.load(long_file)
    monkeypatch.setitem(sys.modules, "orjson", None)  # import orjson now raises ImportError
    assert files.parse_json_quickly(b"{}") is None
    assert record.load(long_file) == fast


def test_what_orjson_refuses_gets_the_strict_readers_words(tmp_path):
    # orjson refuses a lone surrogate and parses 2**64 as a float; Python's json doesn't, and says why.
    rec = real_record()
    rec["label"] = "\ud800"
    bad = tmp_path / "surrogate.json"
    bad.write_text(json.dumps(rec), encoding="utf-8")
    with pytest.raises(record.RecordError, match="not valid Unicode"):
        record.load(bad)
    text = json.dumps(real_record()).replace('"rss_bytes": [', f'"rss_bytes": [{2**64}, ', 1)
    bad.write_text(text, encoding="utf-8")
    with pytest.raises(record.RecordError, match="out of range"):
        record.load(bad)


def test_a_column_is_a_list_and_an_array():
    array = np.frombuffer(np.arange(5, dtype="<i8").tobytes(), dtype="<i8")
    rec = record.with_columns({"samples": {"t_s": []}}, {("samples", "t_s"): array}, chunk=2)
    column = rec["samples"]["t_s"]
    assert isinstance(column, list) and column == [0, 1, 2, 3, 4] and json.dumps(column) == "[0, 1, 2, 3, 4]"
    assert np.asarray(column) is array  # no copy for the plots
    assert np.asarray(column, dtype=np.float64).tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    column[0] = 7
    column.append(8)
    assert np.asarray(column).tolist() == [7, 1, 2, 3, 4, 8]  # a changed list forgets the array
