"""The core knows nothing of Qt: no import of it in the source, and its tests pass with Qt unimportable."""

from __future__ import annotations

import ast
import os
import subprocess
import sys

import pytest
from conftest import ROOT

QT_MODULES = {"PySide6", "pyqtgraph", "qasync", "shiboken6", "PyQt5", "PyQt6"}
CORE = ROOT / "netmem_gui" / "core"

# Installed first in a child interpreter: every Qt module looks uninstalled there, as on a machine without Qt.
BLOCK_QT = f"""
import sys
class _NoQt:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {sorted(QT_MODULES)!r}:
            raise ModuleNotFoundError('Qt is blocked for the core: ' + name, name=name)
sys.meta_path.insert(0, _NoQt())
"""


def test_no_core_module_imports_qt():
    offenders = []
    for path in CORE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in QT_MODULES]
    assert offenders == []


@pytest.mark.skipif(os.environ.get("NETMEM_QT_BLOCKED") == "1", reason="already inside the Qt-free run")
def test_core_tests_pass_with_qt_unimportable():
    code = BLOCK_QT + (
        "import pytest\n"
        "sys.exit(pytest.main(['-q', '-p', 'no:pytest-qt', '-p', 'no:cacheprovider', "
        f"{str(ROOT / 'tests' / 'core')!r}]))\n"
    )
    env = {**os.environ, "NETMEM_QT_BLOCKED": "1"}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert " passed" in done.stdout
