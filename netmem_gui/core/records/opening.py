"""Opening a big record in a child process, so that the process asking (the app's window) keeps running meanwhile.

    python -m netmem_gui.core.records.opening PATH   # the child: JSON lines of progress, then the record, to stdout

Parsing a long run's record is one call that holds Python's GIL throughout (json.loads, or orjson's: 0.4-1 s for a
million samples), so a thread of the app's would freeze its window all the same; a child process doesn't. The child
reads, parses and validates the record (record.load_split) and writes what it found: a line of JSON holding the
record without its long columns, then those columns as raw arrays (little-endian int64 or float64), which the
parent turns back into lists a chunk at a time (record.with_columns), letting its other threads run in between.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
from typing import IO, Any

import numpy as np

from ..text import shown
from . import record
from .record import Record, RecordError

# Smaller records are read in the asking process: starting a child (a Python importing numpy and jsonschema) costs
# 0.2-0.4 s, while a 4 MB record (about 60,000 samples) loads in about 0.05 s; above it, loading in place starts to
# freeze the window for a tenth of a second or more.
CHILD_FROM_BYTES = 4_000_000
# Columns are turned back into lists this many numbers at a time: about 3 ms each, so the app's own thread waits
# at most that long for the GIL while a big record is rebuilt.
REBUILD_CHUNK = 65_536
_DTYPES = {"i8": np.dtype("<i8"), "f8": np.dtype("<f8")}


class Cancelled(Exception):
    """The opening was cancelled (Opening.cancel) before it ended."""


def needs_child(path: str | os.PathLike[str]) -> bool:
    """True for a regular file of CHILD_FROM_BYTES or more; anything else (small, missing, a folder, a device) is
    read in place, where the capped reader takes it or refuses it at once."""
    try:
        info = os.stat(path)
    except (OSError, ValueError):
        return False
    return stat.S_ISREG(info.st_mode) and info.st_size >= CHILD_FROM_BYTES


def child_command(path: str | os.PathLike[str]) -> list[str]:
    """The command line of the child that opens `path`, from a source tree, a wheel or a frozen bundle."""
    from ..children import module_command

    return [*module_command(__name__, "open"), os.fspath(path)]


class Opening:
    """One record to open by a child process. `result()` (blocking: for a thread of the caller's) starts the child,
    waits for it and gives the record, or raises RecordError in one line, or Cancelled after `cancel()`."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        try:
            self.size = os.stat(path).st_size
        except OSError as exc:
            raise RecordError(f"{shown(self.path)}: cannot read: {exc.strerror or exc}") from None
        self.stage = "waiting"  # then "reading" (the child parses and checks), "receiving", "preparing"
        self._cancelled = threading.Event()
        self._lock = threading.Lock()  # between cancel() and the start of the child
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def cancel(self) -> None:
        """Stop the child now, or keep it from starting; result() then raises Cancelled. Safe from any thread."""
        with self._lock:
            self._cancelled.set()
            if self._proc is not None and self._proc.poll() is None:
                try:
                    self._proc.kill()
                except OSError:
                    pass  # it ended meanwhile

    def result(self) -> Record:
        """Start the child, wait for it and return the record it read, as record.load would have."""
        from ..children import spawn_options

        with self._lock:
            self._between()
            try:
                self._proc = subprocess.Popen(child_command(self.path), stdin=subprocess.DEVNULL,
                                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, **spawn_options())
            except OSError as exc:
                raise RecordError(f"{shown(self.path)}: cannot start a process to open it: {exc.strerror or exc}"
                                  ) from None
            self.stage = "starting"
        proc = self._proc
        try:
            return self._receive(proc)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            assert proc.stdout is not None and proc.stderr is not None
            proc.stdout.close()
            proc.stderr.close()

    def _between(self) -> None:
        if self._cancelled.is_set():
            raise Cancelled(self.path)

    def _receive(self, proc: subprocess.Popen[bytes]) -> Record:
        out = proc.stdout
        assert out is not None
        while True:
            line = out.readline()
            self._between()
            try:
                message = json.loads(line)
            except ValueError:  # cut short (the child died) or not ours (something else wrote to its stdout)
                raise RecordError(self._crashed(proc)) from None
            if "stage" in message:
                self.stage = message["stage"]
            elif "error" in message:
                raise RecordError(message["error"])
            else:
                break
        self.stage = "receiving"
        columns: record.Columns = {}
        for group, column, kind, count in message["columns"]:
            dtype = _DTYPES[kind]
            data = _read_exactly(out, count * dtype.itemsize)
            self._between()
            if data is None:
                raise RecordError(self._crashed(proc))
            columns[group, column] = np.frombuffer(data, dtype=dtype)
        self.stage = "preparing"
        return record.with_columns(message["record"], columns, REBUILD_CHUNK, self._between)

    def _crashed(self, proc: subprocess.Popen[bytes]) -> str:
        """What to say when the child's output ended early: it was cancelled, or it died (out of memory...)."""
        self._between()
        proc.wait()
        assert proc.stderr is not None
        from ..children import ended_early

        return ended_early(f"{shown(self.path)}: the process opening it", proc.returncode, proc.stderr.read(65536))


def _read_exactly(stream: IO[bytes], size: int) -> bytes | None:
    data = stream.read(size)
    return data if len(data) == size else None


# ---- the child ---------------------------------------------------------------------------------------------------

def _send(out: IO[bytes], message: dict[str, Any]) -> None:
    # A validated record holds no NaN and no lone surrogate: both would fail here rather than pass unnoticed.
    out.write(json.dumps(message, allow_nan=False, ensure_ascii=False).encode("utf-8") + b"\n")
    out.flush()


def child_main(argv: list[str]) -> int:
    """Open argv[0] and write it to stdout as Opening expects; 0 if it was a record, 2 if not (the error sent)."""
    out = sys.stdout.buffer
    if len(argv) != 1:
        print("usage: python -m netmem_gui.core.records.opening PATH", file=sys.stderr)
        return 2
    _send(out, {"stage": "reading"})
    try:
        rest, columns = record.load_split(argv[0])
    except RecordError as exc:
        _send(out, {"error": str(exc)})
        return 2
    except MemoryError:
        _send(out, {"error": f"{shown(argv[0])}: not enough memory to open it"})
        return 2
    _send(out, {"record": rest, "columns": [[group, column, array.dtype.kind + "8", int(array.size)]
                                            for (group, column), array in columns.items()]})
    for array in columns.values():
        out.write(array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes())
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(child_main(sys.argv[1:]))
