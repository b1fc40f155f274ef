"""The analysis maths on synthetic series whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest

from netmem_gui.core.reports import analysis


def cp(scenario, label, rss, connections=0, messages=0, t=0.0):
    return {"scenario": scenario, "label": label, "t_s": t, "rss_bytes": int(rss), "vms_bytes": int(rss) * 4,
            "connections": connections, "messages": messages}


def connection_checkpoints(per_conn: float, noise: float = 0.0, n: int = 200, every: int = 50, seed: int = 1):
    rng = np.random.default_rng(seed)
    base = 20_000_000
    cps = [cp("connections", "Baseline", base - 60_000), cp("connections", "After server start", base)]
    for k in range(every, n + 1, every):
        cps.append(cp("connections", f"After {k} connections", base + per_conn * k + rng.normal(0, noise), k))
    cps.append(cp("connections", "After closing clients", base + per_conn * n * 0.6))
    cps.append(cp("connections", "After server stop", base + per_conn * n * 0.5))
    return cps


def test_fit_line_recovers_a_known_slope_exactly():
    fit = analysis.fit_line([0, 1, 2, 3], [10, 13, 16, 19])
    assert fit["slope"] == pytest.approx(3.0)
    assert fit["intercept"] == pytest.approx(10.0)
    assert fit["r_squared"] == pytest.approx(1.0)
    assert fit["points"] == 4


def test_fit_line_needs_two_distinct_x():
    assert analysis.fit_line([5], [1]) is None
    assert analysis.fit_line([5, 5, 5], [1, 2, 3]) is None


def test_per_connection_overhead_is_the_known_slope():
    figs = analysis.connections_figures(connection_checkpoints(11_264), {"requested": 200, "created": 200, "failed": 0})
    assert figs["per_connection_bytes"] == pytest.approx(11_264)
    assert figs["client_bytes"] == 11_264 * 200
    assert figs["per_connection_fit"]["points"] == 5


def test_per_connection_fit_resists_one_noisy_end_better_than_end_minus_start():
    # A noisy last checkpoint (an allocator step) moves end-minus-start a lot, the fit over all points less.
    cps = connection_checkpoints(8_000, n=400)
    last = next(c for c in cps if c["label"] == "After 400 connections")
    last["rss_bytes"] += 400_000
    figs = analysis.connections_figures(cps, {"created": 400})
    assert abs(figs["per_connection_bytes"] - 8_000) < abs(figs["per_connection_end_minus_start_bytes"] - 8_000)


def test_per_connection_with_noise_is_close():
    figs = analysis.connections_figures(connection_checkpoints(7_000, noise=20_000, n=2000), {"created": 2000})
    assert figs["per_connection_bytes"] == pytest.approx(7_000, rel=0.05)


def test_cleanup_effectiveness():
    figs = analysis.connections_figures(connection_checkpoints(10_000), {"created": 200})
    # Server stop leaves half of what the connections took: half returned.
    assert figs["cleanup_returned_bytes"] == 1_000_000
    assert figs["cleanup_percent"] == pytest.approx(50.0)


def test_connections_figures_of_a_run_stopped_early_are_null_not_wrong():
    figs = analysis.connections_figures([cp("connections", "Baseline", 1000)], {})
    assert figs["per_connection_bytes"] is None
    assert figs["cleanup_percent"] is None
    assert figs["baseline_rss_bytes"] == 1000


def test_messages_throughput_and_growth():
    cps = [cp("messages", "After connecting clients", 5_000_000), cp("messages", "After processing", 5_300_000)]
    figs = analysis.messages_figures(cps, {"requested": 10_000, "echoed": 10_000, "message_size": 1024,
                                           "elapsed_s": 2.0, "mismatched": 0, "clients": 1})
    assert figs["messages_per_s"] == pytest.approx(5_000)
    assert figs["mb_per_s"] == pytest.approx(10_000 * 1024 / 2.0 / 1048576)
    assert figs["memory_growth_bytes"] == 300_000
    assert figs["bytes_echoed"] == 10_240_000


def test_stability_drift_and_peak_include_samples_inside_the_scenario_only():
    cps = [cp("stability", "After server start", 1_000, t=1.0), cp("stability", "After 100 cycles", 1_500, t=2.0),
           cp("stability", "After stability run", 1_200, t=3.0)]
    t = np.array([0.5, 1.5, 2.5, 3.5])
    rss = np.array([9_999, 1_100, 1_800, 7_777])
    figs = analysis.stability_figures(cps, {"cycles": 100, "cycles_ok": 100}, t, rss)
    assert figs["drift_bytes"] == 200
    assert figs["peak_rss_bytes"] == 1_800


@pytest.mark.parametrize(("final", "verdict"), [(2_000_000, "OK"), (2_048_576, "OK"), (2_048_577, "POSSIBLE LEAK")])
def test_baseline_rule_threshold_is_one_mib_above_baseline(final, verdict):
    assert analysis.baseline_rule(1_000_000, final)["verdict"] == verdict


def test_summary_takes_first_and_last_checkpoint_and_peak_of_everything():
    cps = [cp("connections", "Baseline", 100), cp("connections", "After server stop", 400)]
    s = analysis.summary_figures(cps, np.array([0.0, 1.0]), np.array([300, 900]))
    got = (s["baseline_rss_bytes"], s["final_rss_bytes"], s["peak_rss_bytes"], s["delta_bytes"])
    assert got == (100, 400, 900, 300)
    assert s["baseline_rule"]["verdict"] == "OK"


def test_analyse_leaves_out_scenarios_that_never_began():
    out = analysis.analyse(["connections", "messages"], [cp("connections", "Baseline", 1)], {}, np.array([]),
                           np.array([]))
    assert list(out["scenarios"]) == ["connections"]


def test_cleanup_with_rounds_is_measured_from_the_last_round():
    cps = [cp("connections", "After server start", 1_000_000), cp("connections", "After 10 connections", 1_100_000, 10),
           cp("connections", "After closing clients", 1_090_000),
           cp("connections", "Round 2: after 10 connections", 1_200_000, 10),
           cp("connections", "Round 2: after closing clients", 1_150_000),
           cp("connections", "After server stop", 1_150_000)]
    figs = analysis.connections_figures(cps, {"created": 20, "first_round_created": 10})
    assert figs["client_bytes"] == 100_000  # round 1: what ten connections took
    assert figs["cleanup_returned_bytes"] == 50_000  # from round 2's held RSS, not round 1's
    assert figs["cleanup_percent"] == pytest.approx(25.0)  # of the 200,000 held in the last round


def test_a_scenario_that_made_nothing_is_named_as_failed():
    from netmem_gui.core.reports.analysis import nothing_succeeded

    assert nothing_succeeded("connections", {"connections_requested": 20, "connections_created": 0,
                                             "last_connection_error": "ConnectionRefusedError"}) == (
        "connections: 0 of 20 connections were made (last error: ConnectionRefusedError)")
    assert nothing_succeeded("messages", {"messages_requested": 50, "messages_echoed": 0}) == (
        "messages: none of 50 messages came back")
    assert nothing_succeeded("stability", {"cycles": 9, "cycles_ok": 0}) == "stability: none of 9 cycles succeeded"
    assert nothing_succeeded("connections", {"connections_requested": 20, "connections_created": 1}) is None
    assert nothing_succeeded("stability", {"cycles": 0, "cycles_ok": 0}) is None  # stopped before any cycle
