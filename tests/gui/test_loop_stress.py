"""Regression: the app's qasync loop survives tens of thousands of timer callbacks and socket events.

qasync 0.28 with PySide6 6.12.0 on Python 3.11 aborts within a second of a small echo workload
(docs/measured.md), and qasync #154 reports random crashes since PySide6 6.8. The stress runs in a child
process so that such a crash fails this test with its reason instead of killing the test run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("qasync")

pytestmark = pytest.mark.qt

SCRIPT = Path(__file__).with_name("loop_stress.py")


def test_loop_survives_timer_and_socket_storm(tmp_path):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "NETMEM_GUI_SETTINGS": str(tmp_path / "s.ini")}
    done = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=600, env=env,
                          cwd=Path(__file__).parents[2])
    assert done.returncode == 0, f"exit status {done.returncode}\n{done.stdout}\n{done.stderr[-3000:]}"
    counts = json.loads(done.stdout.strip().splitlines()[-1])
    assert counts["completed"] and counts["echoed"] == 20_000
    assert counts["timers"] == 30_000 and counts["threadsafe"] == 10_000 and counts["loop_echoed"] == 20_000
    assert counts["plotted"] == counts["samples"] > 0
