"""Remake docs/native.png in a real X window: the app runs the stability scenario on tests/native/echo_server.c in
leak mode under heaptrack (--trace-allocations with --spawn), then shows the Allocation sites tab with the top
site's stack open.

Run from the checkout, with Xvfb, openbox, heaptrack and cc installed: python docs/make_native_picture.py
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PICTURE = ROOT / "docs" / "native.png"
sys.path.insert(0, str(ROOT))
from tests.gui.x_display import x_display  # noqa: E402  (the real-window test's display)


def in_window(server: str) -> int:
    """In the X display: run, show the sites, photograph the window."""
    from PySide6.QtWidgets import QApplication

    from netmem_gui.core.config import RunConfig
    from netmem_gui.gui.exporting import save_picture
    from netmem_gui.gui.loop import make_loop
    from netmem_gui.gui.window import MainWindow

    app = QApplication([])
    loop = make_loop(app)
    window = MainWindow(None, persist=False)
    window.resize(1440, 860)
    window.show()

    async def go() -> None:
        config = RunConfig(scenario="stability", duration_s=5.0, trace_allocations=True,
                           spawn=f"{server} {{port}} leak")
        entry = window.start_run(config, "echo_server.c, leak mode")
        assert entry is not None, window.statusBar().currentMessage()
        await window.wait_idle()
        await asyncio.sleep(0.5)
        window.details.setCurrentWidget(window.allocations)
        tree = window.allocations.native.tree
        tree.topLevelItem(0).setExpanded(True)
        await asyncio.sleep(0.5)  # let the tab and the tree lay out before the picture

    loop.run_until_complete(go())
    save_picture(window.grab(), str(PICTURE))
    return 0


def main() -> None:
    with tempfile.TemporaryDirectory() as data, x_display("1440x900") as display:
        server = Path(data) / "echo_server"
        subprocess.run(["cc", "-g", "-O0", "-o", str(server), str(ROOT / "tests" / "native" / "echo_server.c")],
                       check=True)
        env = {**os.environ, "DISPLAY": display, "QT_QPA_PLATFORM": "xcb", "NETMEM_DATA_DIR": data,
               "NETMEM_GUI_SETTINGS": f"{data}/settings.ini"}
        time.sleep(1)  # openbox takes the screen before the window maps
        subprocess.run([sys.executable, __file__, "--in-window", str(server)], env=env, check=True, timeout=180)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--in-window":
        sys.exit(in_window(sys.argv[2]))
    main()
