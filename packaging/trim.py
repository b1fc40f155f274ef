"""What packaging/netmem.spec leaves out of the bundle beyond its excludes: unused Qt plugins, the libraries every
desktop Linux has (and what only these needed), debug symbols, and ICU's data on Linux.

Each removal and what it saved is in docs/install.md ("What the bundle holds").
"""

from __future__ import annotations

import os
import posixpath
import re
import shutil
import subprocess
import sys
from pathlib import Path, PurePosixPath

from PyInstaller.depend import bindepend

ICU_SOURCE = Path(__file__).parent / "icu" / "empty_icudata.c"

# Qt plugins netmem never loads. Kept: the xcb, wayland, offscreen and minimal platforms (and cocoa/windows), the
# xdg-desktop-portal theme, input methods (compose, ibus), SVG icons and the ICO reader, the xcb GL integrations.
# Gone: the GTK3 theme (it alone pulled GTK, GDK, cairo, pango, harfbuzz and gio into the bundle, ~21 MiB, where
# they could meet the user's own GTK), the VNC platform and the TUIO touch plugin (the only users of QtNetwork, and
# through it of kerberos), embedded-device platforms and their input plugins, and image formats the app neither
# reads nor writes.
UNUSED_PLUGINS = re.compile(
    r"plugins/(platformthemes/(lib)?qgtk3"
    r"|egldeviceintegrations/"
    r"|generic/"
    r"|platforms/(lib)?q(eglfs|linuxfb|minimalegl|vkkhrdisplay|vnc)"
    r"|imageformats/(lib)?q(gif|icns|jpeg|tga|tiff|wbmp|webp|pdf)"
    r")", re.I)


# Libraries every desktop Linux has, which the AppImage project's excludelist says not to bundle (a bundled copy
# can clash with the system's: an older libstdc++ breaks newer GPU drivers, a bundled fontconfig can stall on the
# system's font configuration): https://github.com/AppImageCommunity/pkg2appimage/blob/master/excludelist
# The PySide6 wheel, too, takes them from the system.
SYSTEM_LIBRARIES = {
    "libstdc++.so.6", "libgcc_s.so.1", "libX11.so.6", "libX11-xcb.so.1", "libxcb.so.1", "libwayland-client.so.0",
    "libfontconfig.so.1", "libfreetype.so.6", "libharfbuzz.so.0", "libfribidi.so.0", "libexpat.so.1", "libz.so.1",
    "libuuid.so.1", "libcom_err.so.2", "libgpg-error.so.0", "libICE.so.6", "libSM.so.6", "libGL.so.1", "libEGL.so.1",
    "libdrm.so.2", "libgbm.so.1", "libglapi.so.0",
}


def _posix(dest: str) -> str:
    return "/" + dest.replace("\\", "/")


def _key(name: str) -> str:
    # Windows and macOS match library names without case (an import table says VCRUNTIME140.dll, the file is
    # vcruntime140.dll).
    return name if sys.platform.startswith("linux") else name.lower()


