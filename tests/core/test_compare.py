"""The diff maths (signs, zero and negative bases, floors, verdicts), what it says about odd pairs, its three
formats and the aligned curves."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from records import edited, real_record, without_leak_verdict

from netmem_gui.core.reports import compare as cmp
from netmem_gui.core.reports import figures
from netmem_gui.core.reports.compare import grew_past, percent_change

MB = 1024 * 1024


@pytest.mark.parametrize(("base", "new", "expected"), [
    (100, 110, 10.0),
    (100, 90, -10.0),
    (-100, 20, 120.0),  # a negative drift that turned positive grew: the percentage is positive
    (-100, -150, -50.0),  # and one that fell further is negative
    (0, 0, 0.0),
    (0, 5, None),  # no percentage of nothing
    (None, 5, None),
    (5, None, None),
])
def test_percent_change_keeps_the_sign_of_the_change(base, new, expected):
    assert percent_change(base, new) == expected


@pytest.mark.parametrize(("base", "new", "threshold", "floor", "regressed"), [
    (100, 111, 10, 0, True),
    (100, 110, 10, 0, False),  # exactly the threshold is not "more than"
    (100, 90, 10, 0, False),
    (100, 200, 10, 150, False),  # +100 % but within the noise floor
    (100, 300, 10, 150, True),
    (0, 1, 10, 0, True),  # from a base of 0: growth past the floor is the regression
    (0, 0, 10, 0, False),
    (-500, -100, 10, 0, True),  # a negative drift that grew by 400
    (-500, -100, 10, 400, False),
    (-500, -900, 10, 0, False),
    (None, 100, 10, 0, False),
    (100, None, 10, 0, False),
    (100, 105, 0, 0, True),  # threshold 0: any growth past the floor
])
def test_grew_past(base, new, threshold, floor, regressed):
    assert grew_past(base, new, threshold, floor) is regressed


def rows(result):
    return {row.figure.key: row for row in result.rows}


def test_a_run_compared_with_itself_says_so_and_nothing_regressed():
    rec = real_record()
    result = cmp.compare([rec, real_record()], ["a.json", "a.json"])
    assert result.same_run == [1] and not result.regressed
    assert any("is the BASE run itself" in n for n in result.notes)
    for row in result.rows:
        change = row.changes[0]
        assert change.change in (0, None) and not change.regressed


def test_relabelled_copy_is_still_the_same_run():
    rec = real_record()
    other = real_record()
    other["label"] = "renamed"
    assert cmp.same_run(rec, other)
    assert not cmp.same_run(rec, edited())


def test_peak_rss_regresses_past_the_threshold_only():
    base = real_record()
    peak = base["summary"]["peak_rss_bytes"]
    up20 = edited(base, peak_rss_bytes=int(peak * 1.2))
    up5 = edited(base, peak_rss_bytes=int(peak * 1.05))
    result = cmp.compare([base, up20])
    row = rows(result)["summary.peak_rss_bytes"]
    assert row.regressed and row.changes[0].change == int(peak * 1.2) - peak
    assert row.changes[0].percent == pytest.approx(20.0, abs=0.01)
    assert [r.figure.key for r, _, _ in result.regressions] == ["summary.peak_rss_bytes"]
    assert not cmp.compare([base, up5]).regressed
    assert not cmp.compare([base, up20], threshold_percent=25).regressed


def test_per_connection_growth_within_the_noise_floor_is_not_a_regression():
    base = edited(connections__per_connection_bytes=1200.0)
    small = edited(base, connections__per_connection_bytes=1200.0 + figures.PER_CONNECTION_FLOOR - 1)  # +21 %
    large = edited(base, connections__per_connection_bytes=1200.0 + figures.PER_CONNECTION_FLOOR + 1)
    quiet = rows(cmp.compare([base, small]))["connections.per_connection_bytes"].changes[0]
    assert not quiet.regressed and "noise floor" in quiet.note
    assert rows(cmp.compare([base, large]))["connections.per_connection_bytes"].regressed


def test_drift_from_a_negative_or_zero_base():
    neg = edited(stability__drift_bytes=-400_000)
    grew = edited(neg, stability__drift_bytes=-400_000 + figures.RSS_FLOOR + 4096)
    drift = rows(cmp.compare([neg, grew]))["stability.drift_bytes"]
    assert drift.regressed and drift.changes[0].percent > 0
    zero = edited(stability__drift_bytes=0)
    assert not rows(cmp.compare([zero, edited(zero)]))["stability.drift_bytes"].regressed
    c = rows(cmp.compare([zero, edited(zero, stability__drift_bytes=MB)]))["stability.drift_bytes"].changes[0]
    assert c.regressed and c.percent is None and c.change == MB


def test_delta_from_baseline_is_gated():
    small = edited(delta_bytes=104 * 1024)  # +315 % of a small delta is less than the baseline rule's own 1 MiB
    assert not rows(cmp.compare([small, edited(small, delta_bytes=432 * 1024)]))["summary.delta_bytes"].regressed
    assert rows(cmp.compare([small, edited(small, delta_bytes=1536 * 1024)]))["summary.delta_bytes"].regressed
    base = edited(delta_bytes=2 * MB)
    assert rows(cmp.compare([base, edited(base, delta_bytes=3.5 * MB)]))["summary.delta_bytes"].regressed
    assert not rows(cmp.compare([base, edited(base, delta_bytes=MB)]))["summary.delta_bytes"].regressed


def rule_of(verdict):
    return {"rule": "final RSS > baseline RSS + 1 MiB", "threshold_bytes": MB, "verdict": verdict}


@pytest.mark.parametrize(("before", "after", "regressed"), [
    ("OK", "POSSIBLE LEAK", True),
    ("POSSIBLE LEAK", "OK", False),
    ("POSSIBLE LEAK", "POSSIBLE LEAK", False),
    ("OK", "OK", False),
    (None, "POSSIBLE LEAK", True),
    ("INCONCLUSIVE", "POSSIBLE LEAK", True),
    ("OK", "INCONCLUSIVE", False),
])
def test_the_verdict_gates_from_ok_to_a_leak(before, after, regressed):
    result = cmp.compare([edited(leak_verdict=before), edited(leak_verdict=after)])
    change = rows(result)["summary.verdict"].changes[0]
    assert change.regressed is regressed and change.value == after
    if regressed:
        assert change.note == f"{before} -> POSSIBLE LEAK"


def test_the_newer_verdict_is_compared_when_both_runs_have_it():
    base = edited(baseline_rule=rule_of("POSSIBLE LEAK"), leak_verdict="OK")
    new = edited(baseline_rule=rule_of("POSSIBLE LEAK"), leak_verdict="POSSIBLE LEAK")
    assert rows(cmp.compare([base, new]))["summary.verdict"].regressed


def test_runs_with_different_verdict_rules_are_compared_by_the_baseline_rule():
    base = without_leak_verdict(edited(baseline_rule=rule_of("OK")))  # made before the trend verdict existed
    new = edited(baseline_rule=rule_of("OK"), leak_verdict="POSSIBLE LEAK")
    change = rows(cmp.compare([base, new]))["summary.verdict"].changes[0]
    assert not change.regressed and "compared by the baseline rule" in change.note


def test_different_scenarios_compare_what_they_share_and_say_what_they_do_not():
    base = real_record()
    new = edited(connections__per_connection_bytes=base["scenarios"]["connections"]["per_connection_bytes"] + 9999)
    new["config"]["scenario"] = "connections"
    del new["scenarios"]["messages"], new["scenarios"]["stability"]
    new["summary"]["peak_rss_bytes"] *= 3
    result = cmp.compare([base, new])
    by = rows(result)
    assert result.shared_scenarios == ["connections"]
    assert by["summary.peak_rss_bytes"].changes[0].note == "different scenarios"
    assert not by["summary.peak_rss_bytes"].regressed  # a whole `all` run and a connections run: not comparable
    assert by["stability.drift_bytes"].changes[0].note == "scenario not in both runs"
    assert by["connections.per_connection_bytes"].regressed
    assert any("only BASE ran messages, stability" in n for n in result.notes)
    assert any("NEW ran scenario connections, BASE ran all" in n for n in result.notes)


def test_an_incomplete_run_compares_what_it_measured():
    new = edited(stability__drift_bytes=None, stability__peak_rss_bytes=None)
    new["completed"], new["stop_reason"] = False, "stopped by the user"
    result = cmp.compare([real_record(), new])
    assert rows(result)["stability.drift_bytes"].changes[0].note == "not measured"
    assert any("NEW did not complete (stopped by the user)" in n for n in result.notes)


def test_config_and_host_differences_are_noted():
    new = edited()
    new["config"]["host"] = "isolated"
    new["config"]["connections_by_scenario"]["connections"] = 999
    notes = " ".join(cmp.compare([real_record(), new]).notes)
    assert "NEW ran on the isolated host, BASE on the inapp host" in notes
    assert "NEW used 999 connections in the connections scenario" in notes


def test_cleanup_percent_changes_in_points_not_percent():
    base = edited(connections__cleanup_percent=-5.0)
    c = rows(cmp.compare([base, edited(base, connections__cleanup_percent=15.0)]))["connections.cleanup_percent"]
    assert c.changes[0].change == 20.0 and c.changes[0].percent is None and not c.regressed


def test_more_than_two_runs_each_against_the_base():
    base = real_record()
    peak = base["summary"]["peak_rss_bytes"]
    result = cmp.compare([base, edited(base), edited(base, peak_rss_bytes=peak * 2)], ["b", "r2", "r3"])
    row = rows(result)["summary.peak_rss_bytes"]
    assert [c.regressed for c in row.changes] == [False, True]
    assert [i for _, i, _ in result.regressions] == [2]
    assert "in run 3" in cmp.render_text(result)


@pytest.mark.parametrize("bad", [-1, float("nan"), float("inf"), "10"])
def test_a_bad_threshold_is_refused(bad):
    with pytest.raises(cmp.CompareError, match="threshold must be a percentage"):
        cmp.compare([real_record(), real_record()], threshold_percent=bad)


def test_one_record_is_not_a_comparison():
    with pytest.raises(cmp.CompareError, match="at least two"):
        cmp.compare([real_record()])


def regressed_pair():
    base = real_record()
    return base, edited(base, peak_rss_bytes=base["summary"]["peak_rss_bytes"] * 2)


def test_text_format():
    text = cmp.render(cmp.compare(regressed_pair(), ["base.json", "new.json"]), "text")
    assert text.startswith("netmem compare\nBASE: base.json (all on the inapp host")
    assert "Peak RSS (gated)" in text and "REGRESSED" in text
    assert text.splitlines()[-1].startswith("REGRESSED (threshold 10 %): Peak RSS: +")


def test_markdown_format_is_a_pull_request_comment():
    md = cmp.render(cmp.compare(regressed_pair(), ["base.json", "new.json"]), "markdown")
    lines = md.splitlines()
    assert lines[0] == "### netmem compare :x:"
    assert "| figure | BASE | NEW | change | % | gate |" in lines
    assert any(line.startswith("| Peak RSS (gated) |") and "**REGRESSED**" in line for line in lines)
    ok = cmp.render(cmp.compare([real_record(), real_record()]), "markdown")
    assert ok.startswith("### netmem compare :white_check_mark:")


def test_json_format_holds_every_figure_and_change():
    doc = json.loads(cmp.render(cmp.compare(regressed_pair(), ["b", "n"]), "json"))
    assert doc["schema"] == "netmem.compare/1" and doc["regressed"] is True
    keys = [f["key"] for f in doc["figures"]]
    for key in ("summary.baseline_rss_bytes", "summary.peak_rss_bytes", "summary.final_rss_bytes",
                "summary.delta_bytes", "summary.verdict", "connections.per_connection_bytes",
                "connections.cleanup_percent", "messages.messages_per_s", "stability.drift_bytes"):
        assert key in keys
    peak = doc["figures"][keys.index("summary.peak_rss_bytes")]
    assert peak["gated"] and peak["changes"][0]["regressed"] and peak["changes"][0]["percent"] == 100.0
    assert [r["name"] for r in doc["runs"]] == ["b", "n"]


# ---- aligned curves ----

def test_curves_aligned_at_run_start_are_the_samples():
    rec = real_record()
    [curve] = cmp.align_curves([rec], ["one"])
    assert curve.name == "one"
    assert np.array_equal(curve.t_s, np.asarray(rec["samples"]["t_s"], dtype=float))
    assert np.array_equal(curve.rss_bytes, np.asarray(rec["samples"]["rss_bytes"], dtype=float))
    assert curve.phase_starts[0][1] == "connections/start"


def shifted(rec, by):
    """The same run as if it had started each phase `by` seconds later."""
    out = edited(rec)
    out["samples"]["t_s"] = [t + by for t in rec["samples"]["t_s"]]
    for p in out["phases"]:
        p["t_s"] += by
    return out


def test_curves_aligned_at_each_phase_line_up_phase_starts():
    base = real_record()
    late = shifted(base, 5.0)
    a, b = cmp.align_curves([base, late], at="phases")
    assert [x for x, _ in a.phase_starts] == [x for x, _ in b.phase_starts]
    finite = ~np.isnan(b.t_s)
    # Samples inside phases land where the base's did (those before the first phase stay anchored at the run's
    # start, and come first); NaN breaks the line between phases.
    inside = np.asarray(late["samples"]["t_s"]) >= late["phases"][0]["t_s"]
    assert inside.sum() > 3
    assert np.allclose(b.t_s[finite][-int(inside.sum()):], np.asarray(base["samples"]["t_s"])[inside], atol=1e-3)
    assert np.isnan(b.rss_bytes).sum() == np.isnan(b.t_s).sum() >= 1


def test_curves_aligned_at_one_phase_start_there():
    base = real_record()
    late = shifted(base, 2.5)
    start = next(p["t_s"] for p in base["phases"] if (p["scenario"], p["phase"]) == ("stability", "cycles"))
    a, b = cmp.align_curves([base, late], at="stability/cycles")
    assert np.allclose(a.t_s, np.asarray(base["samples"]["t_s"]) - start)
    assert np.allclose(a.t_s, b.t_s, atol=1e-3)
    conn_only = edited(base)
    conn_only["phases"] = [p for p in conn_only["phases"] if p["scenario"] == "connections"]
    assert cmp.align_curves([base, conn_only], at="stability/cycles")[1].t_s.size == 0
    assert not any(math.isnan(x) for x, _ in a.phase_starts)


def test_the_table_rows_are_one_model_for_every_view():
    """The app's table and the CLI's text and Markdown come from the same rows; only their markup differs."""
    base = real_record()
    new = edited(base, peak_rss_bytes=base["summary"]["peak_rss_bytes"] * 2)
    result = cmp.compare([base, new], ["base", "new"])
    plain, text, markdown = (cmp.table_rows(result, style) for style in ("plain", "text", "markdown"))
    assert len(plain) == len(text) == len(markdown) and len(cmp.table_header(result)) == len(plain[0].cells)
    peak = next(r for r in plain if r.cells[0].startswith("Peak RSS"))
    assert peak.regressed == {0} and peak.cells[-1] == "REGRESSED" and not peak.is_scope
    titles = [r for r in plain if r.is_scope]
    assert titles and all(r.cells[0] in cmp.SCOPE_TITLES.values() for r in titles)
    for p, t, m in zip(plain, text, markdown, strict=True):
        assert p.is_scope == t.is_scope == m.is_scope and p.regressed == t.regressed == m.regressed
        assert p.cells[1:] == t.cells[1:] and t.cells[0].strip("[] ") == p.cells[0].strip()
    rendered = cmp.render(result, "text")
    assert all(t.cells[0] in rendered for t in text) and cmp.verdict_line(result) in rendered
    assert all(h in rendered for h in cmp.run_headings(result))
