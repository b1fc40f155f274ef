"""Smoke-test an installed or bundled netmem headless: the CLI, the isolated host's children, the GUI's scripted mode.

    python packaging/smoke_test.py DIR [--bundle [--max-mib N]] [--out OUT_DIR]

DIR holds the `netmem` and `netmem-gui` executables: a bundle's folder (dist/netmem, or netmem.app/Contents/MacOS)
or a venv's bin/ (Scripts\\ on Windows). --bundle also checks that what the bundle leaves out stayed out, and
--max-mib its size. Needs only the standard library, so any Python can run it; sets QT_QPA_PLATFORM=offscreen
unless it is set already.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

TIMEOUT_S = 300
# Files the bundle leaves out (Qt modules and plugins the app doesn't use, the binding of QtOpenGL, GTK); any of them
# in a bundle means the spec's excludes or packaging/trim.py stopped working.
UNWANTED = re.compile(r"Qt6?(WebEngine|Quick|Qml|3D|Multimedia|Pdf|Charts|DataVisualization|Designer|Network)"
                      r"|^QtOpenGL\.(abi3\.so|pyd)$|qgtk3|libgtk-3", re.I)


class SmokeError(Exception):
    pass


def exe(folder: Path, name: str) -> Path:
    path = folder / (name + ".exe" if sys.platform == "win32" else name)
    if not path.is_file():
        raise SmokeError(f"{path} not found")
    return path


def run(title: str, command: list[str | Path], env: dict[str, str], stdin: str | None = None) -> str:
    print(f"--- {title}: {' '.join(str(c) for c in command)}", flush=True)
    done = subprocess.run([str(c) for c in command], capture_output=True, text=True, timeout=TIMEOUT_S, env=env,
                          input=stdin if stdin is not None else "")
    out = done.stdout + done.stderr
    print(out.rstrip(), flush=True)
    if done.returncode != 0:
        raise SmokeError(f"{title}: exit status {done.returncode}")
    return done.stdout


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    if head[:8] != b"\x89PNG\r\n\x1a\n":
        raise SmokeError(f"{path} is not a PNG")
    return struct.unpack(">II", head[16:24])


def check_record(path: Path, connections: int) -> None:
    rec = json.loads(path.read_text(encoding="utf-8"))
    created = rec["scenarios"]["connections"]["connections_created"]
    if not rec["completed"] or created != connections:
        raise SmokeError(f"{path}: completed={rec['completed']}, connections created {created} of {connections}")
    print(f"    {path.name}: completed, {created} connections, host {rec['config']['host']}")


def check_bundle(folder: Path, max_mib: float | None) -> None:
    root = folder.parent if folder.name == "MacOS" else folder  # a macOS .app: all of Contents/
    paths = list(root.rglob("*"))
    unwanted = sorted({p.name for p in paths if UNWANTED.search(p.name)})
    files = [p for p in paths if p.is_file() and not p.is_symlink()]
    size = sum(p.stat().st_size for p in files)
    print(f"--- bundle: {len(files)} files, {size / 2**20:.0f} MiB")
    if unwanted:
        raise SmokeError("files the bundle should leave out: " + ", ".join(unwanted))
    if max_mib is not None and size > max_mib * 2**20:
        raise SmokeError(f"the bundle is {size / 2**20:.0f} MiB, over the {max_mib:g} MiB it may take")


def smoke(folder: Path, out: Path, bundle: bool, max_mib: float | None = None) -> None:
    cli, gui = exe(folder, "netmem"), exe(folder, "netmem-gui")
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "NETMEM_DATA_DIR": str(out / "data"), "NETMEM_GUI_SETTINGS": str(out / "settings.ini")}
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    if bundle:
        check_bundle(folder, max_mib)

    version = run("CLI version", [cli, "--version"], env).strip()
    if not re.fullmatch(r"netmem \d+\.\d+\.\d+\S*", version):
        raise SmokeError(f"unexpected version line {version!r}")

    # The default (isolated) host: the CLI starts its load and server children through the bundle itself.
    report = run("CLI run, isolated host", [cli, "run", "connections", "--connections", "50", "--no-save",
                                              "--json", out / "cli.json"], env)
    if "Connections created: 50 of 50" not in report:
        raise SmokeError("the CLI report lacks 'Connections created: 50 of 50'")
    check_record(out / "cli.json", 50)

    # The GUI executable routes the worker flag too (a bundle's fallback when the console tool is missing).
    try:
        ready = run("GUI executable as a worker", [gui, "--netmem-worker", "serve"], env, stdin="").splitlines()
        if not ready or not json.loads(ready[0]).get("ready"):
            raise SmokeError(f"no ready line from the worker: {ready!r}")
    except SmokeError as exc:
        # A windowed Windows executable may get no usable stdout; the bundle uses the console tool there anyway.
        if sys.platform != "win32":
            raise
        print(f"    warning: {exc}")

    shot = out / "gui.png"
    run("GUI scripted run, isolated host", [gui, "--run", "connections", "--connections", "20", "--export",
                                            out / "gui.json", "--screenshot", shot, "--quit"], env)
    check_record(out / "gui.json", 20)
    if png_size(shot) != (1280, 800):
        raise SmokeError(f"{shot}: {png_size(shot)}, expected 1280x800")
    print(f"    screenshot: {shot} (1280x800)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="the folder holding netmem and netmem-gui")
    parser.add_argument("--bundle", action="store_true", help="also check the bundle's contents")
    parser.add_argument("--max-mib", type=float, help="with --bundle: fail when the bundle takes more (MiB)")
    parser.add_argument("--out", type=Path, help="where the records and the screenshot go (default: a temp dir)")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="netmem-smoke-"))
    try:
        smoke(args.folder.resolve(), out.resolve(), args.bundle, args.max_mib)
    except (SmokeError, subprocess.TimeoutExpired, OSError, KeyError, ValueError) as exc:
        print(f"SMOKE TEST FAILED: {exc}", file=sys.stderr)
        return 1
    print("smoke test passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
