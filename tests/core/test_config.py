"""Run configuration: the C++ guide's defaults and the refusal of values that can't be run."""

from __future__ import annotations

import math

import pytest

from netmem_gui.core.config import ConfigError, RunConfig


def test_defaults_are_the_guides():
    cfg = RunConfig().validate()
    assert (cfg.scenario, cfg.messages, cfg.message_size, cfg.duration_s, cfg.interval_ms, cfg.host) == (
        "all", 10_000, 1024, 10.0, 100, "isolated")
    assert cfg.connections_for("connections") == 200
    assert cfg.connections_for("messages") == 1
    assert cfg.scenario_list() == ("connections", "messages", "stability")


def test_explicit_connections_apply_to_every_scenario():
    cfg = RunConfig(connections=7)
    assert cfg.connections_for("connections") == cfg.connections_for("messages") == 7
    assert cfg.to_dict()["connections_by_scenario"] == {"connections": 7, "messages": 7}


def test_round_trip_through_dict():
    cfg = RunConfig(scenario="messages", connections=3, messages=50, host="inapp")
    assert RunConfig.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize(("field", "value", "words"), [
    ("connections", 0, "--connections must be at least 1"),
    ("connections", -5, "--connections must be at least 1"),
    ("connections", 10**9, "--connections 1000000000 is more than"),
    ("messages", 0, "--messages must be at least 1"),
    ("message_size", 0, "--message-size must be at least 1"),
    ("message_size", 1 << 30, "--message-size 1073741824 is more than"),
    ("interval_ms", 5, "--interval must be at least 10"),
    ("duration_s", 0, "--duration must be a positive"),
    ("duration_s", -1.0, "--duration must be a positive"),
    ("duration_s", math.nan, "--duration must be a positive"),
    ("duration_s", math.inf, "--duration must be a positive"),
    ("duration_s", 10**6, "is more than the 86400 s"),
    ("connections", True, "must be a whole number"),
    ("port", 70000, "--port 70000 is more than"),
    ("scenario", "bogus", "unknown scenario 'bogus'"),
    ("host", "cloud", "unknown host 'cloud'"),
    ("load_loop", "trio", "unknown load loop 'trio'; choose one of auto, asyncio, uvloop"),
])
def test_refuses_values_that_cannot_be_run(field, value, words):
    with pytest.raises(ConfigError) as err:
        RunConfig(**{field: value}).validate()
    assert words in str(err.value)
    assert "\n" not in str(err.value)


def test_the_load_loop_auto_takes_uvloop_only_for_the_isolated_hosts_load_where_installed(monkeypatch):
    from netmem_gui.core import config as cfg

    monkeypatch.setattr(cfg, "uvloop_installed", lambda: True)
    assert RunConfig().to_dict()["load_loop_used"] == "uvloop"
    assert RunConfig(host="inapp").to_dict()["load_loop_used"] == "asyncio"
    assert RunConfig(load_loop="asyncio").to_dict()["load_loop_used"] == "asyncio"
    assert RunConfig.from_dict(RunConfig().to_dict()) == RunConfig()  # the record keeps what was asked: auto
    monkeypatch.setattr(cfg, "uvloop_installed", lambda: False)
    assert RunConfig().to_dict()["load_loop_used"] == "asyncio"
    with pytest.raises(ConfigError, match=r"uvloop is not installed \(pip install 'netmem\[fast\]'"):
        RunConfig(load_loop="uvloop").validate()


def test_uvloop_is_refused_for_the_in_app_hosts_load():
    with pytest.raises(ConfigError, match="the in-app host's load runs on the app's own asyncio loop"):
        RunConfig(host="inapp", load_loop="uvloop").validate()


def test_the_load_loop_a_run_used_is_kept_not_guessed_again(monkeypatch):
    """A record rebuilt from a journal on another machine kept the loop the run used, not that machine's guess."""
    from netmem_gui.core import config as cfg

    monkeypatch.setattr(cfg, "uvloop_installed", lambda: False)
    ran = RunConfig().to_dict()
    assert ran["load_loop_used"] == "asyncio"
    monkeypatch.setattr(cfg, "uvloop_installed", lambda: True)
    assert RunConfig.from_dict(ran).to_dict()["load_loop_used"] == "asyncio"
    assert RunConfig.from_dict({**ran, "load_loop_used": "uvloop"}).effective_load_loop() == "uvloop"
    with pytest.raises(ConfigError, match="unknown load loop used 'trio'"):
        RunConfig.from_dict({**ran, "load_loop_used": "trio"}).validate()
