"""Qt stays out of the core and the CLI (this test runs without PySide6 too)."""

from __future__ import annotations

import subprocess
import sys


def test_core_and_cli_never_import_qt():
    code = ("import sys, netmem_gui.core.runs.run, netmem_gui.core.reports.report, netmem_gui.cli, "
            "netmem_gui.gui.live; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph', 'qasync', 'shiboken6')]; "
            "print(bad); sys.exit(1 if bad else 0)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
