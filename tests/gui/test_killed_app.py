"""SIGKILL of the app mid-run: its children exit at once and the library keeps the run, interrupted."""

from __future__ import annotations

import sys

from netmem_gui.core.records import record
from tests.core.test_killed_run import kill_mid_run


def test_a_killed_app_leaves_an_interrupted_run_and_no_children(tmp_path):
    (entry,) = kill_mid_run([sys.executable, "-m", "netmem_gui", "--run", "stability", "--duration", "60",
                             "--interval", "50", "--quit"], tmp_path, {"QT_QPA_PLATFORM": "offscreen"})
    assert entry.state == "interrupted"
    rec = record.load(entry.path)
    assert rec["completed"] is False and rec["interrupted"] and len(rec["samples"]["t_s"]) > 10
