"""How the isolated host's children are started: from a source tree or wheel, and from a frozen bundle."""

from __future__ import annotations

import sys

from netmem_gui.core import children


def test_from_source_runs_the_worker_module():
    assert children.worker_command("serve") == [sys.executable, "-m", "netmem_gui.core.running.worker", "serve"]


def test_frozen_prefers_the_console_cli_beside_the_executable(tmp_path, monkeypatch):
    gui = tmp_path / "netmem-gui"
    cli = tmp_path / ("netmem.exe" if sys.platform == "win32" else "netmem")
    gui.write_text("")
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", str(gui))
    # Alone in its folder, the executable routes the flag itself.
    assert children.worker_command("load") == [str(gui), children.WORKER_FLAG, "load"]
    cli.write_text("")
    assert children.worker_command("load") == [str(cli), children.WORKER_FLAG, "load"]


def test_spawn_options_hide_console_windows_only_on_windows():
    options = children.spawn_options()
    assert ("creationflags" in options) == (sys.platform == "win32")
