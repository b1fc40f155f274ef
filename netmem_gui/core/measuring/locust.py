"""Load from a Locust cluster: its master's web API read over HTTP (standard library only), kept as a series.

netmem never imports locust: it reads `GET /stats/requests` on the master (the JSON Locust's own web page
polls) with a short timeout, through an opener that ignores proxy settings, so the request goes straight to
the master on this machine.
"""

from __future__ import annotations

import json
import math
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from ..addresses import this_machine
from ..errors import NetmemError
from .gets import FAILURES, OPENER, reason
from .sampler import ColumnBuffer

STATS_PATH = "/stats/requests"
TIMEOUT_S = 1.0  # a master that takes longer than this to answer is a gap in the series, not a stalled run
# The master caches /stats/requests for 2 s; polling faster only re-reads the same answer.
MIN_POLL_S = 0.25
GONE_AFTER_S = 3.0  # --until-locust-stops: a master silent this long after its test ran has stopped (--autoquit)
STATES = ("ready", "spawning", "running", "cleanup", "stopping", "stopped", "missing")
SPAWNING, RUNNING, STOPPED = "Locust spawning", "Locust running {users} users", "Locust stopped"

# What a sane master can report; anything past these is refused where it enters, as a poll that is not Locust's.
MAX_USERS = 10_000_000
MAX_COUNT = 2**53  # requests and failures: exact in a float, which JSON numbers may be
MAX_RPS = 1e9


class LocustError(NetmemError, ValueError):
    """A Locust URL that can't be watched (not this machine, no answer, not Locust); one line for the user."""


