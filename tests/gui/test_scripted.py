"""The scripted mode, as a user runs it: `python -m netmem_gui --run ... --export --screenshot --quit`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("PySide6")

from netmem_gui.core.records import record

pytestmark = pytest.mark.qt

ROOT = Path(__file__).parents[2]


def _gui(tmp_path: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "NETMEM_GUI_SETTINGS": str(tmp_path / "settings.ini")}
    return subprocess.run([sys.executable, "-m", "netmem_gui", *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=ROOT)


def test_scripted_run_exports_record_and_screenshot(tmp_path):
    from PySide6.QtGui import QImage

    out, shot = tmp_path / "run.json", tmp_path / "shot.png"
    done = _gui(tmp_path, "--run", "connections", "--connections", "20", "--interval", "20", "--label", "ci",
                "--export", str(out), "--screenshot", str(shot), "--quit")
    assert done.returncode == 0, done.stderr
    rec = record.load(out)
    assert rec["completed"] and rec["label"] == "ci" and rec["config"]["connections"] == 20
    assert rec["scenarios"]["connections"]["connections_created"] == 20
    image = QImage(str(shot))
    assert (image.width(), image.height()) == (1280, 800)
    # The user's settings are not touched by a scripted run.
    assert not (tmp_path / "settings.ini").exists() or "connections=20" not in (tmp_path / "settings.ini").read_text()


@pytest.mark.parametrize(("args", "message"), [
    (["--run", "nope"], "invalid choice"),
    (["--run", "connections", "--connections", "0"], "--connections must be at least 1"),
    (["--run", "messages", "--interval", "5"], "--interval must be at least 10"),
    (["--export", "x.json"], "need --run SCENARIO"),
    (["--run", "connections", "--export", "/nonexistent-folder/x.json"], "does not exist"),
])
def test_bad_arguments_exit_2_with_one_line(tmp_path, args, message):
    done = _gui(tmp_path, *args, timeout=60)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("netmem-gui: error: ") and message in lines[0]


def test_worker_flag_dispatches_to_the_worker(tmp_path):
    done = _gui(tmp_path, "--netmem-worker", "bogus", timeout=60)
    assert done.returncode == 2 and "netmem worker: unknown role" in done.stderr


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize(("signame", "status", "says"), [
    ("SIGINT", 130, "interrupted; the partial run was kept"),
    ("SIGTERM", 143, "stopped by SIGTERM; the partial run was kept"),
])
def test_a_signal_stops_the_run_and_keeps_it(tmp_path, signame, status, says):
    import signal
    import time

    import psutil

    from netmem_gui.core.runs import library

    out = tmp_path / "run.json"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "NETMEM_GUI_SETTINGS": str(tmp_path / "settings.ini")}
    proc = subprocess.Popen([sys.executable, "-m", "netmem_gui", "--run", "stability", "--duration", "120",
                             "--interval", "20", "--export", str(out), "--quit"],
                            stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    try:
        gui = psutil.Process(proc.pid)
        deadline = time.monotonic() + 120
        # Wait for the run itself: the isolated host's two worker processes under the GUI.
        while len(gui.children(recursive=True)) < 2:
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        workers = gui.children(recursive=True)
        proc.send_signal(getattr(signal, signame))
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == status, err
    assert says in err and "Traceback" not in err
    rec = record.load(out)
    assert rec["completed"] is False
    assert [e.started_at for e in library.list_runs()] == [rec["started_at"]]
    _, alive = psutil.wait_procs(workers, timeout=5)
    assert not alive


def test_a_scripted_run_imports_the_users_server_once_per_process(tmp_path):
    """Once to check it before the window opens, once where it serves (in-app: the same process): never twice
    for the same check (the window's start used to prepare the run again, importing the module a third time)."""
    imports = tmp_path / "imports.txt"
    (tmp_path / "counted.py").write_text(
        "import os\n"
        f"with open({str(imports)!r}, 'a') as f:\n"
        "    f.write(str(os.getpid()) + '\\n')\n"
        "async def handle(reader, writer):\n"
        "    while data := await reader.read(65536):\n"
        "        writer.write(data)\n"
        "        await writer.drain()\n"
        "    writer.close()\n")
    env_data = tmp_path / "data"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "NETMEM_GUI_SETTINGS": str(tmp_path / "settings.ini"),
           "NETMEM_DATA_DIR": str(env_data)}
    done = subprocess.run([sys.executable, "-m", "netmem_gui", "--run", "messages", "--messages", "50",
                           "--host", "inapp", "--server", "counted:handle", "--app-dir", str(tmp_path), "--quit"],
                          capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    pids = imports.read_text().split()
    assert len(pids) == 2 and len(set(pids)) == 1, pids  # prepare's check, then the in-app server
