"""glibc's malloc thresholds pinned in netmem's worker processes: a 512 KiB block comes from the heap, not mmap."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from netmem_gui.core.running import allocator

pytestmark = pytest.mark.skipif(allocator.glibc_version() is None, reason="glibc's mallopt and mallinfo2 only")

# In a fresh interpreter: are 512 KiB blocks (over glibc's first mmap threshold, under netmem's) mmapped? A
# bytearray of that size is one malloc; mallinfo2's hblks counts the blocks mmapped now.
PROBE = """
import ctypes, json, sys
from netmem_gui.core.running.allocator import pin_malloc_thresholds
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]
libc = ctypes.CDLL(None)
libc.mallinfo2.restype = Info
pinned = pin_malloc_thresholds() if sys.argv[1] == "pin" else None
before = libc.mallinfo2().hblks
blocks = [bytearray(512 * 1024) for _ in range(4)]
print(json.dumps({"pinned": pinned, "mmapped": libc.mallinfo2().hblks - before}))
"""


def _probe(mode: str) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, timeout=60, check=True)
    return json.loads(out.stdout)


def test_pinned_thresholds_serve_big_blocks_from_the_heap():
    assert _probe("leave") == {"pinned": None, "mmapped": 4}  # glibc's defaults: each one its own mmap
    assert _probe("pin") == {"pinned": True, "mmapped": 0}