def check_url(url: str, own: set[str] | None = None, remote: bool = False) -> str:
    """The master's base URL ("http://127.0.0.1:8089"), or LocustError when it is not one on this machine.
    `remote`: any machine's (--prometheus reads memory there; the master is read with GETs only, like Prometheus).

    Only literal addresses (and "localhost") are accepted, so no name is looked up, and nothing is sent: the
    check is made before any socket is opened. A trailing /stats/requests, as copied from a browser, is dropped.
    """
    text = url.strip()
    if "://" not in text:
        text = "http://" + text
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise LocustError(f"--locust {url!r} is not a URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise LocustError(f"--locust {url!r}: give the master's web UI address, such as http://127.0.0.1:8089")
    host = parts.hostname or ""
    if host == "localhost":
        host = "127.0.0.1"
    if remote and host:
        path = parts.path.rstrip("/").removesuffix(STATS_PATH)
        return f"{parts.scheme}://{f'[{host}]' if ':' in host else host}{f':{port}' if port else ''}{path}"
    try:
        ip = this_machine(host, own)
    except ValueError:
        raise LocustError(f"--locust host {host!r} is not an IP address; give 127.0.0.1, ::1 or one of this"
                          " machine's own addresses (run the master on the server's machine)") from None
    if ip is None:
        raise LocustError(f"--locust {host} is not this machine: run the Locust master on the server's machine"
                          " (its workers can be anywhere) and give its address here")
    path = parts.path.rstrip("/")
    if path.endswith(STATS_PATH):
        path = path[: -len(STATS_PATH)]
    netloc = f"[{ip}]" if ip.version == 6 else str(ip)
    return f"{parts.scheme}://{netloc}{f':{port}' if port else ''}{path}"


@dataclass(frozen=True)
class Status:
    """What the master says now."""

    state: str  # Locust's runner state: ready, spawning, running, cleanup, stopping, stopped, missing
    users: int
    rps: float  # requests per second now (Locust's current_rps; its total_rps when that is absent)
    requests: int  # requests so far in this test
    failures: int  # failed requests so far in this test
    fail_ratio: float
    workers: int | None  # workers connected to the master; None for a stand-alone Locust


def _number(value: Any, what: str, high: float, whole: bool = False) -> float:
    """A number from the master, checked where it enters: finite, 0 to `high` (and whole, if asked)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise LocustError(f"its {what} is {value!r}, not a number")
    if not 0 <= value <= high or (whole and value != int(value)):
        raise LocustError(f"its {what} is {value!r}: not {'a whole number ' if whole else ''}from 0 to {high:g}")
    return value


def parse_status(data: Any) -> Status:
    """A Status from /stats/requests' JSON; LocustError when it doesn't read as Locust's, or holds a number no
    Locust reports (NaN, negative, past the MAX_ bounds)."""
    try:
        state, users, stats = data["state"], data["user_count"], data["stats"]
        if not isinstance(state, str) or not isinstance(users, int) or not isinstance(stats, list):
            raise TypeError
        total = stats[-1] if stats else {}
        rps = data.get("current_rps", data.get("total_rps", 0.0)) or 0.0
        workers = data.get("worker_count", len(data["workers"]) if "workers" in data else None)
    except (KeyError, TypeError, AttributeError, IndexError):
        raise LocustError("its /stats/requests is not Locust's (no state, user_count and stats)") from None
    if not isinstance(total, dict):
        raise LocustError("its /stats/requests is not Locust's (its stats are not objects)")
    return Status(
        state=state[:40], users=int(_number(users, "user_count", MAX_USERS, whole=True)),
        rps=float(_number(rps, "current_rps", MAX_RPS)),
        requests=int(_number(total.get("num_requests", 0), "num_requests", MAX_COUNT, whole=True)),
        failures=int(_number(total.get("num_failures", 0), "num_failures", MAX_COUNT, whole=True)),
        fail_ratio=float(_number(data.get("fail_ratio") or 0.0, "fail_ratio", 1.0)),
        workers=None if workers is None else int(_number(workers, "worker_count", MAX_USERS, whole=True)))


def read_status(base: str, timeout_s: float = TIMEOUT_S) -> Status:
    """GET base/stats/requests once; LocustError (one line) when it doesn't answer or isn't Locust."""
    try:
        with OPENER.open(base + STATS_PATH, timeout=timeout_s) as reply:
            body = reply.read(8 * 1024 * 1024)
    except urllib.error.HTTPError as exc:
        raise LocustError(f"{base} is not a Locust master: GET {STATS_PATH} answered {exc.code} {exc.reason}") from None
    except FAILURES as exc:
        raise LocustError(f"{base} does not answer: {reason(exc)}") from None
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
        raise LocustError(f"{base} is not a Locust master: {STATS_PATH} is not JSON") from None
    try:
        return parse_status(data)
    except LocustError as exc:
        raise LocustError(f"{base} is not a Locust master: {exc}") from None


def check_master(url: str, timeout_s: float = 2.0, remote: bool = False) -> tuple[str, Status]:
    """Before a run: the base URL and the master's status now, or LocustError in one line."""
    base = check_url(url, remote=remote)
    return base, read_status(base, timeout_s)


class LoadSeries(ColumnBuffer):
    """The load as polled: time (s since the run began), users, rps, requests, failures, the measured process's
    established connections (-1: not counted) and RSS at that moment, Locust's state (an index into STATES)."""

    COLUMNS = ("t_s", "users", "rps", "requests", "failures", "connections", "rss_bytes", "state")

    def __init__(self) -> None:
        super().__init__((np.float64, np.int64, np.float64, np.int64, np.int64, np.int64, np.int64, np.int8), 256)
        self.gaps: list[dict[str, float | None]] = []  # spans when the master did not answer: from_s, to_s

    def to_dict(self) -> dict[str, Any]:
        cols = self.view()
        out: dict[str, Any] = {}
        for name, col in zip(self.COLUMNS, cols, strict=True):
            if name == "state":
                out[name] = [STATES[i] if 0 <= i < len(STATES) else "unknown" for i in col.tolist()]
            elif name == "t_s":
                out[name] = [round(x, 4) for x in col.tolist()]
            elif name == "rps":
                out[name] = [round(x, 3) for x in col.tolist()]
            elif name == "connections":
                out[name] = [None if x < 0 else x for x in col.tolist()]
            else:
                out[name] = col.tolist()
        return out


Mark = Callable[[str, float], None]  # a checkpoint's label and its time (monotonic)


class LocustWatch:
    """Polls the master on a thread of its own, keeps the LoadSeries and calls `mark` as Locust's state changes.

    A master that stops answering opens a gap (the run goes on); with `until_stops`, `on_stopped` is called once
    the test that ran during the run has stopped (or its master has gone away for GONE_AFTER_S).
    """

    def __init__(self, base: str, interval_s: float, t0: float, memory: Callable[[], tuple[int, int]],
                 connections: Callable[[], int | None], mark: Mark,
                 on_stopped: Callable[[], None] | None = None) -> None:
        self.base = base
        self.series = LoadSeries()
        self._interval = max(interval_s, MIN_POLL_S)
        self._t0 = t0
        self._memory = memory
        self._connections = connections
        self._mark = mark
        self._on_stopped = on_stopped
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="netmem-locust", daemon=True)
        self._last: Status | None = None
        self._ran = False  # the test spawned or ran while we watched
        self._silent_since: float | None = None
        self.stopped = False  # the test stopped (--until-locust-stops ends the run on it)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=TIMEOUT_S + 1)
        gap = self.series.gaps[-1] if self.series.gaps else None
        if gap is not None and gap["to_s"] is None:
            gap["to_s"] = round(time.monotonic() - self._t0, 4)

    def poll_once(self) -> Status | None:
        """One poll: a row of the series and any checkpoint it brings; None (and a gap) when there's no answer."""
        now = time.monotonic()
        try:
            status = read_status(self.base)
        except LocustError:
            self._silence(now)
            return None
        if self._silent_since is not None:
            self.series.gaps[-1]["to_s"] = round(now - self._t0, 4)
            self._silent_since = None
        try:
            rss, _ = self._memory()
        except Exception:  # the process is gone: the sampler ends the run; this row has no memory
            return status
        conns = self._connections()
        state = STATES.index(status.state) if status.state in STATES else -1
        self.series.append(now - self._t0, status.users, status.rps, status.requests, status.failures,
                           -1 if conns is None else conns, rss, state)
        self._changes(status, now)
        self._last = status
        return status

    def _silence(self, now: float) -> None:
        if self._silent_since is None:
            self._silent_since = now
            self.series.gaps.append({"from_s": round(now - self._t0, 4), "to_s": None})
        if self._ran and not self.stopped and now - self._silent_since >= GONE_AFTER_S:
            self._stopped(now, " (its master has gone)")

    def _changes(self, status: Status, now: float) -> None:
        before = self._last
        if status.state == "spawning" and (before is None or before.state != "spawning"):
            self._ran = True
            self._mark(SPAWNING, now)
        elif status.state == "running" and (before is None or before.state != "running"
                                            or before.users != status.users):
            self._ran = True
            self._mark(RUNNING.format(users=status.users), now)
        elif status.state == "stopped" and self._ran and not self.stopped:
            self._stopped(now)
        elif status.state in ("spawning", "running"):
            self._ran = True

    def _stopped(self, now: float, why: str = "") -> None:
        self.stopped = True
        self._mark(STOPPED + why, now)
        if self._on_stopped is not None:
            self._on_stopped()

    def _loop(self) -> None:
        start = time.monotonic()
        tick = 0
        while not self._stop.is_set():
            self.poll_once()
            tick = max(tick + 1, int((time.monotonic() - start) / self._interval) + 1)
            if self._stop.wait(max(0.0, start + tick * self._interval - time.monotonic())):
                return

