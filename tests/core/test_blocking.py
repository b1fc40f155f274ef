"""The watch over a loop a user's server runs on: quiet while the loop turns, whatever the sampling interval;
it names the blocking call once the loop stops turning."""

from __future__ import annotations

import asyncio
import time

from netmem_gui.core.load import blocking


def _watched(work, blocked_s: float = 0.6) -> list:
    said: list = []

    async def go() -> None:
        watch = blocking.LoopWatch(lambda stale, where: said.append((stale, where)), None, blocked_s=blocked_s)
        watch.start()
        try:
            await work()
        finally:
            watch.stop()

    asyncio.run(go())
    return said


def test_a_loop_that_turns_is_never_called_blocked_without_any_lag_probe():
    """It counted the lag probe's ticks: an --interval of 10 s or more, or the in-app host with an outside target
    (no probe there), ended healthy runs after 10 s as 'blocked'."""
    assert _watched(lambda: asyncio.sleep(2.0)) == []


def test_a_blocking_call_is_named_with_its_line():
    async def blocks() -> None:
        time.sleep(1.5)  # the blocking call

    said = _watched(blocks)
    assert len(said) == 1
    stale, where = said[0]
    assert stale >= 0.6 and where["function"] == "blocks" and where["code"] == "time.sleep(1.5)  # the blocking call"
