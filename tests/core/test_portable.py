"""Windows guard: nothing in netmem uses an API that its Windows loops or Windows itself lack.

qasync's Windows loop is an IOCP proactor with no add_reader/add_writer, asyncio has no add_signal_handler
there, and POSIX-only modules and calls (resource, fcntl, os.killpg, preexec_fn...) don't exist.
"""

from __future__ import annotations

import ast

from conftest import ROOT

SOURCE = ROOT / "netmem_gui"
POSIX_ATTRIBUTES = {"add_reader", "add_writer", "add_signal_handler", "killpg", "setsid", "getpgid", "fork",
                    "SIGKILL", "SIGHUP", "SIGUSR1", "SIGUSR2"}
POSIX_KEYWORDS = {"preexec_fn", "start_new_session", "process_group"}
POSIX_MODULES = {"resource", "fcntl", "termios", "pwd", "grp"}
# Imports of POSIX modules that sit behind a `sys.platform == "win32"` early return.
GUARDED = {("core/running/limits.py", "resource")}
# POSIX calls behind an `os.name == "posix"` test (hosts.py: the isolated host's children, killed as a group) or an
# `if sys.platform == "win32": ... else:` (spawn.py: a spawned server's process group).
# guard.py: Guard.start returns at once on Windows, so the guard child (stop_all) only ever runs on POSIX.
GUARDED_ATTRIBUTES = {("core/running/hosts.py", "killpg"), ("core/running/hosts.py", "SIGKILL"),
                      ("core/targets/spawn.py", "killpg"), ("core/targets/guard.py", "killpg"),
                      ("core/targets/guard.py", "SIGKILL")}
GUARDED_KEYWORDS = {("core/targets/guard.py", "start_new_session")}


def test_no_posix_only_api_outside_a_platform_guard():
    offenders = []
    for path in sorted(SOURCE.rglob("*.py")):
        rel = path.relative_to(SOURCE).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Attribute) and node.attr in POSIX_ATTRIBUTES \
                    and (rel, node.attr) not in GUARDED_ATTRIBUTES:
                offenders.append(f"{rel}:{node.lineno} .{node.attr}")
            elif isinstance(node, ast.keyword) and node.arg in POSIX_KEYWORDS \
                    and (rel, node.arg) not in GUARDED_KEYWORDS:
                offenders.append(f"{rel}:{node.lineno} {node.arg}=")
            elif isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                for name in names:
                    if name.split(".")[0] in POSIX_MODULES and (rel, name) not in GUARDED:
                        offenders.append(f"{rel}:{node.lineno} import {name}")
    assert not offenders, "POSIX-only APIs (see the docstring): " + ", ".join(offenders)
