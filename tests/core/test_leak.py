"""The leak verdict: its maths on synthetic series with known answers, and its storage that never grows."""

from __future__ import annotations

import numpy as np
import pytest

from netmem_gui.core.measuring.sampler import CycleSeries
from netmem_gui.core.reports import analysis

BASE = 20_000_000
PAGE = 4096


def cycles(n: int) -> np.ndarray:
    return np.arange(1, n + 1)


def test_theil_sen_recovers_an_exact_line_with_a_tight_interval():
    fit = analysis.theil_sen([1, 2, 3, 4, 5, 6], [10, 13, 16, 19, 22, 25])
    assert fit["slope"] == pytest.approx(3.0)
    assert fit["intercept"] == pytest.approx(7.0)
    assert fit["ci_low"] <= 3.0 <= fit["ci_high"]
    assert fit["p_value"] < 0.01


def test_theil_sen_of_a_constant_series_is_zero_with_no_evidence_of_trend():
    fit = analysis.theil_sen(cycles(50), [BASE] * 50)
    assert (fit["slope"], fit["ci_low"], fit["ci_high"], fit["p_value"]) == (0.0, 0.0, 0.0, 1.0)


def test_theil_sen_needs_three_distinct_x():
    assert analysis.theil_sen([1, 2], [1, 2]) is None
    assert analysis.theil_sen([1, 1, 2], [1, 2, 3]) is None


def test_known_slope_with_noise_is_recovered_and_called_a_leak():
    rng = np.random.default_rng(7)
    x = cycles(800)
    y = BASE + 1024 * x + rng.normal(0, 20_000, x.size)
    v = analysis.leak_verdict(x, y)
    assert v["verdict"] == "POSSIBLE LEAK"
    assert v["slope_bytes_per_cycle"] == pytest.approx(1024, rel=0.05)
    assert v["ci_low_bytes_per_cycle"] < 1024 < v["ci_high_bytes_per_cycle"]
    assert v["warmup_cycles"] == 160 and v["cycles_fitted"] == 640
    assert v["p_value"] < 1e-6


def test_a_page_quantised_leak_is_found():
    # RSS moves in whole pages: a 1 KiB/cycle leak is a 4 KiB step every 4 cycles.
    x = cycles(700)
    y = BASE + np.floor(1024 * x / PAGE) * PAGE
    v = analysis.leak_verdict(x, y)
    assert v["verdict"] == "POSSIBLE LEAK"
    assert v["slope_bytes_per_cycle"] == pytest.approx(1024, rel=0.02)


def test_flat_series_with_allocator_steps_is_ok():
    # A clean Python server: an arena-sized step during warm-up, then a few page-sized steps at random cycles.
    rng = np.random.default_rng(3)
    x = cycles(700)
    y = np.full(x.size, BASE, dtype=np.float64)
    y[50:] += 256 * 1024
    for pos in rng.integers(0, x.size, 8):
        y[pos:] += PAGE
    v = analysis.leak_verdict(x, y)
    assert v["verdict"] == "OK", v
    assert v["ci_high_bytes_per_cycle"] < analysis.MIN_EFFECT_BYTES


def test_one_big_step_in_steady_state_is_not_called_a_leak():
    # An allocator grabbing 128 KiB once, mid-run, is not growth per cycle: never POSSIBLE LEAK.
    x = cycles(700)
    y = np.full(x.size, BASE, dtype=np.float64)
    y[400:] += 128 * 1024
    assert analysis.leak_verdict(x, y)["verdict"] in ("OK", "INCONCLUSIVE")


def test_the_baseline_rule_and_the_verdict_disagree_where_the_baseline_rule_is_wrong():
    # 5 MB kept at warm-up (allocator retention), flat afterwards: the baseline rule says leak, the verdict says OK.
    x = cycles(500)
    y = np.full(x.size, BASE, dtype=np.float64)
    y[20:] += 5 * 1024 * 1024
    assert analysis.leak_verdict(x, y)["verdict"] == "OK"
    assert analysis.baseline_rule(BASE, int(y[-1]))["verdict"] == "POSSIBLE LEAK"


@pytest.mark.parametrize("n", [0, 1, 5, 13])
def test_too_short_series_are_inconclusive(n):
    x = cycles(n)
    v = analysis.leak_verdict(x, BASE + 100_000 * x)
    assert v["verdict"] == "INCONCLUSIVE"
    assert "too few cycles" in v["reason"]
    assert v["slope_bytes_per_cycle"] is None


def test_just_enough_cycles_give_a_verdict():
    n = 15  # 3 warm-up + 12 fitted
    x = cycles(n)
    assert analysis.leak_verdict(x, BASE + 100_000 * x)["verdict"] == "POSSIBLE LEAK"


def test_outliers_barely_move_the_slope():
    rng = np.random.default_rng(11)
    x = cycles(700)
    y = BASE + 1024 * x + rng.normal(0, 2_000, x.size)
    hit = rng.choice(x.size, 35, replace=False)  # 5 % of the points off by 5 MB either way
    y[hit] += rng.choice([-5e6, 5e6], hit.size)
    v = analysis.leak_verdict(x, y)
    assert v["slope_bytes_per_cycle"] == pytest.approx(1024, rel=0.02)
    assert v["verdict"] == "POSSIBLE LEAK"
    flat = np.full(x.size, BASE, dtype=np.float64)
    flat[hit] += 5e6
    assert analysis.leak_verdict(x, flat)["verdict"] == "OK"


