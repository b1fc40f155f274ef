"""Shared helpers for the core's tests: small configurations and a way to run one to the end."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from netmem_gui.core.config import RunConfig
from netmem_gui.core.running.execute import execute
from netmem_gui.core.runs.run import Run

ROOT = Path(__file__).resolve().parents[2]

# Small enough for a 2-core CI machine, big enough that every checkpoint of every scenario happens.
SMALL = dict(connections=None, messages=300, message_size=512, duration_s=0.6, interval_ms=20,
             connections_checkpoint_every=10, messages_checkpoint_every=100, stability_checkpoint_every=10)


def small_config(scenario: str, host: str, **overrides) -> RunConfig:
    values = {**SMALL, "scenario": scenario, "host": host, **overrides}
    if values["connections"] is None and scenario == "connections":
        values["connections"] = 30
    return RunConfig(**values).validate()


def run_to_end(config: RunConfig, stop_after_s: float | None = None) -> Run:
    """Execute a run on a fresh asyncio loop; optionally set its stop event after stop_after_s seconds."""
    run = Run(config)

    async def go() -> None:
        stop = asyncio.Event()
        if stop_after_s is not None:
            asyncio.get_running_loop().call_later(stop_after_s, stop.set)
        await execute(run, stop)

    asyncio.run(go())
    return run


@pytest.fixture
def netmem_cmd() -> list[str]:
    """The `netmem` command as this interpreter runs it."""
    return [sys.executable, "-m", "netmem_gui.cli"]


@pytest.fixture(autouse=True)
def _library_in_tmp(tmp_path_factory, monkeypatch):
    """Every test (and every `netmem` it starts) keeps its run library in a fresh folder, never the user's."""
    monkeypatch.setenv("NETMEM_DATA_DIR", str(tmp_path_factory.mktemp("netmem-data")))


def netmem_here(capsys, *args: str) -> tuple[int, str, str]:
    """`netmem ARGS` run in this process: (exit status, stdout, stderr)."""
    from netmem_gui import cli

    try:
        status = cli.main(list(args))
    except SystemExit as exc:  # argparse's own errors
        status = exc.code
    out = capsys.readouterr()
    return status, out.out, out.err
