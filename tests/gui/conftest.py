"""Fixtures for the GUI tests: offscreen Qt, private settings, the app's qasync loop and a window."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine, Iterator
from typing import Any

# Before anything imports Qt: no screen on CI machines.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest


@pytest.fixture(autouse=True)
def private_settings(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test gets its own settings file, so no test sees another's (or the user's) last-used values."""
    path = str(tmp_path / "netmem-gui-settings.ini")
    monkeypatch.setenv("NETMEM_GUI_SETTINGS", path)
    return path


@pytest.fixture(autouse=True)
def library_in_tmp(tmp_path_factory: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Every test (and every process it starts) keeps its run library in a fresh folder, never the user's."""
    folder = tmp_path_factory.mktemp("netmem-data")
    monkeypatch.setenv("NETMEM_DATA_DIR", str(folder))
    return folder / "runs"


@pytest.fixture
def loop(qapp: Any) -> Iterator[asyncio.AbstractEventLoop]:
    """The app's own loop (netmem_gui.gui.loop.make_loop), fresh for each test."""
    from netmem_gui.gui.loop import close_loop, make_loop

    qapp.setQuitOnLastWindowClosed(False)
    ev_loop = make_loop(qapp)
    yield ev_loop
    close_loop(ev_loop)


def run_async(ev_loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any], timeout: float = 120) -> Any:
    """Run a coroutine on the qasync loop (the Qt event loop spins meanwhile), with a generous timeout."""
    return ev_loop.run_until_complete(asyncio.wait_for(coro, timeout))


async def until(condition: Any, timeout: float = 60, what: str = "condition") -> None:
    """Wait, letting the Qt loop run, until condition() is true; fail after `timeout` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, f"{what} not reached in {timeout:g} s"
        await asyncio.sleep(0.02)


async def finished_on_screen(window: Any, entry: Any) -> None:
    """Wait until the window shows a finished run: its summary, and its plot with every sample."""
    await window.wait_idle()
    await until(lambda: window.summary.shown_record is entry.rec
                and window.plot.sample_count() == len(entry.rec["samples"]["t_s"]), 10, "the finished run on screen")


@pytest.fixture
def window(qapp: Any, qtbot: Any, loop: asyncio.AbstractEventLoop) -> Iterator[Any]:
    from netmem_gui.gui.settings import make_settings
    from netmem_gui.gui.window import MainWindow

    win = MainWindow(make_settings())
    qtbot.addWidget(win)
    win.show()
    yield win
    if win.active is not None:
        win.stop_run()
        run_async(loop, win.wait_idle(), 30)
    win.close()


@pytest.fixture(autouse=True)
def questions(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Yes/No questions (stop the run and close?), answered Yes instead of shown; a test that wants No, or its own
    answers, replaces QMessageBox.question again. Their titles are listed."""
    from PySide6.QtWidgets import QMessageBox

    asked: list[str] = []

    def answer(parent: Any, title: str, *args: Any, **kwargs: Any) -> Any:
        asked.append(title)
        return QMessageBox.StandardButton.Yes

    monkeypatch.setattr(QMessageBox, "question", answer)
    return asked


@pytest.fixture
def dialogs(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Error dialogs, captured instead of shown (a modal dialog would block the test)."""
    from PySide6.QtWidgets import QMessageBox

    shown: list[tuple[str, str]] = []
    monkeypatch.setattr(QMessageBox, "critical", lambda parent, title, text, *a, **k: shown.append((title, text)))
    return shown
