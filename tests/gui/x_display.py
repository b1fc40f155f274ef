"""A fresh X display (Xvfb) with openbox managing its windows: for the real-window test and the docs' pictures."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator


@contextlib.contextmanager
def x_display(size: str = "1024x700") -> Iterator[str]:
    """Start Xvfb on a free display number (it says which) and openbox on it; yield the name (":N")."""
    read, write = os.pipe()
    xvfb = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", f"{size}x24", "-nolisten", "tcp"],
                            pass_fds=(write,), stderr=subprocess.DEVNULL)
    os.close(write)
    with os.fdopen(read) as pipe:
        number = pipe.readline().strip()
    if not number:
        xvfb.kill()
        raise RuntimeError("Xvfb did not report its display")
    name = f":{number}"
    wm = subprocess.Popen(["openbox"], env={**os.environ, "DISPLAY": name},
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield name
    finally:
        for proc in (wm, xvfb):
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
