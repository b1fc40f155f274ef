"""How netmem starts children of its own: their command lines (source tree, wheel or bundle), Popen options, and
the one line said of a child that ended before it answered."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from .text import shown

# A frozen bundle has no `python -m`: it starts its children as `netmem --netmem-worker ROLE`.
WORKER_FLAG = "--netmem-worker"


def worker_command(role: str) -> list[str]:
    """The command line that starts a child of the given role, from a source tree, a wheel or a frozen bundle."""
    if getattr(sys, "frozen", False):
        return [_bundled_console_executable(), WORKER_FLAG, role]
    return [sys.executable, "-m", "netmem_gui.core.running.worker", role]


def module_command(module: str, role: str) -> list[str]:
    """The command line of a child that runs `python -m module`; in a frozen bundle, the worker role that does."""
    if getattr(sys, "frozen", False):
        return worker_command(role)
    return [sys.executable, "-m", module]


def ended_early(what: str, returncode: int | None, stderr: bytes) -> str:
    """One line for a child that ended before it answered: its exit status and the last line it wrote to stderr."""
    last = [line for line in stderr.decode("utf-8", "replace").splitlines() if line.strip()]
    why = f": {shown(last[-1].strip())}" if last else ""
    return f"{what} ended early (exit status {returncode}){why}"


def _bundled_console_executable() -> str:
    """In a bundle, the console `netmem` beside this executable, else this executable (both route WORKER_FLAG).

    The children talk over stdin/stdout; a windowed Windows executable may start with no usable standard streams,
    the console one always has them.
    """
    here = Path(sys.executable)
    cli = here.with_name("netmem.exe" if sys.platform == "win32" else "netmem")
    return str(cli) if cli.is_file() else sys.executable


def spawn_options() -> dict[str, Any]:
    """Extra Popen arguments for the children: on Windows, no console window pops up for them."""
    if sys.platform == "win32":
        return {"creationflags": subprocess.CREATE_NO_WINDOW}
    return {}
