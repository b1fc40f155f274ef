"""Stop and close during a run: every socket closed, the child processes gone, the partial run kept."""

from __future__ import annotations

import psutil
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")
pytest.importorskip("qasync")

from netmem_gui.core.config import RunConfig

from .conftest import run_async, until

pytestmark = pytest.mark.qt


def _workers() -> list[psutil.Process]:
    """This test process's netmem worker children (the isolated host's load and server processes)."""
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            if "netmem_gui.core.running.worker" in " ".join(child.cmdline()):
                found.append(child)
        except psutil.Error:
            continue
    return found


def _own_inet() -> set[tuple]:
    """This process's open TCP endpoints that hold a socket (listening or connected)."""
    return {
        (c.laddr, c.raddr, c.status) for c in psutil.Process().net_connections(kind="tcp")
        if c.status in (psutil.CONN_LISTEN, psutil.CONN_ESTABLISHED)
    }


def test_stop_isolated_run_ends_children_and_keeps_partial_run(window, loop):
    config = RunConfig(scenario="stability", duration_s=60, interval_ms=20)

    async def scenario():
        entry = window.start_run(config)
        run = entry.run
        await until(lambda: run.phases and run.phases[-1]["phase"] == "cycles" and len(run.samples) > 3)
        children = _workers()
        assert len(children) == 2 and run.measured["pid"] in {c.pid for c in children}
        window.stop_button.click()
        await window.wait_idle()
        return entry, children

    entry, children = run_async(loop, scenario())
    run = entry.run
    assert run.ended and not run.completed and run.stop_reason
    _, alive = psutil.wait_procs(children, timeout=5)
    assert not alive, f"worker processes still running: {alive}"
    assert _workers() == []
    assert window.run_list.item(0).text().endswith("incomplete")
    rec = window.summary.shown_record
    assert rec is not None and rec["completed"] is False and len(rec["samples"]["t_s"]) == len(run.samples)
    assert "incomplete" in window.summary.toPlainText()
    assert window.start_button.isEnabled() and not window.stop_button.isEnabled()


def test_stop_inapp_run_closes_every_socket(window, loop):
    before = _own_inet()
    config = RunConfig(scenario="connections", connections=3000, host="inapp", interval_ms=20)

    async def scenario():
        entry = window.start_run(config)
        run = entry.run
        await until(lambda: run.progress is not None and run.progress["done"] >= 100)
        assert len(_own_inet() - before) > 100  # the clients and the server's ends are open now
        window.stop_action.trigger()
        await window.wait_idle()
        await until(lambda: _own_inet() - before == set(), 10, "every socket closed")
        return entry

    entry = run_async(loop, scenario())
    assert not entry.run.completed
    assert _own_inet() - before == set(), "sockets left open after Stop"
    assert entry.rec["completed"] is False


def test_closing_the_window_mid_run_stops_it_first(window, loop, qtbot):
    closed = []
    window.closed.connect(lambda: closed.append(True))
    config = RunConfig(scenario="stability", duration_s=60, interval_ms=20)

    async def scenario():
        entry = window.start_run(config)
        await until(lambda: len(entry.run.samples) > 3)
        children = _workers()
        window.close()
        assert window.isVisible() and not closed  # not before the run has stopped
        await window.wait_idle()
        await until(lambda: bool(closed), 10)
        return entry, children

    entry, children = run_async(loop, scenario())
    assert not window.isVisible()
    assert not entry.run.completed and entry.rec["completed"] is False
    _, alive = psutil.wait_procs(children, timeout=5)
    assert not alive and _workers() == []
