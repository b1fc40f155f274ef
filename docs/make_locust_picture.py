"""Remake docs/locust.png in a real X window: netmem's echo server in a stability run while a Locust cluster (a
master and two workers on 127.0.0.1, examples/locust/tcp_echo.py) ramps 60 users up over 10 s and holds them; the
run ends after 25 s.

Run from the checkout, with Xvfb and openbox installed: python docs/make_locust_picture.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.core.locust_cluster import cluster, free_port, wait_for  # noqa: E402  (the tests' cluster, reused)
from tests.core.test_locust_real import _listening  # noqa: E402
from tests.gui.x_display import x_display  # noqa: E402  (the real-window test's display)


def main() -> None:
    with tempfile.TemporaryDirectory() as data, x_display("1440x900") as display:
        env = {**os.environ, "DISPLAY": display, "QT_QPA_PLATFORM": "xcb", "NETMEM_DATA_DIR": data,
               "NETMEM_GUI_SETTINGS": f"{data}/settings.ini"}
        port = free_port()
        with cluster("tcp_echo.py", f"tcp://127.0.0.1:{port}", users=60, spawn_rate=6, run_time_s=40, workers=2,
                     log_dir=Path(data)) as locust:
            app = subprocess.Popen([sys.executable, "-m", "netmem_gui", "--run", "stability", "--duration", "25",
                                    "--port", str(port), "--locust", locust.url,
                                    "--label", "under Locust", "--screenshot", str(ROOT / "docs" / "locust.png"),
                                    "--quit"], env=env)
            wait_for(lambda: _listening(port) or app.poll() is not None, 30, "netmem's echo server")
            locust.start_workers()
            app.wait(timeout=120)


if __name__ == "__main__":
    main()
