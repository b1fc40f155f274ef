"""The journal of a run in progress: what it measured so far, appended to a file, so a killed run leaves a record.

One JSON object per line. The first line is the header (what the record needs that no event carries: the
config, the label, the start time, who is writing); every flush (about once a second) appends one line with the
events, samples and loop-lag points that arrived since the last one. Only new rows are written, so a flush costs
what a second of the run measured, however long the run has been going. When the run ends its final record
replaces the journal; when the process dies instead (SIGKILL, a crash, a power cut), `recover` rebuilds the run
from the journal (a torn last line is expected and left out) and the library keeps it as an interrupted run.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ... import __version__
from ..config import RunConfig
from ..errors import NetmemError
from ..records import record
from ..records.files import MAX_RECORD_BYTES, read_user_file

if TYPE_CHECKING:  # run.py imports numpy and the hosts; listing the library needs neither
    from .run import Run

FORMAT = "netmem.journal/1"
SUFFIX = ".journal"
# Progress events come four times a second; a journal keeps the last one of each flush. Lag points are taken from
# the run's buffer like samples (in columns), not as events.
_SKIPPED_EVENTS = ("progress", "lag")

MAX_HEADER_CHARS = 1_000_000  # a header is a few KB: config, platform, expectations
MAX_READING = 2**62  # past any memory size or time, within what the sample columns (int64, float64) hold

class JournalError(NetmemError, ValueError):
    """A journal that can't be turned back into a run; one line, naming the file."""


class Journal:
    """Appends a run's progress to `path`; `flush()` about every second (execute does), `remove()` at the end."""

    def __init__(self, run: Run, path: Path) -> None:
        self.run = run
        self.path = path
        # Flushed by a thread of its own, not a task on the caller's loop: on qasync a task sleeping a second and
        # cancelled at the end crashed Qt (a segfault in its event dispatch, in 1 of 3 GUI test runs here).
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._events: list[dict[str, Any]] = []
        self._progress: dict[str, Any] | None = None
        self._samples_done = 0
        self._lag_done = 0
        self._file = open(path, "x", encoding="utf-8")  # kept open for the whole run
        self._write({
            "journal": FORMAT, "record_schema": record.SCHEMA_ID,
            "tool": {"name": "netmem", "version": __version__},
            "label": run.label, "started_at": timestamp(run.started_at), "t0": run.t0,
            "platform": record.platform_info(), "config": run.config.to_dict(),
            "expectations": run.expectations, "expectations_name": run.expectations_name,
            "writer": _writer(),
        })
        run.subscribe(self._on_event)

    @property
    def closed(self) -> bool:
        return self._file.closed

    def _on_event(self, event: dict[str, Any]) -> None:
        if event["type"] == "progress":
            self._progress = event
        elif event["type"] not in _SKIPPED_EVENTS:
            with self._lock:
                self._events.append(event)

    def start(self, every_s: float) -> None:
        """Flush every `every_s` seconds on a thread of its own until close()."""
        def keep() -> None:
            while not self._stop.wait(every_s):
                try:
                    self.flush()
                except (OSError, ValueError):
                    self.close_quietly()  # a full or vanished disk: the run goes on without its journal
                    return

        self._thread = threading.Thread(target=keep, name="netmem-journal", daemon=True)
        self._thread.start()

    def flush(self) -> None:
        """Append what arrived since the last flush (nothing when nothing did) and hand it to the OS."""
        with self._lock:
            if not self._file.closed:
                self._flush()

    def _flush(self) -> None:
        t, rss, vms = self.run.samples.view()
        lag_t, lag = self.run.lag.view()
        s0, l0 = self._samples_done, self._lag_done
        events = self._events + ([self._progress] if self._progress else [])
        if not events and len(t) == s0 and len(lag_t) == l0:
            return
        self._events, self._progress = [], None
        self._samples_done, self._lag_done = len(t), len(lag_t)
        self._write({
            "events": events,
            "samples": [[round(x, 4) for x in t[s0:].tolist()], rss[s0:].tolist(), vms[s0:].tolist()],
            "loop_lag": [[round(x, 4) for x in lag_t[l0:].tolist()], [round(x, 6) for x in lag[l0:].tolist()]],
        })

    def _write(self, line: dict[str, Any]) -> None:
        # One write per line, flushed: a process killed at any moment leaves whole lines and at most a torn last.
        self._file.write(json.dumps(line, separators=(",", ":"), allow_nan=False) + "\n")
        self._file.flush()

    def close(self) -> None:
        """Stop flushing, write what is left, close the file (it stays until remove())."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        try:
            self.flush()
        except (OSError, ValueError):
            pass
        self.close_quietly()

    def close_quietly(self) -> None:
        """Stop journaling without a last write (the disk is full or gone: the run goes on without it)."""
        try:
            self._file.close()
        except OSError:
            pass

    def remove(self) -> None:
        """The run's final record is saved: the journal has served."""
        self.close()
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass


