"""PyInstaller runtime hook: PySide6.QtOpenGL is left out of the bundle (its binding is 8.5 MiB).

pyqtgraph imports it when its curves module loads, but uses it only to draw curves with OpenGL, which netmem never
turns on. This stands in for it so that the import succeeds; any use says why it is missing.
"""

import sys
import types


class _LeftOut(types.ModuleType):
    def __getattr__(self, name: str):
        raise AttributeError(f"PySide6.QtOpenGL.{name}: QtOpenGL is not in netmem's bundle (it draws without OpenGL)")


sys.modules.setdefault("PySide6.QtOpenGL", _LeftOut("PySide6.QtOpenGL"))
