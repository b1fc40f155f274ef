"""glibc's malloc thresholds, pinned in netmem's own server and load processes so their speed is not left to chance."""

from __future__ import annotations

import ctypes
import os
import sys

# Above asyncio's receive buffer (256 KiB a read), and glibc's own rule for its trim threshold: twice this.
MMAP_THRESHOLD_BYTES = 1 << 20
TRIM_THRESHOLD_BYTES = 2 << 20
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's malloc.h


def glibc_version() -> str | None:
    """"glibc 2.36" when this process runs on glibc, else None (musl, macOS, Windows)."""
    try:
        version = os.confstr("CS_GNU_LIBC_VERSION")
    except (AttributeError, ValueError, OSError):
        return None
    return version if version and version.startswith("glibc") else None


def pin_malloc_thresholds() -> bool:
    """Fix glibc's mmap and trim thresholds for this process (True); elsewhere do nothing (False).

    asyncio reads a socket into a fresh 256 KiB buffer and shrinks it to what arrived. glibc serves a request
    over its mmap threshold (128 KiB at first) with mmap, and raises the threshold only when it frees such a block
    at full size. A read's buffer is shrunk before it is freed, so whether the threshold ever rises depends on
    what else the process happened to allocate first: when it doesn't, every read costs an mmap, an mremap and a
    munmap. Measured here (docs/long-runs.md): adding one field to RunConfig tipped the echo server into that
    state, and 500 echoed messages took 19 ms instead of 9.5 ms. Pinned, a read's buffer comes from the heap in
    every process, as it does in the lucky ones.
    """
    if not sys.platform.startswith("linux") or glibc_version() is None:
        return False
    libc = ctypes.CDLL(None)
    return (libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1
            and libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES) == 1)
