"""The exit statuses `netmem` and `netmem-gui` end with.

Light on purpose (no asyncio, numpy, psutil, jsonschema): `netmem --version` and `netmem runs` import this and
little else, and start in a fraction of the time a run needs to import.
"""

from __future__ import annotations

import enum


class Exit(enum.IntEnum):
    """The exit statuses of `netmem` and `netmem-gui`."""

    OK = 0
    FAILED = 1  # the run failed, or a result could not be written
    REGRESSED = 1  # `compare` / `check`: a gated figure regressed or an expectation was breached
    USAGE = 2  # bad arguments or input, or a --json/--export path that can't be written: one line on stderr
    LEAK = 3  # with --fail-on-leak: the leak verdict is POSSIBLE LEAK
    INTERRUPTED = 130  # stopped by SIGINT (Ctrl-C); the partial run was kept
    TERMINATED = 143  # stopped by SIGTERM (timeout, systemd, CI); the partial run was kept
