"""Property tests (Hypothesis): mutated records and expectations files are loaded, or refused in one line with
exit 2; never a traceback, a hang, or output that isn't what it claims to be (JSON that isn't strict JSON)."""

from __future__ import annotations

import json
import math

from conftest import ROOT
from hypothesis import HealthCheck, given
from mutations import FUZZ, mutated_json, mutated_toml
from records import real_record

from netmem_gui import cli
from netmem_gui.core.records import record
from netmem_gui.core.reports import expectations, report

BASE = real_record()
EXAMPLE = (ROOT / "resources" / "expectations" / "isolated-host.toml").read_text(encoding="utf-8")
FUZZ_FS = FUZZ.__class__(FUZZ, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _strict(text: str) -> object:
    def refuse(name: str) -> None:
        raise AssertionError(f"{name} in JSON output")
    return json.loads(text, parse_constant=refuse)


def _finite(value: object) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    if isinstance(value, list):
        return all(_finite(v) for v in value)
    return True


def _run(capsys, *args: str) -> tuple[int, str, str]:
    try:
        status = cli.main(list(args))
    except SystemExit as exc:
        status = exc.code
    out = capsys.readouterr()
    return status, out.out, out.err


def _one_line_error(status: int, out: str, err: str) -> None:
    assert status == 2 and out == "", (status, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("netmem: error: ") and "Traceback" not in err, err


@FUZZ_FS
@given(text=mutated_json(BASE))
def test_the_loader_loads_or_refuses_in_one_line(tmp_path, text):
    path = tmp_path / "run.json"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        rec = record.load(path)
    except record.RecordError as exc:
        assert "\n" not in str(exc) and str(path) in str(exc)
        return
    assert _finite(rec)
    samples = rec["samples"]
    assert len(samples["t_s"]) == len(samples["rss_bytes"]) == len(samples["vms_bytes"])
    assert samples["t_s"] == sorted(samples["t_s"]) and min(samples["rss_bytes"], default=0) >= 0
    record.dumps(rec)  # writable again: nothing json can't write strictly
    report.render(rec)  # the app's summary of an opened record is this report


@FUZZ_FS
@given(text=mutated_json(BASE))
def test_compare_compares_or_exits_2(tmp_path, capsys, text):
    base = tmp_path / "base.json"
    record.save(BASE, base)
    new = tmp_path / "new.json"
    new.write_text(text, encoding="utf-8", errors="surrogatepass")
    for fmt in ("text", "json"):
        status, out, err = _run(capsys, "compare", str(base), str(new), "--format", fmt)
        if status == 2:
            _one_line_error(status, out, err)
            continue
        assert status in (0, 1) and err == "", (status, err)
        if fmt == "json":
            _strict(out)
        else:
            assert "nan" not in out.lower().split() and "\x1b" not in out


@FUZZ_FS
@given(text=mutated_json(BASE), toml=mutated_toml(EXAMPLE))
def test_check_checks_or_exits_2(tmp_path, capsys, text, toml):
    run = tmp_path / "run.json"
    run.write_text(text, encoding="utf-8", errors="surrogatepass")
    expect = tmp_path / "expect.toml"
    expect.write_text(toml, encoding="utf-8", errors="surrogatepass")
    status, out, err = _run(capsys, "check", str(run), "--expect", str(expect), "--format", "json")
    if status == 2:
        _one_line_error(status, out, err)
        return
    assert status in (0, 1) and err == "", (status, err)
    _strict(out)


@FUZZ_FS
@given(toml=mutated_toml(EXAMPLE))
def test_expectations_load_or_refuse_in_one_line(tmp_path, toml):
    path = tmp_path / "expect.toml"
    path.write_text(toml, encoding="utf-8", errors="surrogatepass")
    try:
        doc = expectations.load(path)
    except expectations.ExpectationsError as exc:
        assert "\n" not in str(exc)
        return
    assert _finite(doc)
    expectations.render(expectations.check(BASE, doc), "json")


LOCUST_ANSWER = {"state": "running", "user_count": 12, "current_rps": 40.5, "total_rps": 38.0, "fail_ratio": 0.25,
                 "workers": [{"id": "a"}], "worker_count": 1,
                 "stats": [{"name": "GET", "num_requests": 90, "num_failures": 20},
                           {"name": "Aggregated", "num_requests": 100, "num_failures": 25}]}


@FUZZ
@given(text=mutated_json(LOCUST_ANSWER))
def test_a_locust_answer_is_read_or_refused_in_one_line(text):
    from netmem_gui.core.measuring import locust

    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return  # read_status refuses what isn't JSON before parse_status sees it
    try:
        status = locust.parse_status(data)
    except locust.LocustError as exc:
        assert "\n" not in str(exc)
        return
    assert 0 <= status.users <= locust.MAX_USERS and math.isfinite(status.rps) and status.rps >= 0
    assert 0 <= status.failures <= locust.MAX_COUNT and 0 <= status.requests <= locust.MAX_COUNT


@FUZZ_FS
@given(text=mutated_json({"events": [{"type": "phase", "scenario": "stability", "phase": "start", "t": 1.0}],
                          "samples": [[0.1, 0.2], [1000, 1001], [2000, 2001]], "loop_lag": [[0.1], [0.001]]}))
def test_a_journal_line_is_read_or_the_journal_is_damaged(tmp_path, text):
    from netmem_gui.core.runs import journal

    head = {"journal": journal.FORMAT, "config": {"scenario": "stability"}, "started_at": "2026-12-05T00:00:00.000Z",
            "t0": 0.0}
    path = tmp_path / "x.journal"
    path.write_text(json.dumps(head) + "\n" + text.replace("\n", " ") + "\n", encoding="utf-8", errors="replace")
    try:
        journal.recover(path)
    except (journal.JournalError, record.RecordError) as exc:
        assert "\n" not in str(exc)