def timestamp(at: dt.datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _writer() -> dict[str, Any]:
    """Who writes the journal: with the process's start time, a PID reused later is not taken for the writer."""
    import psutil  # here, not at the top: a library list without journals never needs it

    me = psutil.Process()
    return {"pid": me.pid, "started": me.create_time()}


def writer_alive(header: dict[str, Any]) -> bool:
    """Is the process that wrote this journal still running (so the run is in progress, not interrupted)?"""
    import psutil

    writer = header.get("writer") or {}
    try:
        proc = psutil.Process(int(writer["pid"]))
        return abs(proc.create_time() - float(writer["started"])) < 0.01
    except (KeyError, TypeError, ValueError, psutil.Error):
        return False


def read(path: str | os.PathLike[str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The header and the body lines of a journal; a torn last line (the writer died mid-write) is left out."""
    name = os.fspath(path)
    text = read_user_file(path, "a run journal", JournalError, MAX_RECORD_BYTES)
    lines = text.split("\n")
    # Every whole line ends with a newline: whatever follows the last one was being written when the writer died.
    whole, torn = lines[:-1], lines[-1]
    del torn
    if not whole:
        raise JournalError(f"{name}: empty journal: the run was interrupted before it had measured anything")
    parsed = []
    for number, line in enumerate(whole, 1):
        try:
            item = json.loads(line)
        except (json.JSONDecodeError, RecursionError):  # RecursionError: nested past what the parser goes
            raise JournalError(f"{name}: damaged journal: line {number} is not JSON") from None
        if not isinstance(item, dict):
            raise JournalError(f"{name}: damaged journal: line {number} is not a JSON object")
        parsed.append(item)
    header = parsed[0]
    if header.get("journal") != FORMAT:
        found = header.get("journal")
        what = f"format {found!r}" if isinstance(found, str) else "no journal header"
        raise JournalError(f"{name}: not a {FORMAT} journal ({what})")
    _check_header(header, name)
    for number, item in enumerate(parsed[1:], 2):
        _check_line(item, number, name)
    return header, parsed[1:]


def header(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Only the header line of a journal (a list needs no more), or JournalError."""
    name = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as handle:
            first = handle.readline(MAX_HEADER_CHARS + 1)  # bounded: a link to /dev/zero has no end of line
    except (OSError, UnicodeDecodeError) as exc:
        raise JournalError(f"{name}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    if len(first) > MAX_HEADER_CHARS:
        raise JournalError(f"{name}: damaged journal: its first line is longer than {MAX_HEADER_CHARS:,} characters")
    if not first.endswith("\n"):
        raise JournalError(f"{name}: empty journal: the run was interrupted before it had measured anything")
    try:
        head = json.loads(first)
    except (json.JSONDecodeError, RecursionError):
        raise JournalError(f"{name}: damaged journal: line 1 is not JSON") from None
    if not isinstance(head, dict) or head.get("journal") != FORMAT:
        raise JournalError(f"{name}: not a {FORMAT} journal")
    _check_header(head, name)
    return head


# What each part of a journal must be, checked where it is read: a hand-edited one is damaged, never a crash.
_HEADER_DICTS = ("config", "tool", "platform", "expectations")
_LINE_SHAPES = {"events": 0, "samples": 3, "loop_lag": 2}  # a list of events, or of that many equal columns


def _check_header(head: dict[str, Any], name: str) -> None:
    for key in _HEADER_DICTS:
        if head.get(key) is not None and not isinstance(head[key], dict):
            raise JournalError(f"{name}: damaged journal: its header's {key!r} is not an object")
    for key in ("label", "started_at", "expectations_name"):
        if head.get(key) is not None and not isinstance(head[key], str):
            raise JournalError(f"{name}: damaged journal: its header's {key!r} is not text")


def _check_line(item: dict[str, Any], number: int, name: str) -> None:
    for key, columns in _LINE_SHAPES.items():
        value = item.get(key)
        if value is None:
            continue
        if not isinstance(value, list):
            raise JournalError(f"{name}: damaged journal: line {number}'s {key!r} is not a list")
        if columns == 0 and not all(isinstance(e, dict) and isinstance(e.get("type"), str) for e in value):
            raise JournalError(f"{name}: damaged journal: line {number} holds an event that is not an event")
        if columns and (len(value) != columns or not all(isinstance(c, list) for c in value)
                        or len({len(c) for c in value}) > 1):
            raise JournalError(f"{name}: damaged journal: line {number}'s {key!r} is not {columns} equal columns")
        if columns and not all(_reading(x) for column in value for x in column):
            raise JournalError(f"{name}: damaged journal: line {number}'s {key!r} holds a value no reading has")


def _reading(x: Any) -> bool:
    """A time, a memory size or a lag as the sampler writes them: a finite number a 64-bit column can hold."""
    return (isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)
            and -MAX_READING < x < MAX_READING)


def recover(path: str | os.PathLike[str]) -> record.Record:
    """The record of the run a journal describes, as a partial run: `completed` false, `interrupted` true.

    The run is rebuilt the way it was built live (its events replayed into a Run, its samples appended), so its
    figures are the analysis's own. A journal from an older netmem lacks newer fields: they take their defaults.
    """
    from .run import Run

    name = os.fspath(path)
    head, body = read(path)
    try:
        config = RunConfig.from_dict(head["config"])
        run = Run(config, label=head.get("label"), expectations=head.get("expectations"),
                  expectations_name=head.get("expectations_name"))
        run.started_at = dt.datetime.strptime(head["started_at"][:23] + "+0000", "%Y-%m-%dT%H:%M:%S.%f%z")
        run.t0 = float(head["t0"])
        for line in body:
            for event in line.get("events") or []:
                if event.get("type") != "end":  # the journal is of a run that did not finish
                    run.handle(event)
            t, rss, vms = line.get("samples") or ([], [], [])
            for row in zip(t, rss, vms, strict=True):
                run.samples.append(*row)
            lag_t, lag = line.get("loop_lag") or ([], [])
            for row in zip(lag_t, lag, strict=True):
                run.lag.append(*row)
    except (KeyError, TypeError, ValueError, AttributeError, ArithmeticError) as exc:
        raise JournalError(f"{name}: damaged journal: {type(exc).__name__}: {exc}") from None
    last = _last_time(run)
    run.handle({"type": "end", "completed": False,
                "reason": f"interrupted after {last:.1f} s: netmem was killed or crashed; recovered from its journal"})
    rec = run.record()
    rec["tool"] = head.get("tool") or rec["tool"]
    rec["platform"] = head.get("platform") or rec["platform"]
    rec["interrupted"] = True
    return record.validate(rec, name)


def _last_time(run: Run) -> float:
    """How far the run got: its last sample, checkpoint or phase, in seconds since it began."""
    t, _, _ = run.samples.view()
    times = [float(t[-1])] if len(t) else []
    times += [x[-1]["t_s"] for x in (run.checkpoints, run.phases) if x]
    return max(times, default=0.0)

