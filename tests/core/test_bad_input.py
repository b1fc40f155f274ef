"""Hostile files and text (issue 15): the one reader refuses them in one line, the one writer keeps what it
should, and user text is checked at the door and escaped when shown. Row numbers are the issue's table's."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT
from conftest import netmem_here as netmem
from records import real_record

from netmem_gui.core.records import files, record
from netmem_gui.core.reports import expectations
from netmem_gui.core.runs import library
from netmem_gui.core.text import checked, shown

HEAD = 'schema = "netmem.expectations/1"\n'




def one_line_error(err: str, *words: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    for word in words:
        assert word in lines[0], err


def saved(tmp_path: Path, rec: dict | str, name: str = "run.json") -> str:
    path = tmp_path / name
    path.write_text(rec if isinstance(rec, str) else json.dumps(rec), encoding="utf-8")
    return str(path)


def refused(path: str, *words: str) -> str:
    with pytest.raises(record.RecordError) as err:
        record.load(path)
    message = str(err.value)
    assert "\n" not in message and path in message, message
    for word in words:
        assert word in message, message
    return message


# ---- row 3: nesting ----------------------------------------------------------------------------------------

def test_a_record_nested_100000_deep_is_one_line_and_damaged_in_the_library(tmp_path, capsys):
    deep = saved(tmp_path, "[" * 100_000 + "]" * 100_000)
    refused(deep, "nested deeper than")
    status, _, err = netmem(capsys, "compare", deep, deep)
    assert status == 2
    one_line_error(err, "nested deeper")
    folder = library.library_dir()
    folder.mkdir(parents=True)
    (folder / "20260101T000000Z-all-aaaaaa.json").write_text("{" + '"a":{' * 50_000 + "}" * 50_001)
    status, out, _ = netmem(capsys, "runs")
    assert status == 0 and "DAMAGED 20260101T000000Z-all-aaaaaa: nested deeper" in out


def test_nesting_under_the_interpreters_limit_is_refused_before_anything_recurses(tmp_path):
    rec = real_record()
    rec["label"] = json.loads("[" * 200 + "]" * 200)
    refused(saved(tmp_path, rec), "nested deeper than 32 levels")


def test_expectations_nested_5000_deep_exit_2(tmp_path, capsys):
    rec_path = saved(tmp_path, real_record())
    toml = tmp_path / "deep.toml"
    toml.write_text(HEAD + "x = " + "[" * 5000 + "]" * 5000 + "\n")
    status, _, err = netmem(capsys, "check", rec_path, "--expect", str(toml))
    assert status == 2
    one_line_error(err, str(toml), "nested deeper")


# ---- row 4: numbers no run can measure ----------------------------------------------------------------------

def _set(path: str, value):
    def mutate(rec):
        *keys, last = path.split("/")
        target = rec
        for key in keys:
            target = target[int(key) if key.isdigit() else key]
        target[int(last) if last.isdigit() else last] = value
    return mutate


@pytest.mark.parametrize(("mutate", "words"), [
    (_set("summary/peak_rss_bytes", float("nan")), "NaN is not a number JSON allows"),
    (_set("samples/rss_bytes/0", float("inf")), "Infinity is not a number JSON allows"),
    (_set("samples/t_s/0", float("-inf")), "-Infinity is not a number JSON allows"),
    (_set("summary/duration_s", "1e400"), "is not a usable number"),
    (_set("samples/rss_bytes/0", "1e30"), "samples/rss_bytes: a number out of range"),
    (_set("samples/rss_bytes/0", str(10**30)), "samples/rss_bytes: a number out of range"),
    (_set("summary/peak_rss_bytes", str(10**30)), "out of range"),
    (_set("samples/rss_bytes/0", -4096), "samples/rss_bytes: a negative size"),
    (_set("checkpoints/0/rss_bytes", -1), "checkpoints/0/rss_bytes"),
    (_set("summary/peak_rss_bytes", -1), "summary/peak_rss_bytes"),
    (_set("samples/vms_bytes/1", 1.5), "not a whole number"),
    (_set("samples/t_s/1", -5.0), "times out of order"),
    (lambda r: r["samples"]["t_s"].reverse(), "times out of order"),
    (lambda r: r["samples"]["vms_bytes"].pop(), "columns of unequal length"),
    (_set("samples/rss_bytes/0", True), "a boolean among the numbers"),
    (_set("samples/rss_bytes/0", [1]), "a list among the numbers"),
    (_set("samples/t_s/0", None), "a NoneType among the numbers"),
    (_set("loop_lag", {"t_s": [0.1, 0.2], "lag_s": [0.001]}), "loop_lag: columns of unequal length"),
    (_set("loop_lag", {"t_s": [0.1], "lag_s": [-0.001]}), "a negative lag"),
    (_set("label", "\udcff"), "not valid Unicode"),
])
def test_impossible_values_are_refused_at_load(tmp_path, mutate, words):
    rec = real_record()
    rec["samples"]["t_s"] = rec["samples"]["t_s"][:4]
    for key in ("rss_bytes", "vms_bytes"):
        rec["samples"][key] = rec["samples"][key][:4]
    mutate(rec)
    # NaN and the infinities as Python's json writes them; big numbers spliced in as raw JSON text.
    text = json.dumps(rec)
    for raw in ("1e400", "1e30", str(10**30)):
        text = text.replace(f'"{raw}"', raw)
    refused(saved(tmp_path, text), words)


def test_a_nan_record_fails_compare_with_exit_2_instead_of_passing_the_gate(tmp_path, capsys):
    good = saved(tmp_path, real_record(), "good.json")
    bad_rec = real_record()
    bad_rec["summary"]["peak_rss_bytes"] = float("nan")
    bad = saved(tmp_path, bad_rec, "bad.json")
    for fmt in ("text", "json"):
        status, out, err = netmem(capsys, "compare", good, bad, "--format", fmt)
        assert status == 2 and out == ""
        one_line_error(err, "bad.json", "NaN")


def test_the_schema_says_what_the_fast_path_checks():
    import jsonschema

    rec = real_record()
    rec["samples"]["rss_bytes"][0] = -1
    errors = list(jsonschema.Draft202012Validator(record.schema()).iter_errors(rec))
    assert [(list(e.absolute_path), e.validator) for e in errors] == [(["samples", "rss_bytes", 0], "minimum")]


# ---- row 12: size -----------------------------------------------------------------------------------------

def test_dev_zero_and_an_oversized_record_are_refused_by_the_cap(tmp_path, capsys):
    big = tmp_path / "big.json"
    with open(big, "wb") as handle:
        handle.truncate(files.MAX_RECORD_BYTES + 1)  # sparse: no disk used
    refused(str(big), "netmem reads a record file of at most 200 MB")
    status, _, err = netmem(capsys, "compare", "/dev/zero", str(big))
    assert status == 2
    one_line_error(err, "/dev/zero", "more than 200 MB")


def test_the_cap_holds_for_files_without_a_size(tmp_path):
    with pytest.raises(expectations.ExpectationsError, match="more than 1 MB"):
        expectations.load("/dev/zero")


def test_a_file_that_is_not_utf8_is_one_line(tmp_path):
    path = tmp_path / "latin1.json"
    path.write_bytes(b'{"label": "caf\xe9"}')
    refused(str(path), "not UTF-8 text (byte 0xe9 at offset 14)")


# ---- row 11: expectations -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("content", "words"), [
    (HEAD + "[messages]\nmin_per_s = nan\n", "is not a usable number"),
    (HEAD + "[messages]\nmin_per_s = inf\n", "is not a usable number"),
    (HEAD + '[summary]\nverdict = "ok"\n', "invalid at summary.verdict"),
    (HEAD + "[messages]\nmax_mismatched = 100000000000000000000\n", "out of range"),
])
def test_bad_expectations_exit_2_not_breached(tmp_path, capsys, content, words):
    rec_path = saved(tmp_path, real_record())
    toml = tmp_path / "bad.toml"
    toml.write_text(content)
    status, out, err = netmem(capsys, "check", rec_path, "--expect", str(toml))
    assert status == 2 and out == ""
    one_line_error(err, str(toml), words)


# ---- rows 6 and 7: text -------------------------------------------------------------------------------------

def test_shown_escapes_control_characters_and_undecodable_bytes():
    assert shown("a\nb\x1b[2J\t\x7f\u202e") == "a\\nb\\x1b[2J\\t\\x7f\\u202e"
    assert shown("ab\udcff") == "ab\\xff"
    assert shown(shown("a\nb")) == shown("a\nb")
    assert shown("café ünïcode ✓") == "café ünïcode ✓"
    with pytest.raises(ValueError, match="not valid UTF-8"):
        checked("ab\udcff")


def _netmem_bytes(*args: bytes, env: dict | None = None, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable.encode(), b"-m", b"netmem_gui.cli", *args], capture_output=True,
                          cwd=ROOT, env={**os.environ, "PYTHONIOENCODING": "utf-8:strict", **(env or {})},
                          timeout=120, **kw)


def test_a_label_that_is_not_utf8_is_refused_at_the_door(tmp_path):
    rec_path = tmp_path / "x.json"
    record.save(real_record(), rec_path)
    entry = library.save_run(real_record())
    for args in ([b"run", b"messages", b"--label", b"ab\xff"], [b"runs", b"label", entry.id.encode(), b"x\xff"]):
        done = _netmem_bytes(*args)
        assert done.returncode == 2, done
        one_line_error(done.stderr.decode(), "label", "is not valid UTF-8 text")
    assert record.load(entry.path)["label"] is None


def test_control_characters_are_escaped_in_runs_and_compare(tmp_path, capsys):
    first = library.save_run(real_record())
    status, _, _ = netmem(capsys, "runs", "label", first.id, "a\nb\x1b[2J")
    assert status == 0
    # A file name with a byte that isn't UTF-8 and a newline: listed (as damaged), printable on a strict stdout.
    (library.library_dir() / os.fsdecode(b"20250101T000000Z-x\xff\n.json")).write_text("{}")
    done = _netmem_bytes(b"runs")
    assert done.returncode == 0, done.stderr
    out = done.stdout.decode()
    assert "\x1b" not in out and "a\\nb\\x1b[2J" in out
    assert "DAMAGED 20250101T000000Z-x\\xff\\n: " in out
    rows = [line for line in out.splitlines() if line.startswith(first.id)]
    assert len(rows) == 1 and "a\\nb\\x1b[2J" in rows[0]
    done = _netmem_bytes(b"compare", first.id.encode(), str(first.path).encode())
    assert done.returncode == 0 and b"\x1b" not in done.stdout and b'"a\\nb\\x1b[2J"' in done.stdout, done


def test_a_record_with_a_lone_surrogate_in_its_label_is_refused(tmp_path):
    rec = real_record()
    rec["label"] = "x\udcff"
    refused(saved(tmp_path, rec), "label", "not valid Unicode")


# ---- rows 8 and 10: the one writer --------------------------------------------------------------------------

def _umask(value: int) -> int:
    old = os.umask(value)
    return old


def test_new_files_respect_the_umask_and_existing_files_keep_their_mode(tmp_path):
    rec = real_record()
    old = _umask(0o022)
    try:
        record.save(rec, tmp_path / "new.json")
        assert stat.S_IMODE((tmp_path / "new.json").stat().st_mode) == 0o644
        os.umask(0o077)
        record.save(rec, tmp_path / "private.json")
        assert stat.S_IMODE((tmp_path / "private.json").stat().st_mode) == 0o600
        kept = tmp_path / "kept.json"
        kept.write_text("{}")
        kept.chmod(0o640)
        record.save(rec, kept)
        assert stat.S_IMODE(kept.stat().st_mode) == 0o640
        entry = library.save_run(rec)
        assert stat.S_IMODE(entry.path.stat().st_mode) == 0o600
        os.umask(0o022)
        library.set_label(entry.id, "kept private")
        assert stat.S_IMODE(entry.path.stat().st_mode) == 0o600  # relabelling keeps the mode
    finally:
        os.umask(old)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.json", "new.json", "private.json"]


def test_writing_through_a_link_updates_the_file_it_points_to(tmp_path):
    real = tmp_path / "real.json"
    real.write_text("{}")
    (tmp_path / "link.json").symlink_to(real)
    record.save(real_record(), tmp_path / "link.json")
    assert (tmp_path / "link.json").is_symlink() and record.load(real)["schema"] == "netmem.run/1"


def test_every_write_error_names_the_path_and_leaves_no_temporary_file(tmp_path):
    long_name = tmp_path / ("x" * 300 + ".json")
    with pytest.raises(record.RecordError, match=f"{long_name}: cannot write.*too long"):
        record.check_writable(long_name)
    with pytest.raises(record.RecordError, match="too long"):
        record.save(real_record(), long_name)
    near = tmp_path / ("y" * 250 + ".json")  # a legal name: the temporary name must fit too
    record.save(real_record(), near)
    (tmp_path / "file").write_text("")
    with pytest.raises(record.RecordError, match=f"{tmp_path / 'file' / 'x.json'}: cannot write"):
        record.save(real_record(), tmp_path / "file" / "x.json")
    with pytest.raises(record.RecordError, match="empty file name"):
        record.save(real_record(), "")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", near.name]


@pytest.mark.parametrize("json_arg", ["", "x" * 300 + ".json"])
def test_bad_json_paths_exit_2_naming_the_path_before_the_run(tmp_path, capsys, json_arg):
    target = "" if not json_arg else str(tmp_path / json_arg)
    status, out, err = netmem(capsys, "run", "messages", "--host", "inapp", "--json", target)
    assert status == 2 and out == ""
    one_line_error(err, target if target else "empty file name")
    assert library.list_runs() == []


def test_a_data_folder_that_is_a_file_is_not_an_empty_library(tmp_path, capsys, monkeypatch):
    not_a_folder = tmp_path / "data"
    not_a_folder.write_text("")
    monkeypatch.setenv(library.ENV_DATA_DIR, str(not_a_folder))
    for args in (["runs"], ["runs", "--format", "json"], ["runs", "label", "x", "y"], ["compare", "a", "b"],
                 ["run", "messages", "--host", "inapp"]):
        status, out, err = netmem(capsys, *args)
        assert status == 2 and out == "", args
        one_line_error(err, str(not_a_folder), "the run library is not a folder")


def _read_only(folder: Path):
    """Make `folder` read-only even for root (the immutable attribute), or skip where that can't be done."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return lambda: folder.chmod(0o755)
    done = subprocess.run(["chattr", "+i", str(folder)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"can't make a folder read-only for root here: {done.stderr.decode().strip()}")
    return lambda: subprocess.run(["chattr", "-i", str(folder)], check=True)


def test_labelling_in_a_read_only_library_exits_2_naming_the_file(capsys):
    entry = library.save_run(real_record())
    undo = _read_only(entry.path.parent)
    try:
        status, out, err = netmem(capsys, "runs", "label", entry.id, "new")
    finally:
        undo()
    assert status == 2 and out == ""
    one_line_error(err, str(entry.path), "cannot write")
    assert record.load(entry.path)["label"] is None
    assert sorted(p.name for p in entry.path.parent.iterdir()) == sorted([entry.path.name, library.INDEX_NAME])


# ---- row 9: the delete prompt -------------------------------------------------------------------------------

def _wait_reading(pid: int, deadline: float) -> None:
    # The prompt is shown a moment before input() blocks reading the terminal; a signal in between is only seen
    # after the next key (at any terminal), so wait until the process sleeps in the kernel (wchan not "0").
    wchan = Path(f"/proc/{pid}/wchan")
    while time.monotonic() < deadline and wchan.exists():
        if wchan.read_text().strip() not in ("", "0"):
            return
        time.sleep(0.01)


def _prompt(entry: library.Entry, answer: bytes | None) -> tuple[int, str]:
    """`netmem runs delete ID` on a terminal; `answer` typed at the prompt, or SIGINT when None."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "netmem_gui.cli", "runs", "delete", entry.id], cwd=ROOT,
                            stdin=slave, stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)
    out = b""
    deadline = time.monotonic() + 60
    try:
        while b"[y/N]" not in out and time.monotonic() < deadline:
            if select.select([master], [], [], 1)[0]:
                out += os.read(master, 4096)
        assert b"[y/N]" in out, out
        if answer is None:
            _wait_reading(proc.pid, deadline)
            proc.send_signal(signal.SIGINT)
        else:
            os.write(master, answer)
        status = proc.wait(timeout=60)
        while select.select([master], [], [], 0.2)[0]:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
    finally:
        proc.kill()
        os.close(master)
    return status, out.decode(errors="replace")


@pytest.mark.parametrize(("answer", "status"), [(b"\x04", 0), (None, 130)])
def test_ctrl_d_or_ctrl_c_at_the_delete_prompt_is_not_deleted(answer, status):
    entry = library.save_run(real_record())
    got, out = _prompt(entry, answer)
    assert got == status and "Not deleted." in out and "Traceback" not in out, out
    assert entry.path.exists()
