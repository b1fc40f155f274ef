"""`netmem compare`, `netmem check`, `netmem runs` and the library save of `netmem run`: exit statuses,
formats and one-line errors for bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import ROOT
from conftest import netmem_here as netmem
from records import edited, real_record

from netmem_gui.core.records import record
from netmem_gui.core.runs import library

EXAMPLE = str(ROOT / "resources" / "expectations" / "isolated-host.toml")




def one_line_error(err: str, words: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and words in lines[0] and "Traceback" not in err, err


@pytest.fixture
def pair(tmp_path):
    base = real_record()
    paths = {}
    for name, rec in {
        "base": base,
        "same": base,
        "ok": edited(base),
        "worse": edited(base, peak_rss_bytes=base["summary"]["peak_rss_bytes"] * 2),
    }.items():
        paths[name] = str(tmp_path / f"{name}.json")
        record.save(rec, paths[name])
    return paths


def test_compare_exit_0_when_nothing_regressed(capsys, pair):
    status, out, err = netmem(capsys, "compare", pair["base"], pair["ok"])
    assert status == 0 and err == ""
    assert "No gated figure regressed (threshold 10 %)." in out


def test_compare_exit_1_on_a_gated_regression(capsys, pair):
    status, out, _ = netmem(capsys, "compare", pair["base"], pair["worse"])
    assert status == 1 and "REGRESSED (threshold 10 %): Peak RSS: +" in out
    status, _, _ = netmem(capsys, "compare", pair["base"], pair["worse"], "--threshold", "150")
    assert status == 0


def test_compare_a_run_with_itself(capsys, pair):
    status, out, _ = netmem(capsys, "compare", pair["base"], pair["same"])
    assert status == 0 and "Note: NEW is the BASE run itself: nothing can have changed" in out


@pytest.mark.parametrize("fmt", ["text", "markdown", "json"])
def test_compare_formats(capsys, pair, fmt):
    status, out, _ = netmem(capsys, "compare", pair["base"], pair["worse"], "--format", fmt)
    assert status == 1
    if fmt == "json":
        assert json.loads(out)["regressed"] is True
    elif fmt == "markdown":
        assert out.startswith("### netmem compare :x:") and "| figure | BASE | NEW |" in out
    else:
        assert out.startswith("netmem compare\nBASE: ")


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_compare_bad_input_is_one_line_and_status_2(capsys, pair, tmp_path):
    other = real_record()
    other["schema"] = "netmem.run/2"
    cases = [
        ([pair["base"], str(tmp_path / "missing.json")], "missing.json: no such file"),
        ([pair["base"], write(tmp_path, "cut.json", open(pair["ok"]).read()[:200])], "cut.json: not JSON ("),
        ([pair["base"], write(tmp_path, "t.json", "hello")], "t.json: not JSON ("),
        ([pair["base"], write(tmp_path, "v2.json", json.dumps(other))],
         "not a netmem.run/1 record (schema 'netmem.run/2')"),
        ([pair["base"], pair["ok"], "--threshold", "-5"], "threshold must be a percentage of 0 or more, not -5.0"),
        ([pair["base"], pair["ok"], "--threshold", "nan"], "threshold must be a percentage"),
        ([pair["base"], pair["ok"], "--threshold", "ten"], "invalid float value: 'ten'"),
        ([pair["base"]], "the following arguments are required: NEW"),
        ([pair["base"], "nosuchid"], "nosuchid: no such file, and no run with that ID in the library"),
    ]
    for args, words in cases:
        status, _, err = netmem(capsys, "compare", *args)
        assert status == 2, (args, err)
        one_line_error(err, words)


def test_compare_takes_library_ids(capsys, pair):
    a = library.save_run(record.load(pair["base"]))
    b = library.save_run(record.load(pair["worse"]))
    status, out, _ = netmem(capsys, "compare", a.id, b.id.rsplit("-", 1)[1])
    assert status == 1 and f"BASE: {a.id}" in out


def test_check_exit_statuses_and_formats(capsys, pair, tmp_path):
    loose = write(tmp_path, "loose.toml", 'schema = "netmem.expectations/1"\n[summary]\nmax_peak_rss = "10 GB"\n')
    tight = write(tmp_path, "tight.toml", 'schema = "netmem.expectations/1"\n[summary]\nmax_peak_rss = "1 KB"\n')
    status, out, _ = netmem(capsys, "check", pair["base"], "--expect", loose)
    assert status == 0 and "All expectations met: 1 met, 0 breached." in out
    status, out, _ = netmem(capsys, "check", pair["base"], "--expect", tight)
    assert status == 1 and "BREACHED: 0 met, 1 breached." in out
    status, out, _ = netmem(capsys, "check", pair["base"], "--expect", tight, "--format", "markdown")
    assert status == 1 and out.startswith("### netmem check :x:")
    status, out, _ = netmem(capsys, "check", pair["base"], "--expect", EXAMPLE, "--format", "json")
    assert status == 1 and json.loads(out)["outcomes"][0]["key"] == "applies_to.host"  # in-app record


def test_check_bad_input_is_one_line_and_status_2(capsys, pair, tmp_path):
    cases = [
        ([pair["base"], "--expect", write(tmp_path, "x.toml", "a = [")], "x.toml: not TOML ("),
        ([pair["base"], "--expect", write(tmp_path, "y.toml", 'schema = "netmem.expectations/1"\nfoo = 1\n')],
         "y.toml: invalid at (top level): Additional properties are not allowed ('foo' was unexpected)"),
        ([pair["base"], "--expect", str(tmp_path / "none.toml")], "none.toml: no such file"),
        ([write(tmp_path, "e.json", ""), "--expect", EXAMPLE], "e.json: empty file"),
        ([pair["base"]], "the following arguments are required: --expect"),
    ]
    for args, words in cases:
        status, _, err = netmem(capsys, "check", *args)
        assert status == 2, (args, err)
        one_line_error(err, words)


def test_runs_lists_labels_and_deletes(capsys, pair):
    saved = library.save_run(record.load(pair["base"]))
    (library.library_dir() / "20200101T000000Z-all-dead00.json").write_text("{")
    status, out, _ = netmem(capsys, "runs")
    assert status == 0
    assert out.splitlines()[0] == f"Run library: {library.library_dir()} (1 run, 1 damaged file)"
    assert saved.id in out and "DAMAGED 20200101T000000Z-all-dead00: not JSON (" in out
    status, out, _ = netmem(capsys, "runs", "label", saved.id, "nightly")
    assert status == 0 and out.strip() == f"{saved.id}: label set to 'nightly'"
    status, out, _ = netmem(capsys, "runs", "--format", "json")
    runs = json.loads(out)["runs"]
    assert [(r["label"], r["damaged"] is None) for r in runs] == [("nightly", True), (None, False)]
    status, _, err = netmem(capsys, "runs", "delete", "dead00")  # stdin is not a terminal under pytest
    assert status == 2
    one_line_error(err, "deleting needs --yes")
    status, out, _ = netmem(capsys, "runs", "delete", "dead00", "--yes")
    assert status == 0 and "Deleted" in out
    status, _, err = netmem(capsys, "runs", "label", "nope", "x")
    assert status == 2
    one_line_error(err, "nope: no such file, and no run with that ID")


def run_small(*extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "netmem_gui.cli", "run", "connections", "--connections", "3",
                           "--host", "inapp", "--interval", "20", *extra], capture_output=True, text=True,
                          timeout=120)


def test_netmem_run_saves_to_the_library_unless_told_not_to():
    done = run_small("--label", "from the cli")
    assert done.returncode == 0, done.stderr
    [entry] = library.list_runs()
    assert f"Run saved to the library as {entry.id} ({entry.path})" in done.stdout
    assert entry.label == "from the cli" and entry.scenario == "connections" and entry.completed
    done = run_small("--no-save")
    assert done.returncode == 0 and "Run saved" not in done.stdout
    assert len(library.list_runs()) == 1
