"""The app's summary opens with the run's findings: symptom, evidence, next steps; or says there are none."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("PySide6")

from netmem_gui.core.config import RunConfig

from .conftest import run_async
from .test_leak_lag_views import _run

pytestmark = pytest.mark.qt


def test_summary_starts_with_the_findings_of_a_leaking_run(window, loop, tmp_path):
    config = RunConfig(scenario="connections", connections=30, rounds=2, inject_leak_bytes=64 * 1024,
                       interval_ms=50)
    entry, _ = run_async(loop, _run(window, config))
    assert entry.run.completed, entry.run.stop_reason
    rec = window.summary.shown_record
    ids = [f["id"] for f in rec["findings"]]
    assert "not-released" in ids  # and high-per-connection, when 64 KiB a connection lands above its limit
    lines = window.summary.toPlainText().splitlines()
    assert lines[1] == f"Findings ({len(ids)})"
    text = "\n".join(lines)
    assert "Memory not released after cleanup (connections): each round of connections keeps" in text
    assert "Evidence: Memory kept per round: " in text
    assert "netmem run connections --connections 30 --interval 50 --rounds 2 --inject-leak 65536" \
           " --trace-allocations" in text
    assert text.index("Findings (") < text.index("Leak verdict (growth per cycle")
    window.summary.grab().save(str(tmp_path / "findings.png"))

    # The same record from before findings existed: the summary says so instead of guessing.
    old = dict(rec)
    del old["findings"]
    path = tmp_path / "old.json"
    path.write_text(json.dumps(old), encoding="utf-8")
    assert window.open_record(str(path))
    assert "Findings: not in this record" in window.summary.toPlainText()


def test_summary_of_a_clean_run_says_no_findings(window, loop):
    entry, _ = run_async(loop, _run(window, RunConfig(scenario="connections", connections=20, interval_ms=50)))
    assert entry.run.completed, entry.run.stop_reason
    lines = window.summary.toPlainText().splitlines()
    assert lines[1] == "No findings"
    assert lines[2].startswith("The run shows none of the symptoms netmem looks for")


def test_a_run_of_your_server_is_named_in_the_plots_and_the_record_reopens_with_it(window, loop, tmp_path):
    from pathlib import Path

    servers = str(Path(__file__).parents[1] / "core" / "user_servers")
    config = RunConfig(scenario="connections", connections=10, interval_ms=50, server="kinds:handle",
                       app_dir=servers)
    entry, _ = run_async(loop, _run(window, config))
    assert entry.run.completed, entry.run.stop_reason
    assert "RSS of your server kinds:handle, in its own process" in window.plot.getPlotItem().titleLabel.text
    assert "your server kinds:handle's loop" in window.lag_plot.getPlotItem().titleLabel.text
    path = tmp_path / "run.json"
    path.write_text(json.dumps(entry.record()), encoding="utf-8")
    assert window.open_record(str(path))
    assert "RSS of your server kinds:handle" in window.plot.getPlotItem().titleLabel.text
