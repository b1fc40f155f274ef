"""Stopping from outside: SIGINT (Ctrl-C) and SIGTERM (timeout, systemd, CI) alike stop a run and keep it.

The one signal policy of `netmem run` and `netmem-gui`: the first signal calls `on_stop` on the asyncio loop (the
run stops, its children end within the hosts' grace period, the partial run is kept as usual), and the process
then exits with 128 + the signal's number (130 for SIGINT, 143 for SIGTERM), as a shell reports a process killed
by it. Later signals are noted but change nothing: the stop is already under way and bounded in time.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import Any

SIGNALS = (signal.SIGINT, signal.SIGTERM)


def exit_status(signum: int) -> int:
    """The exit status of a process that stopped because of `signum`: 128 + its number."""
    return 128 + int(signum)


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


class StopSignals:
    """While active (a `with` block), SIGINT and SIGTERM call every connected callback once, each on its own asyncio
    loop; `received` is the first signal's number. Handlers are installed only in the main thread (Python allows
    no other) and the previous ones are put back on exit. A signal that comes before a callback is connected
    still counts: the callback is called as soon as it is."""

    def __init__(self) -> None:
        self._targets: list[tuple[Callable[[], Any], asyncio.AbstractEventLoop]] = []
        self._previous: dict[int, Any] = {}
        self.received: int | None = None

    def connect(self, callback: Callable[[], Any], loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Call `callback` on `loop` (default: the running loop) when a stop signal comes (or now, if one came)."""
        loop = loop or asyncio.get_running_loop()
        self._targets.append((callback, loop))
        if self.received is not None:
            loop.call_soon_threadsafe(callback)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is not None:
            return
        self.received = signum
        # Python runs this handler between bytecodes of the main thread; the loop may be asleep in select().
        for callback, loop in self._targets:
            if not loop.is_closed():
                loop.call_soon_threadsafe(callback)

    def __enter__(self) -> StopSignals:
        for signum in SIGNALS:
            try:
                self._previous[signum] = signal.signal(signum, self._handle)
            except (ValueError, OSError):  # not the main thread, or a signal this system can't catch
                pass
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
        self._previous.clear()
        self._targets.clear()

    @property
    def status(self) -> int | None:
        """The exit status the signal calls for (130, 143), or None when no signal came."""
        return None if self.received is None else exit_status(self.received)
