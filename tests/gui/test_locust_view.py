"""The app under a real Locust cluster's load: the users/rps strip live and for the kept run, Locust's checkpoints
on the RSS plot, the load in the summary, and the compare window's overlay by user count."""

from __future__ import annotations

import copy
import socket

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")
pytest.importorskip("qasync")

from netmem_gui.core.config import RunConfig
from netmem_gui.core.records import record
from netmem_gui.core.runs import library
from tests.core.locust_cluster import cluster, free_port, need_locust

from .conftest import finished_on_screen, run_async, until

pytestmark = pytest.mark.qt
USERS = 12


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_the_load_strip_follows_a_real_locust_cluster(window, loop, tmp_path):
    need_locust()
    port = free_port()
    with cluster("tcp_echo.py", f"tcp://127.0.0.1:{port}", users=USERS, spawn_rate=6, run_time_s=5, workers=2,
                 log_dir=tmp_path) as locust:
        config = RunConfig(scenario="stability", duration_s=40, port=port, interval_ms=100, locust_url=locust.url,
                           until_locust_stops=True).validate()

        async def go():
            entry = window.start_run(config)
            assert entry is not None, window.statusBar().currentMessage()
            await until(lambda: _listening(port), 20, "netmem's echo server")
            locust.start_workers()
            await until(lambda: window.load_plot.point_count() > 0, 20, "the first poll on the strip")
            live_visible = window.load_plot.isVisible()
            await finished_on_screen(window, entry)
            return entry, live_visible

        entry, live_visible = run_async(loop, go(), 90)
    assert live_visible
    rec = entry.rec
    series = rec["load"]["series"]
    assert max(series["users"]) == USERS
    strip = window.load_plot
    assert strip.isVisible() and strip.point_count() == len(series["t_s"])
    assert max(strip.users.getOriginalDataset()[1]) == USERS
    labels = [cp["label"] for cp in rec["checkpoints"]]
    assert f"Locust running {USERS} users" in labels
    assert "Under Locust's Load" in window.summary.toPlainText()

    # Compare two such runs by user count: one point per poll, at the users the master reported.
    other = copy.deepcopy(rec)
    other["started_at"] = other["started_at"][:-4] + "999Z"
    other["label"] = "another run"
    base, new = library.save_run(rec), library.save_run(record.validate(other))
    view = window.show_compare([base.id, new.id])
    view.align_box.setCurrentText("Locust users (no time)")
    assert len(view.curves) == 2
    assert list(view.curves[0].xData) == series["users"]
    assert view.plot.getPlotItem().getAxis("bottom").labelText == "Locust users"


def test_the_load_strip_is_hidden_for_runs_without_locust(window, loop):
    entry = window.start_run(RunConfig(scenario="stability", duration_s=0.5, interval_ms=50))
    run_async(loop, finished_on_screen(window, entry))
    assert not window.load_plot.isVisible() and "Locust" not in window.summary.toPlainText()
    assert not window.plot.getPlotItem().getAxis("right").isVisible()

