"""The guard of a spawned server: a small child that stops what --spawn started when netmem dies without stopping it.

netmem stops the spawned tree itself at the end of every run (spawn.Spawned.stop). A SIGKILL, a crash or an
out-of-memory kill gives it no chance: the command, and anything it left running, would outlive it. So while a
spawned command runs, netmem keeps a guard: a child in a session of its own (a Ctrl-C meant for netmem doesn't
reach it) that reads, on a pipe, the processes netmem started or adopted. When netmem ends the run it says "done" and
the guard exits; when the pipe closes without it (netmem died), the guard terminates those processes, then kills
what is left after a grace period. Each process is named with its start time, so a PID the system has since given
to another process is never signalled.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import IO

import psutil

from ..children import module_command, spawn_options

GRACE_S = 3.0


class Guard:
    """The parent's side: starts the guard and tells it what to stop. POSIX only (elsewhere every call is a no-op:
    Windows has no process groups to stop and no orphaned trees of this kind)."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None
        self._told: set[int] = set()

    def start(self) -> None:
        if sys.platform == "win32":
            return
        try:
            self._proc = subprocess.Popen(module_command("netmem_gui.core.targets.guard", "guard"),
                                          stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL, start_new_session=True, **spawn_options())
        except OSError:
            self._proc = None  # no guard: the run goes on, stopped at its end as before

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def watch(self, pids: list[int], group: int | None = None) -> None:
        """Have the guard stop these processes (and the process group `group`) if netmem dies."""
        stdin = self._stdin()
        if stdin is None:
            return
        lines = []
        if group is not None and -group not in self._told:
            try:
                lines.append(f"group {group} {psutil.Process(group).create_time()!r}\n")
                self._told.add(-group)
            except psutil.Error:
                pass
        for pid in pids:
            if pid in self._told:
                continue
            try:
                created = psutil.Process(pid).create_time()
            except psutil.Error:
                continue
            self._told.add(pid)
            lines.append(f"pid {pid} {created!r}\n")
        self._send("".join(lines))

    def done(self) -> None:
        """The run stopped its tree itself: the guard exits without signalling anything."""
        self._send("done\n")
        if self._proc is not None:
            try:
                self._proc.stdin.close()  # type: ignore[union-attr]
            except OSError:
                pass
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
            self._proc = None

    def _stdin(self) -> IO[bytes] | None:
        if self._proc is None or self._proc.stdin is None or self._proc.poll() is not None:
            return None
        return self._proc.stdin

    def _send(self, text: str) -> None:
        stdin = self._stdin()
        if stdin is None or not text:
            return
        try:
            stdin.write(text.encode())
            stdin.flush()
        except (OSError, ValueError):
            pass


def _same(pid: int, created: float) -> psutil.Process | None:
    """The process `pid` if it is still the one netmem named (same start time), else None."""
    try:
        proc = psutil.Process(pid)
        return proc if abs(proc.create_time() - created) < 0.01 else None
    except psutil.Error:
        return None


def _group_is_ours(group: int, created: float) -> bool:
    """Whether process group `group` is still the one the spawned command led. Linux never gives a process an ID
    that is still a group's: if a process has the ID now and is not the leader netmem named, the old group is gone."""
    try:
        return abs(psutil.Process(group).create_time() - created) < 0.01
    except psutil.NoSuchProcess:
        return True  # the leader exited; its group may still hold what it started (a launcher's children)
    except psutil.Error:
        return False


def stop_all(groups: list[tuple[int, float]], pids: list[tuple[int, float]]) -> None:
    """SIGTERM to each group and process still the one named, then SIGKILL to what is left after GRACE_S."""
    procs = [p for p in (_same(pid, created) for pid, created in pids) if p is not None]
    ours = [group for group, created in groups if _group_is_ours(group, created)]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for group in ours:
            try:
                os.killpg(group, sig)
            except OSError:
                pass
        for proc in procs:
            try:
                proc.send_signal(sig)
            except psutil.Error:
                pass
        if sig == signal.SIGTERM:
            _, procs = psutil.wait_procs(procs, timeout=GRACE_S)
            time.sleep(0.05)


def child_main() -> int:
    """The guard itself: read what to watch until "done" (exit) or the end of the pipe (netmem died: stop them)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # only the pipe's end says netmem is gone
    groups: list[tuple[int, float]] = []
    pids: list[tuple[int, float]] = []
    for raw in sys.stdin.buffer:
        words = raw.decode(errors="replace").split()
        if words == ["done"]:
            return 0
        try:
            if len(words) == 3 and words[0] == "group":
                groups.append((int(words[1]), float(words[2])))
            elif len(words) == 3 and words[0] == "pid":
                pids.append((int(words[1]), float(words[2])))
        except ValueError:
            continue
    stop_all(groups, pids)
    return 0


if __name__ == "__main__":
    sys.exit(child_main())