def _needs(src: str) -> set[str]:
    """The libraries `src` names itself (on Linux PyInstaller asks ldd, which also lists what those load)."""
    readelf = shutil.which("readelf")
    if sys.platform.startswith("linux") and readelf:
        dynamic = subprocess.run([readelf, "-d", src], capture_output=True, text=True, check=True).stdout
        return set(re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", dynamic))
    return {_key(Path(name).name) for name, _ in bindepend.get_imports(src)}


def _name(entry: tuple) -> str:
    return _key(PurePosixPath(_posix(entry[0])).name)


def _left_out(dest: str) -> bool:
    path = _posix(dest)
    if UNUSED_PLUGINS.search(path):
        return True
    return sys.platform.startswith("linux") and PurePosixPath(path).name in SYSTEM_LIBRARIES


def _closure(entries: list[tuple], by_name: dict[str, tuple]) -> set[str]:
    """The file names of `entries` and of every library in the TOC they load, directly or not."""
    seen: set[str] = set()
    stack = list(entries)
    while stack:
        entry = stack.pop()
        if _name(entry) in seen:
            continue
        seen.add(_name(entry))
        stack.extend(by_name[n] for n in _needs(entry[1]) if n in by_name and n not in seen)
    return seen


def _loaded_by_path(entry: tuple) -> bool:
    """Python extension modules, Qt plugins and libpython: what Python, Qt or the bootloader open by their path."""
    return entry[2] == "EXTENSION" or "/plugins/" in _posix(entry[0]) or _name(entry).startswith("libpython")


def trimmed(binaries: list[tuple], datas: list[tuple]) -> tuple[list[tuple], list[tuple]]:
    """`binaries` without the unused plugins and the system's libraries, and without the libraries only they load;
    `datas` without PyInstaller's links to what went.

    On Linux a library stays only when something opened by its path loads it. Elsewhere, where this could not be
    tried (Qt for Windows opens its software OpenGL by name, for instance), a library stays when anything kept loads
    it or nothing left out does."""
    files = [e for e in binaries if e[2] != "SYMLINK"]
    kept = [e for e in files if not _left_out(e[0])]
    by_name = {_name(e): e for e in kept}
    if sys.platform.startswith("linux"):
        needed = _closure([e for e in kept if _loaded_by_path(e)], by_name)
    else:
        only_left_out = _closure([e for e in files if _left_out(e[0])], by_name)
        needed = _closure([e for e in kept if _name(e) not in only_left_out], by_name)
    gone = {_posix(e[0]) for e in files if e not in kept or _name(e) not in needed}
    kept = [e for e in kept if _name(e) in needed]
    # A macOS framework is a folder (QtNetwork.framework/Versions/A/QtNetwork, its Resources/Info.plist, links):
    # when its library goes, all of it goes.
    frameworks = {path[:path.index(".framework/") + len(".framework/")] for path in gone if ".framework/" in path}

    def stays(entry: tuple) -> bool:
        path = _posix(entry[0])
        if any(path.startswith(folder) for folder in frameworks):
            return False
        if entry[2] != "SYMLINK":
            return True
        # A link (PyInstaller's beside the executables, a framework's own) goes when what it points at went.
        target = posixpath.normpath(posixpath.join(posixpath.dirname(path), entry[1].replace("\\", "/")))
        return target not in gone

    return kept + [e for e in binaries if e[2] == "SYMLINK" and stays(e)], [e for e in datas if stays(e)]


def _strippable(dest: str, src: str) -> bool:
    """The interpreter's own binaries (libpython, lib-dynload), and libraries no tool rewrote after they were built:
    no RPATH or RUNPATH (which auditwheel's patchelf sets) and not in a wheel's vendored `.libs` folder."""
    path = _posix(dest)
    if "/lib-dynload/" in path or PurePosixPath(path).name.startswith("libpython"):
        return True
    if re.search(r"\.libs/", path):
        return False
    dynamic = subprocess.run(["readelf", "-d", src], capture_output=True, text=True).stdout
    return "(NEEDED)" in dynamic and "(RPATH)" not in dynamic and "(RUNPATH)" not in dynamic


def stripped(binaries: list[tuple], workdir: str) -> list[tuple]:
    """On Linux, binaries with their debug symbols stripped (`_strippable`), from copies in `workdir`.

    Python builds such as pyenv's keep symbols in libpython (22 MiB, 5.5 MiB stripped), and uvloop's wheel ships
    its libuv-with-Cython library unstripped (13.6 MiB, 1.6 MiB stripped). Libraries that auditwheel rewrote with
    patchelf are left alone: strip can break them (https://github.com/pypa/manylinux/issues/119)."""
    strip, readelf = shutil.which("strip"), shutil.which("readelf")
    if not sys.platform.startswith("linux") or strip is None or readelf is None:
        return binaries
    out = []
    for dest, src, typecode in binaries:
        if typecode != "SYMLINK" and _strippable(dest, src):
            copy = Path(workdir) / "stripped" / dest
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, copy)
            subprocess.run([strip, "--strip-unneeded", str(copy)], check=True)
            src = str(copy)
        out.append((dest, src, typecode))
    return out


def icu_data_emptied(binaries: list[tuple], workdir: str) -> list[tuple]:
    """On Linux, PySide6's ICU data library (30 MiB) replaced by one that holds no data (packaging/icu/).

    Left as it is when NETMEM_BUNDLE_ICU_DATA=full, or when no C compiler is found (with a warning)."""
    if not sys.platform.startswith("linux") or os.environ.get("NETMEM_BUNDLE_ICU_DATA") == "full":
        return binaries
    cc = shutil.which(os.environ.get("CC", "cc"))
    out = []
    for dest, src, typecode in binaries:
        found = re.fullmatch(r"libicudata\.so\.(\d+)", PurePosixPath(_posix(dest)).name)
        if found and typecode != "SYMLINK":
            if cc is None:
                print("warning: no C compiler (cc), so the bundle keeps ICU's full data (+30 MiB)", file=sys.stderr)
            else:
                name = found.group(0)
                empty = Path(workdir) / "icu" / name
                empty.parent.mkdir(parents=True, exist_ok=True)
                subprocess.run([cc, "-shared", "-fPIC", "-s", "-O2", f"-DICU_DATA_SYMBOL=icudt{found.group(1)}_dat",
                                f"-Wl,-soname,{name}", "-o", str(empty), str(ICU_SOURCE)], check=True)
                src = str(empty)
        out.append((dest, src, typecode))
    return out
