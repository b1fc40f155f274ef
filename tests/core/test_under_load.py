"""The figures under a changing load on synthetic series: the phase split, fits on the rises, the r² rule, what
releases kept, and the leak verdict with the load as a term."""

from __future__ import annotations

import numpy as np
import pytest

from netmem_gui.core.reports import analysis, findings, phases
from netmem_gui.core.reports.under_load import MIN_R_SQUARED, ramp_fit, unexplained

KB = 1024


def kinds(load) -> list[tuple[str, int, int]]:
    return [(p["kind"], round(p["load_from"]), round(p["load_to"])) for p in phases.split(load)]


def test_connect_hold_and_close_is_a_rise_a_plateau_and_a_fall_whatever_the_noise():
    for seed in range(10):
        rng = np.random.default_rng(seed)
        load = np.r_[np.zeros(10), np.linspace(0, 1500, 12), np.full(30, 1500), np.linspace(1500, 0, 5),
                     np.zeros(10)] + rng.integers(-3, 4, 67)
        got = [k for k, _, _ in kinds(load)]
        assert got == ["plateau", "rising", "plateau", "falling", "plateau"], (seed, kinds(load))


def test_two_ramps_with_a_pause_between_are_two_rising_phases():
    rng = np.random.default_rng(3)
    load = np.r_[np.zeros(5), np.linspace(0, 500, 10), np.full(20, 500), np.linspace(500, 1000, 10),
                 np.full(20, 1000), np.linspace(1000, 0, 10), np.zeros(5)] + rng.integers(-20, 20, 80)
    got = [k for k, _, _ in kinds(load)]
    assert got == ["plateau", "rising", "plateau", "rising", "plateau", "falling", "plateau"]


def test_a_slow_steady_ramp_is_one_ramp_and_jitter_alone_is_a_plateau():
    rng = np.random.default_rng(1)
    slow = np.linspace(0, 100, 1000) + rng.normal(0, 1, 1000)
    assert [k for k, _, _ in kinds(slow)].count("rising") == 1
    assert not phases.changed(40 + rng.integers(-5, 6, 200))
    assert kinds([]) == [] and kinds([5]) == [("plateau", 5, 5)]


def _rise_and_release(per_conn: float, kept_share: float, t_rise: int = 20, noise: float = 2 * KB, seed: int = 0):
    """Readings of a server whose memory follows connections up and keeps `kept_share` of it after they close."""
    rng = np.random.default_rng(seed)
    conns = np.r_[np.zeros(10), np.linspace(0, 1000, t_rise), np.full(20, 1000), np.linspace(1000, 0, 4), np.zeros(20)]
    memory = 10e6 + per_conn * conns
    after = np.arange(conns.size) >= 10 + t_rise + 20
    memory[after] = 10e6 + kept_share * per_conn * 1000 + per_conn * conns[after]
    memory += rng.normal(0, noise, conns.size)
    t = np.arange(conns.size) * 0.1
    return {"t_s": t.tolist(), "connections": conns.round().astype(int).tolist(),
            "memory_bytes": memory.round().astype(int).tolist()}


def test_observe_fits_the_rise_and_reports_what_the_release_kept():
    obs = _rise_and_release(per_conn=10 * KB, kept_share=0.9)
    fig = analysis.observe_figures([], {"duration_s": 8.4}, obs)
    assert fig["per_connection_bytes"] == pytest.approx(10 * KB, rel=0.05)
    # One fit over every reading, the rise and the release alike, is what netmem printed before: far too low.
    whole = analysis.fit_line(obs["connections"], obs["memory_bytes"])
    assert whole["slope"] < 0.5 * 10 * KB
    [release] = fig["releases"]
    assert release["released"] == 1000
    assert release["kept_per_released_bytes"] == pytest.approx(9 * KB, rel=0.05)
    assert fig["kept_per_released_connection_bytes"] == pytest.approx(9 * KB, rel=0.05)


def test_a_fit_that_explains_nothing_is_no_figure():
    rng = np.random.default_rng(2)
    conns = np.r_[np.linspace(0, 100, 30)]
    memory = 5e6 + rng.normal(0, 100 * KB, conns.size)  # memory that does not follow the connections
    fit = ramp_fit(conns, memory, phases.split(conns))
    assert fit is not None and fit["r_squared"] < MIN_R_SQUARED
    assert unexplained(fit, "connections") == f"memory did not follow connections: r² {fit['r_squared']:.3f}"
    fig = analysis.observe_figures([], {}, {"t_s": list(range(30)), "connections": conns.astype(int).tolist(),
                                            "memory_bytes": memory.astype(int).tolist()})
    assert fig["per_connection_bytes"] is None and fig["fit_reason"].startswith("memory did not follow connections")
    # The connections scenario's fit obeys the same rule.
    cps = [{"label": "After server start", "connections": 0, "rss_bytes": 5_000_000}] + [
        {"label": f"After {n} connections", "connections": n, "rss_bytes": 5_000_000 + jump}
        for n, jump in ((50, 300_000), (100, -300_000), (150, 300_000), (200, -300_000))]
    figs = analysis.connections_figures(cps, {"created": 200})
    assert figs["per_connection_bytes"] is None and "did not follow connections" in figs["fit_reason"]


