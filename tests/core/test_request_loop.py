"""The messages scenario's hot path (core/load/request_loop.py): right replies from callbacks, anything else handed
to the general code, which says what is wrong and goes on. Against real sockets, each server a process of its
own (tests/core/redis_like.py); the in-app host, so that the load runs here and its timeouts can be shortened."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import run_to_end, small_config

from netmem_gui.core.load import protocols
from netmem_gui.core.records import record
from netmem_gui.core.running.lifecycle import prepare

SERVER = Path(__file__).with_name("redis_like.py")


@contextlib.contextmanager
def redis_like(mode: str, at: int = 1) -> Iterator[tuple[int, int]]:
    """tests/core/redis_like.py in a process of its own: (its PID, its port)."""
    proc = subprocess.Popen([sys.executable, str(SERVER), mode, str(at)], stdout=subprocess.PIPE, text=True)
    try:
        port = int(proc.stdout.readline())
        yield proc.pid, port
    finally:
        proc.kill()
        proc.wait()


def run_messages(server: tuple[int, int], messages: int = 300, connections: int = 3) -> dict:
    pid, port = server
    config = small_config("messages", "inapp", connections=connections, messages=messages, message_size=16,
                          attach_pid=pid, address=f"127.0.0.1:{port}", protocol="redis")
    prepare(config)
    return record.validate(run_to_end(config).record())


def test_right_replies_in_pieces_are_all_counted_and_checkpointed_on_the_dot():
    with redis_like("ok") as server:
        rec = run_messages(server)
    got = rec["scenarios"]["messages"]
    assert (got["messages_echoed"], got["messages_mismatched"], got["broken_connections"]) == (300, 0, 0)
    taken = {c["label"]: c["messages"] for c in rec["checkpoints"] if c["scenario"] == "messages"}
    assert {label: taken.get(label) for label in ("After 100 messages", "After 200 messages", "After 300 messages")} \
        == {"After 100 messages": 100, "After 200 messages": 200, "After 300 messages": 300}


def test_a_wrong_reply_among_right_ones_is_counted_and_the_connection_goes_on():
    """The 50th reply is a well-formed ECHO of other bytes: mismatched, and the rest still count."""
    with redis_like("wrong", 50) as server:
        rec = run_messages(server, messages=60)
    got = rec["scenarios"]["messages"]
    assert (got["messages_echoed"], got["messages_mismatched"], got["broken_connections"]) == (59, 1, 0)


def test_a_reply_that_is_no_echo_ends_the_run_saying_so():
    with redis_like("plus", 30) as server:
        rec = run_messages(server)
    assert rec["completed"] is False
    assert "do not look like redis" in rec["stop_reason"]  # the general code's words for a reply that is no ECHO


def test_a_server_that_closes_mid_run_counts_a_broken_connection():
    with redis_like("close", 40) as server:
        rec = run_messages(server)
    got = rec["scenarios"]["messages"]
    assert got["broken_connections"] == 1
    assert got["messages_echoed"] == 299  # the other two connections send the rest


def test_a_reply_that_never_comes_ends_the_run_within_two_timeouts(monkeypatch):
    monkeypatch.setattr(protocols, "REPLY_TIMEOUT_S", 0.4)
    monkeypatch.setattr(protocols, "SNIFF_TIMEOUT_S", 0.2)
    with redis_like("silent", 60) as server:
        started = time.monotonic()
        rec = run_messages(server, connections=1)
        took = time.monotonic() - started
    assert rec["completed"] is False
    assert "no reply from 127.0.0.1:" in rec["stop_reason"] and "within 0.4 s to redis" in rec["stop_reason"]
    assert rec["scenarios"]["messages"]["messages_echoed"] == 59
    assert took < 4.5  # the watch's own timeout, not the 5 s default: 0.4 to 0.8 s, the sniffs, the run around it


def test_a_connection_closed_during_a_checkpoint_is_a_broken_connection_not_a_hang():
    """The server answers the 100th request (a checkpoint is due after it) and closes: the close comes while the
    hot path is paused at the checkpoint. It used to go past it to the stream, and the next request waited for a
    reply that could not come (a hang without a watch; "no reply" with one)."""
    with redis_like("answer_and_close", 100) as server:
        started = time.monotonic()
        rec = run_messages(server, connections=1)
        took = time.monotonic() - started
    got = rec["scenarios"]["messages"]
    assert rec["completed"] is True, rec["stop_reason"]
    assert (got["messages_echoed"], got["broken_connections"]) == (100, 1)
    assert took < 20  # the checkpoints wait up to 2 s each for the server to hold what netmem holds; a hang is for ever


def counts(rec: dict) -> tuple:
    got = rec["scenarios"]["messages"]
    taken = sorted((c["label"], c["messages"]) for c in rec["checkpoints"] if c["scenario"] == "messages")
    return got["messages_echoed"], got["messages_mismatched"], got["broken_connections"], taken


@pytest.mark.parametrize(("mode", "at"), [("ok", 1), ("wrong", 1), ("wrong", 7), ("close", 40)])
def test_the_hot_path_counts_what_the_general_code_counts(mode, at, monkeypatch):
    """The same server, the same run, with and without the hot path: the same counts and checkpoints."""
    with redis_like(mode, at) as server:
        fast = counts(run_messages(server, messages=140, connections=1))
    monkeypatch.setattr(protocols.RedisClient, "request_and_reply", lambda self, payload: None)
    with redis_like(mode, at) as server:
        general = counts(run_messages(server, messages=140, connections=1))
    assert fast == general


def test_the_baseline_of_an_attached_server_does_not_wait_out_the_settle_timeout():
    """The baseline checkpoint waited for an attached server to hold no socket at all (its listener included), so
    every scenario against --attach or --spawn began with a 2 s wait (external.SETTLE_TIMEOUT_S) for nothing."""
    from netmem_gui.core.targets.external import SETTLE_TIMEOUT_S

    with redis_like("ok") as server:
        rec = run_messages(server, messages=10, connections=1)
    baseline = next(c for c in rec["checkpoints"] if c["label"] == "Baseline")
    assert baseline["t_s"] < SETTLE_TIMEOUT_S / 2
