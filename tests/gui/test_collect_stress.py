"""Regression: no garbage collection runs off the window's thread, so none destroys the window's Qt objects there.

Before core/running/collector.py, collections on the in-app workload thread (and automatic ones on any thread) freed Qt
objects of the window's thread there, and the app died with SIGSEGV (tests/gui/test_big_open.py crashed in 6 runs
of 10 from a non-editable install; this script crashed in 3 of 3 with each setting below). The stress runs in a
child process so that such a crash fails this test with its reason instead of killing the test run.
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

SCRIPT = Path(__file__).with_name("collect_stress.py")


@pytest.mark.parametrize("other_thread", ["0", "1"], ids=["workload-alone", "with-a-garbage-thread"])
def test_no_collection_frees_the_windows_objects_on_another_thread(tmp_path, other_thread):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "NETMEM_GUI_SETTINGS": str(tmp_path / "s.ini"),
           "NETMEM_DATA_DIR": str(tmp_path / "data"), "STRESS_OTHER_THREAD": other_thread, "STRESS_SECONDS": "6"}
    done = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=300, env=env,
                          cwd=Path(__file__).parents[2])
    assert done.returncode == 0, f"exit status {done.returncode}\n{done.stdout}\n{done.stderr[-3000:]}"
    assert "from another thread" not in done.stderr, done.stderr[-3000:]
    counts = json.loads(done.stdout.strip().splitlines()[-1])
    assert counts["runs"] >= 3 and counts["completed"] == counts["runs"], counts
    assert counts["made"] > 1000 and counts["fired"] > 0
    assert (counts["other_thread_cycles"] > 0) == (other_thread == "1")
