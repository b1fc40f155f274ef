"""The root of every error netmem reports to the user: one line, and the exit status it ends a command with."""

from __future__ import annotations

from .exits import Exit


class NetmemError(Exception):
    """Bad input or a limit that can't be met: its message is one line for the user, `status` the exit status.

    Each front end catches it once (`netmem`'s main, `netmem-gui`'s main, the window's start of a run); code that
    can handle one kind (a damaged record in a listing) catches that kind where it can.
    """

    status: Exit = Exit.USAGE


class WorkloadError(NetmemError, RuntimeError):
    """The workload can't go on (the port can't be bound, say); the message is one line for the user."""
