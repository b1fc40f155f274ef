"""`netmem-gui`: the desktop app's entry point, and its scripted mode for demos, docs and checks."""

from __future__ import annotations

import argparse
import asyncio
import ctypes.util
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from .. import __version__
from ..core.config import SCENARIOS, RunConfig
from ..core.errors import NetmemError
from ..core.exits import Exit
from ..core.options import OneLineErrorParser, add_run_options, config_from_args
from ..core.running import lifecycle
from ..core.running.stopping import StopSignals

if TYPE_CHECKING:
    from .window import MainWindow

PROG = "netmem-gui"


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(prog=PROG, description="Memory profiler for network workloads: the desktop app.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    groups = add_run_options(parser)
    groups["run"].add_argument("--run", choices=SCENARIOS, metavar="SCENARIO", dest="scenario",
                               help=f"run SCENARIO in the window as soon as it opens ({', '.join(SCENARIOS)})")
    output = groups["output"]
    output.add_argument("--export", metavar="PATH.json", help="after the run, write its record (JSON) to PATH")
    output.add_argument("--screenshot", metavar="PATH.png", help="after the run, save a picture of the window")
    output.add_argument("--quit", action="store_true", help="close the window after the run (exit 0 if it completed)")
    return parser


def _fail(message: str, code: int) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return code


async def _scripted(window: MainWindow, config: RunConfig, args: argparse.Namespace) -> int:
    """Run the scenario in the window (which keeps and exports it), then take the screenshot; the exit status."""
    entry = window.start_run(config, args.label, export=args.export, prepared=True)
    if entry is None:
        return _fail(window.statusBar().currentMessage() or "the run could not start", Exit.FAILED)
    await window.wait_idle()
    outcome = entry.outcome
    assert outcome is not None
    # Let the window catch up with the end of the run (summary, figures, plot) before it is photographed.
    window.plot.refresh()
    window.plot.follow()
    for _ in range(3):
        await asyncio.sleep(0.05)
    code = outcome.status
    for problem in outcome.problems:
        print(f"{PROG}: {problem}", file=sys.stderr)
    if args.screenshot:
        from .exporting import ExportError, save_picture

        try:
            save_picture(window.grab(), args.screenshot)
        except ExportError as exc:
            code = _fail(str(exc), Exit.USAGE)
    if outcome.verdict:
        print(f"{PROG}: {outcome.verdict}", file=sys.stderr)
    return code


async def _gui_main(window: MainWindow, config: RunConfig | None, args: argparse.Namespace) -> int:
    # SIGINT and SIGTERM close the window the way its close button does: a running run is stopped first and
    # kept (core.stopping). Python runs the handler between Qt events (the frame timer gives it a chance).
    with StopSignals() as signals:
        signals.connect(lambda: _stop_by_signal(window, signals))
        closed = asyncio.get_running_loop().create_future()
        window.closed.connect(lambda: closed.done() or closed.set_result(None))
        window.show()
        code = Exit.OK
        if config is not None:
            code = await _scripted(window, config, args)
            if args.quit:
                window.close()
                return code
        await closed
        return code if signals.status is None else signals.status


def _stop_by_signal(window: MainWindow, signals: StopSignals) -> None:
    window.stopped_by = signals.received
    window.close()


def _warn_about_known_crash(pyside_version: str) -> None:
    # pyproject's markers keep pip from installing this pair; a distro or a hand-made environment may not.
    major_minor = tuple(int(x) for x in pyside_version.split(".")[:2] if x.isdigit())
    if sys.version_info < (3, 12) and major_minor >= (6, 12):
        print(f"{PROG}: warning: PySide6 {pyside_version} with qasync on Python "
              f"{sys.version_info.major}.{sys.version_info.minor} is known to abort (a reference-count bug); "
              "install PySide6-Essentials<6.12 or use Python 3.12+", file=sys.stderr)


XCB_CURSOR_FIX = ("Qt needs libxcb-cursor0 to open a window on X11, and it is not installed: sudo apt-get install "
                  "libxcb-cursor0 (Fedora: sudo dnf install xcb-util-cursor)")


def xcb_cursor_missing(environ: Mapping[str, str] | None = None) -> bool:
    """Whether Qt is about to open an X11 window without libxcb-cursor, which makes it abort at start (Qt 6.5+)."""
    env = os.environ if environ is None else environ
    platform = env.get("QT_QPA_PLATFORM", "")
    if not sys.platform.startswith("linux") or not env.get("DISPLAY"):
        return False
    if platform and not platform.startswith("xcb"):
        return False
    if not platform and env.get("WAYLAND_DISPLAY"):
        return False  # Qt opens a Wayland window first
    return ctypes.util.find_library("xcb-cursor") is None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    from ..core.children import WORKER_FLAG
    from ..core.running.roles import run_worker

    # A frozen bundle starts its isolated-host children through this same executable.
    if argv[:1] == [WORKER_FLAG]:
        return run_worker(argv[1:])
    args = build_parser().parse_args(argv)
    config = None
    try:
        if args.scenario is None:
            if args.export or args.screenshot or args.quit:
                return _fail("--export, --screenshot and --quit need --run SCENARIO", Exit.USAGE)
        else:
            config = config_from_args(args)
            # Everything the window's start would check (keep: the run goes to the library), once, before Qt.
            config = lifecycle.prepare(config, [p for p in (args.export, args.screenshot) if p], keep=True)
    except NetmemError as exc:  # the command line's one place for bad input
        return _fail(str(exc), exc.status)

    # Qt is imported only now: the worker and argument errors above never pay for it.
    import PySide6
    from PySide6.QtWidgets import QApplication

    _warn_about_known_crash(PySide6.__version__)
    if xcb_cursor_missing():
        print(f"{PROG}: warning: {XCB_CURSOR_FIX}", file=sys.stderr)  # Qt's own message is a page long
    if args.screenshot:
        from PySide6.QtGui import QImageWriter

        suffix = Path(args.screenshot).suffix.lower().lstrip(".")
        if suffix not in {bytes(f).decode() for f in QImageWriter.supportedImageFormats()}:
            return _fail(f"--screenshot {args.screenshot}: can't save a picture as .{suffix or '(no suffix)'};"
                         " use .png", Exit.USAGE)

    from .icon import app_icon
    from .loop import close_loop, make_loop
    from .settings import make_settings
    from .window import MainWindow

    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else PROG])
    app.setApplicationName(PROG)
    app.setApplicationVersion(__version__)
    # Wayland and desktop shells match the window to resources/netmem.desktop (and its icon) by this name.
    app.setDesktopFileName("netmem")
    app.setWindowIcon(app_icon())
    # The window's own close ends the app (after a running run has stopped), not Qt's last-window rule.
    app.setQuitOnLastWindowClosed(False)
    loop = make_loop(app)
    # Scripted runs don't overwrite the user's last-used settings.
    window = MainWindow(make_settings(), persist=config is None)
    if config is not None:
        window.form.set_config(config, args.label)
    try:
        return loop.run_until_complete(_gui_main(window, config, args))
    finally:
        window.deleteLater()
        close_loop(loop)


if __name__ == "__main__":
    sys.exit(main())
