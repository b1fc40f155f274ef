"""The core knows nothing of Qt: the import contracts hold, and the core works where Qt can't be imported."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import ROOT

QT_MODULES = ("PySide6", "pyqtgraph", "qasync", "shiboken6", "PyQt5", "PyQt6")

# Installed first in a child interpreter: every Qt module looks uninstalled there, as on a machine without Qt.
# Then every core module is imported and a small run goes through the core's whole path (run, record, report,
# library, compare), so a Qt import hidden in a function body would fail here too.
WITHOUT_QT = f"""
import sys
class _NoQt:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {QT_MODULES!r}:
            raise ModuleNotFoundError('Qt is blocked for the core: ' + name, name=name)
sys.meta_path.insert(0, _NoQt())
import asyncio, importlib, pkgutil
import netmem_gui.core as core
for info in pkgutil.walk_packages(core.__path__, 'netmem_gui.core.'):
    importlib.import_module(info.name)
from netmem_gui.core.reports import compare, report
from netmem_gui.core.running import lifecycle
from netmem_gui.core.runs import library
from netmem_gui.core.config import RunConfig
from netmem_gui.core.running.execute import execute
from netmem_gui.core.runs.run import Run
config = RunConfig(scenario="all", host="inapp", connections=5, messages=200, duration_s=0.3, interval_ms=20,
                   connections_checkpoint_every=5, messages_checkpoint_every=100, stability_checkpoint_every=10)
run = Run(config)
asyncio.run(execute(run))
outcome = lifecycle.finish(run)
report.render(outcome.record)
again = library.find(outcome.library_id)
compare.render(compare.compare([outcome.record, outcome.record]))
assert not any(name.split('.')[0] in {QT_MODULES!r} for name in sys.modules)
print("core ran without Qt")
"""


def test_import_contracts_hold():
    """The contracts in pyproject.toml (import-linter): a Qt-free core, and the GUI and CLI as siblings over it."""
    tool = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    done = subprocess.run([tool], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "broken" not in done.stdout.lower().replace("0 broken", "")


def test_the_core_runs_where_qt_cannot_be_imported(tmp_path):
    env = {**os.environ, "NETMEM_DATA_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", WITHOUT_QT], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "core ran without Qt" in done.stdout