def _cycles_beside(load: np.ndarray, requests: np.ndarray, per_cycle: float, per_conn: float, per_request: float,
                   seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    n = load.size
    rss = 30e6 + per_cycle * np.arange(n) + per_conn * load + per_request * requests + rng.normal(0, 4 * KB, n)
    return {"cycle": np.arange(1, n + 1), "rss_bytes": rss.astype(np.int64), "traced_bytes": None,
            "t_s": np.arange(n) * 0.01}


def _load(series: dict, held: np.ndarray, requests: np.ndarray | None = None) -> analysis.Load:
    terms = {"connection": held}
    if requests is not None:
        terms["request"] = requests
    return series["t_s"], terms


def test_memory_held_by_others_connections_is_not_called_a_leak_when_it_can_be_told_apart():
    n = 1000
    held = np.r_[np.zeros(300), np.linspace(0, 400, 200), np.full(500, 400.0)]
    series = _cycles_beside(held, np.zeros(n), per_cycle=0, per_conn=1.6 * KB, per_request=0)
    plain = analysis.scenario_leak_verdict(series, 1, "isolated")
    assert plain["rss"]["verdict"] == "POSSIBLE LEAK"  # what netmem said before the load was a term
    with_load = analysis.scenario_leak_verdict(series, 1, "isolated", _load(series, held))
    rss = with_load["rss"]
    assert rss["verdict"] == "OK", rss["reason"]
    [term] = rss["load_term"]["terms"]
    assert term["unit"] == "connection" and term["bytes_per_unit"] == pytest.approx(1.6 * KB, rel=0.05)


def test_a_leak_per_cycle_is_still_caught_beside_a_changing_load():
    held = np.r_[np.zeros(300), np.linspace(0, 400, 200), np.full(500, 400.0)]
    series = _cycles_beside(held, np.zeros(held.size), per_cycle=1 * KB, per_conn=1.6 * KB, per_request=0)
    rss = analysis.scenario_leak_verdict(series, 1, "isolated", _load(series, held))["rss"]
    assert rss["verdict"] == "POSSIBLE LEAK"
    assert rss["slope_bytes_per_cycle"] == pytest.approx(1 * KB, rel=0.1)


def test_cycles_that_move_with_others_requests_are_not_judged():
    n = 1000
    requests = np.arange(n) * 12.0  # others' requests at a steady rate, like netmem's cycles
    held = np.r_[np.linspace(0, 150, 300), np.full(700, 150.0)]
    series = _cycles_beside(held, requests, per_cycle=0, per_conn=1.6 * KB, per_request=20)
    rss = analysis.scenario_leak_verdict(series, 1, "isolated", _load(series, held, requests))["rss"]
    assert rss["verdict"] == "INCONCLUSIVE" and rss["reason"].startswith("not judged: the load changed")
    assert rss["load_term"]["collinearity_r_squared"] > 0.9


def test_a_load_that_did_not_change_leaves_the_plain_verdict():
    held = np.full(800, 50.0)
    series = _cycles_beside(held, np.zeros(800), per_cycle=0, per_conn=1.6 * KB, per_request=0)
    verdict = analysis.scenario_leak_verdict(series, 1, "isolated", _load(series, held))
    assert verdict["rss"]["load_term"] is None and verdict["rss"]["verdict"] == "OK"
    # Records made before cycles had times: no load term, the plain verdict.
    untimed = {**series, "t_s": None}
    assert analysis.scenario_leak_verdict(untimed, 1, "isolated", _load(series, held))["rss"]["load_term"] is None


def _observe_record(fig: dict) -> dict:
    return {"scenarios": {"observe": fig}, "config": {"scenario": "observe", "attach": 42},
            "target": {"kind": "attach", "pid": 42}, "summary": {}}


def test_memory_kept_after_one_release_is_a_finding_that_says_one_release_cant_tell():
    fig = analysis.observe_figures([], {}, _rise_and_release(per_conn=10 * KB, kept_share=0.9))
    [found] = findings.not_released_observed(_observe_record(fig))
    assert found["id"] == "not-released" and "one release can't tell" in found["diagnosis"]
    clean = analysis.observe_figures([], {}, _rise_and_release(per_conn=10 * KB, kept_share=0.1))
    assert findings.not_released_observed(_observe_record(clean)) == []


def _ramps(per_conn: float, kept_share: float, ramps: int) -> dict:
    """`ramps` rises to 1000 connections and releases; each release keeps `kept_share` of what its rise took, for
    good (a leak) or reused by the next rise (kept_share applied once: retention)."""
    conns, memory = [], []
    level = 10e6
    for _ in range(ramps):
        up = np.r_[np.zeros(10), np.linspace(0, 1000, 15), np.full(15, 1000)]
        conns += list(up)
        memory += list(level + per_conn * up)
        level += kept_share * per_conn * 1000
        down = np.r_[np.linspace(1000, 0, 4), np.zeros(15)]
        conns += list(down)
        memory += list(level + per_conn * down)
    t = np.arange(len(conns)) * 0.1
    return {"t_s": t.tolist(), "connections": np.round(conns).astype(int).tolist(),
            "memory_bytes": np.round(memory).astype(int).tolist()}


def test_two_releases_tell_memory_kept_for_reuse_from_a_leak():
    leak = analysis.observe_figures([], {}, _ramps(10 * KB, 0.8, ramps=3))
    assert len(leak["releases"]) == 3 and leak["growth_per_release_bytes"] == pytest.approx(8000 * KB, rel=0.05)
    [found] = findings.not_released_observed(_observe_record(leak))
    assert "later ramps did not reuse" in found["diagnosis"]
    # Retention: the first release keeps memory, the next ramps reuse it (the level after each release stays).
    kept = _ramps(10 * KB, 0.0, ramps=3)
    mem = np.asarray(kept["memory_bytes"], dtype=np.float64)
    first_release_end = 10 + 15 + 15 + 4
    mem[first_release_end:] += 8e6 * (np.asarray(kept["connections"][first_release_end:]) < 1000)
    kept["memory_bytes"] = mem.astype(int).tolist()
    retention = analysis.observe_figures([], {}, kept)
    assert abs(retention["growth_per_release_bytes"]) < 1e6
    assert findings.not_released_observed(_observe_record(retention)) == []
