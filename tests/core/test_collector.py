"""The process's garbage collector runs on its owner's thread only: asked for from other threads, served there."""

from __future__ import annotations

import gc
import threading
from pathlib import Path

import pytest
from conftest import run_to_end, small_config

from netmem_gui.core.running.collector import COLLECTOR, Collector


@pytest.fixture
def collections():
    """The thread of every collection that starts while the test runs."""
    threads: list[int] = []

    def note(phase: str, info: dict) -> None:
        if phase == "start":
            threads.append(threading.get_ident())

    gc.callbacks.append(note)
    yield threads
    gc.callbacks.remove(note)


def test_another_thread_waits_for_the_owner_to_collect(collections):
    collector = Collector()
    collector.take()
    collections.clear()  # an automatic one may have run just before
    try:
        assert not gc.isenabled()
        asked = []
        worker = threading.Thread(target=lambda: asked.append(collector.request()))
        worker.start()
        worker.join()
        assert not asked[0].done() and not collections  # nothing ran on the asking thread
        assert collector.serve() is True
        assert asked[0].done() and collections == [threading.get_ident()]
        assert collector.serve() is False  # nothing more asked for, and too little garbage to be due
    finally:
        collector.release()
    assert gc.isenabled()


def test_the_owner_collects_what_is_due_and_nobody_else_does(collections):
    collector = Collector()
    collector.take()
    collections.clear()
    try:
        def make_garbage() -> None:
            for _ in range(20 * gc.get_threshold()[0]):
                cycle: list = []
                cycle.append(cycle)

        worker = threading.Thread(target=make_garbage)
        worker.start()
        worker.join()
        assert not collections  # automatic collections are off while the collector is owned
        assert gc.get_count()[0] > gc.get_threshold()[0]
        collector.serve()
        assert collections == [threading.get_ident()]
        assert gc.get_count()[0] < gc.get_threshold()[0]
    finally:
        collector.release()


def test_release_serves_whoever_still_waits_and_ownership_is_one_threads():
    collector = Collector()
    collector.take()
    collector.take()  # again, on the same thread: nested
    asked: list = []
    refused: list = []

    def other() -> None:
        asked.append(collector.request())
        try:
            collector.take()
        except RuntimeError as exc:
            refused.append(str(exc))

    worker = threading.Thread(target=other)
    worker.start()
    worker.join()
    assert refused == ["the garbage collector is owned by another thread"]
    collector.release()
    assert collector.owned and not asked[0].done()
    collector.release()
    assert not collector.owned and asked[0].done()
    assert collector.request().done()  # with no owner, any thread collects at once


def test_a_disabled_collector_stays_disabled_after_release():
    gc.disable()
    try:
        collector = Collector()
        collector.take()
        collector.release()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_an_inapp_run_collects_on_the_callers_thread_only(collections):
    """The workload thread asks for a collection at each baseline, each round and (tracing) each cycle."""
    run = run_to_end(small_config("all", "inapp", connections=10, messages=50, duration_s=0.5, rounds=3,
                                  trace_allocations=True))
    rec = run.record()
    assert rec["completed"], rec["stop_reason"]
    assert len(collections) >= 3 + 3 + 10  # three baselines, three rounds, and per stability cycle
    assert set(collections) == {threading.get_ident()}
    assert gc.isenabled() and not COLLECTOR.owned


def test_only_the_collector_and_the_server_process_collect():
    """A gc.collect() anywhere else in the package would run on whatever thread called it."""
    package = Path(__file__).parents[2] / "netmem_gui"
    callers = sorted(str(p.relative_to(package)) for p in package.rglob("*.py") if "gc.collect(" in p.read_text())
    # tracing.py collects for the isolated server's process (worker.py), which has no other thread.
    assert callers == ["core/measuring/tracing.py", "core/running/collector.py", "core/running/worker.py"]
