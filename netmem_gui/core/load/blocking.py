"""A server that blocks its event loop: a thread that notices the loop has stopped turning, and says where it is.

A handler that calls `time.sleep`, a blocking socket or a long computation stops every connection of an asyncio
server, and netmem's own load with them: the run used to hang until it was killed and then blamed "the workload
process failed: exit status -9". A heartbeat of the watch's own ticks on the loop every HEARTBEAT_S (whatever the
sampling interval); when no tick has come for BLOCKED_S, the watch reads the loop thread's stack
(sys._current_frames) and reports the innermost frame in the user's folder, which is where the blocking call is.
"""

from __future__ import annotations

import asyncio
import linecache
import os
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

# Well past any pause a healthy server makes (the lag probe's worst here, with 9,000 connections in-app: ~0.2 s),
# short enough that a blocked run ends long before anyone reaches for Ctrl-C.
BLOCKED_S = 10.0
CHECK_S = 0.5
HEARTBEAT_S = 0.5

Where = dict[str, Any]  # file, line, function, code


def blocked_at(frame: FrameType | None, app_dir: str | None) -> Where | None:
    """The innermost frame of the stack in `app_dir` (the user's code), else the innermost frame; None if none."""
    frames = []
    while frame is not None:
        frames.append(frame)
        frame = frame.f_back
    if not frames:
        return None
    folder = os.path.join(os.path.abspath(app_dir), "") if app_dir else None
    chosen = next((f for f in frames if folder and os.path.abspath(f.f_code.co_filename).startswith(folder)),
                  frames[0])
    file, line = chosen.f_code.co_filename, chosen.f_lineno
    return {"file": file, "line": line, "function": chosen.f_code.co_name,
            "code": linecache.getline(file, line).strip()[:200]}


def describe(blocked_s: float, where: Where | None) -> str:
    """The run's stop reason for a blocked loop, in one line."""
    at = ""
    if where:
        code = f" (`{where['code']}`)" if where.get("code") else ""
        at = f" at {where['file']}:{where['line']} in {where['function']}{code}"
    return (f"your server's event loop was blocked for {blocked_s:.0f} s{at}: a blocking call in an async handler"
            " stalls every connection; await it, or run it in a thread (asyncio.to_thread)")


class LoopWatch:
    """Calls on_blocked(seconds, where) once, from a thread of its own, when the watched loop has not turned for
    `blocked_s`; start() is called on that loop's thread, in its running loop (a handler may block before the
    first heartbeat: the loop's thread is known from start)."""

    def __init__(self, on_blocked: Callable[[float, Where | None], None], app_dir: str | None,
                 blocked_s: float = BLOCKED_S) -> None:
        self._on_blocked = on_blocked
        self._app_dir = app_dir
        self._blocked_s = blocked_s
        self._last = time.monotonic()
        self._thread_id: int | None = None
        self._done = threading.Event()
        self._beat: asyncio.TimerHandle | None = None

    def tick(self) -> None:
        self._last = time.monotonic()

    def start(self) -> None:
        self._thread_id = threading.get_ident()
        self._last = time.monotonic()
        self._heartbeat()
        threading.Thread(target=self._watch, name="netmem-loop-watch", daemon=True).start()

    def _heartbeat(self) -> None:
        self.tick()
        if not self._done.is_set():
            self._beat = asyncio.get_running_loop().call_later(HEARTBEAT_S, self._heartbeat)

    def stop(self) -> None:
        """From any thread; the heartbeat ends at its next beat."""
        self._done.set()

    def _watch(self) -> None:
        while not self._done.wait(CHECK_S):
            stale = time.monotonic() - self._last
            if stale < self._blocked_s or self._thread_id is None:
                continue
            frame = sys._current_frames().get(self._thread_id)
            self._on_blocked(stale, blocked_at(frame, self._app_dir))
            return