def test_growth_just_under_the_minimum_effect_is_not_a_leak():
    x = cycles(700)
    v = analysis.leak_verdict(x, BASE + 40 * x)
    assert v["p_value"] < 1e-6  # significant...
    assert v["verdict"] == "OK"  # ...but too small to matter


def test_long_series_are_binned_and_still_exact():
    x = cycles(50_000)
    v = analysis.leak_verdict(x, BASE + 512.0 * x)
    assert v["slope_bytes_per_cycle"] == pytest.approx(512)
    assert v["cycles_fitted"] == 40_000


def test_minimum_effect_scales_with_connections_per_round():
    series = {"cycle": list(range(1, 301)), "rss_bytes": [BASE + 1000 * i for i in range(1, 301)],
              "traced_bytes": None}
    one = analysis.scenario_leak_verdict(series, 1, "isolated")
    many = analysis.scenario_leak_verdict(series, 100, "inapp")
    assert one["verdict"] == "POSSIBLE LEAK"
    assert many["verdict"] == "OK"  # 1000 B per round of 100 connections is 10 B per connection
    assert many["rss"]["min_effect_bytes_per_cycle"] == 100 * analysis.MIN_EFFECT_BYTES
    assert (one["host_drift_included"], many["host_drift_included"]) == (False, True)


def test_traced_series_joins_the_verdict():
    x = list(range(1, 101))
    series = {"cycle": x, "rss_bytes": [BASE] * 100, "traced_bytes": [1_000_000 + 1090 * i for i in x]}
    v = analysis.scenario_leak_verdict(series, 1, "isolated")
    assert (v["rss"]["verdict"], v["traced"]["verdict"], v["verdict"]) == ("OK", "POSSIBLE LEAK", "POSSIBLE LEAK")


@pytest.mark.parametrize(("verdicts", "combined"), [
    ([], None), ([None], None), (["OK", "OK"], "OK"), (["OK", "INCONCLUSIVE"], "INCONCLUSIVE"),
    (["INCONCLUSIVE", "POSSIBLE LEAK", "OK"], "POSSIBLE LEAK"),
])
def test_combine_verdicts(verdicts, combined):
    assert analysis.combine_verdicts(verdicts) == combined


def test_cycle_series_never_grows_and_thins_evenly_when_full():
    series = CycleSeries(capacity=8)
    before = series._cycle.nbytes + series._rss.nbytes + series._traced.nbytes
    for i in range(1, 21):
        series.append(i, 1000 + i, 500 + i)
    out = series.to_dict()
    assert series._cycle.nbytes + series._rss.nbytes + series._traced.nbytes == before
    assert out["stride"] == 4
    assert out["cycle"] == [1, 5, 9, 13, 17]
    assert out["rss_bytes"] == [1001, 1005, 1009, 1013, 1017]
    assert out["traced_bytes"] == [501, 505, 509, 513, 517]


def test_cycle_series_without_traced_values_says_so():
    series = CycleSeries(capacity=8)
    series.append(1, 10, None)
    assert series.to_dict() == {"stride": 1, "cycle": [1], "rss_bytes": [10], "traced_bytes": None, "t_s": None}
    series.append(2, 11, None, 0.25)
    assert series.to_dict()["t_s"] is None  # only a whole column of times is one
    timed = CycleSeries(capacity=2)
    for i in range(1, 4):
        timed.append(i, 10 + i, None, i / 3)
    assert timed.to_dict()["t_s"] == [0.3333, 1.0]  # thinned with the other columns


def test_theil_sen_and_its_interval_match_scipy():
    # Reference values from scipy.stats.theilslopes(y, x, 0.95, method="separate"), scipy 1.17.1, same data:
    # page-quantised RSS with ties, where the tie correction of Kendall's variance matters.
    rng = np.random.default_rng(5)
    for n, slope, low, high in [(10, 819.2, 0.0, 2048.0), (40, 481.88235294117646, 409.6, 558.5454545454545),
                                (300, 498.1621621621622, 494.3448275862069, 502.33962264150944)]:
        x = np.arange(n)
        y = np.floor((500 * x + rng.normal(0, 3000, n)) / PAGE) * PAGE
        fit = analysis.theil_sen(x, y)
        assert (fit["slope"], fit["ci_low"], fit["ci_high"]) == pytest.approx((slope, low, high))


def test_allocator_warm_up_in_a_short_run_is_not_called_a_leak():
    # A clean server's RSS rises in 4 KiB page steps for its first few hundred cycles, then holds: 240 cycles
    # in all (a 3 s run) end before it is flat. The steps can't be told from a leak that short: INCONCLUSIVE.
    rng = np.random.default_rng(3)
    cycles = np.arange(240)
    rss = 20_000_000 + 4096 * np.floor(np.minimum(cycles, 200) * 0.08 + rng.random(240) * 0.5)
    out = analysis.leak_verdict(cycles, rss, warmup_budget=analysis.RSS_WARMUP_BUDGET_BYTES)
    assert out["slope_bytes_per_cycle"] > analysis.MIN_EFFECT_BYTES  # growth is there, and significant
    assert out["verdict"] == "INCONCLUSIVE" and "warming up" in out["reason"]
    # The same growth rate sustained over a 10 s run's 800 cycles is a leak.
    long = np.arange(800)
    out = analysis.leak_verdict(long, 20_000_000 + 330.0 * long, warmup_budget=analysis.RSS_WARMUP_BUDGET_BYTES)
    assert out["verdict"] == "POSSIBLE LEAK"
