#!/usr/bin/env bash
# Build the Linux bundle and the wheel, smoke-test both headless, and pack the bundle:
#
#     bash packaging/build_linux.sh
#
# Everything is built in throwaway venvs under build/linux/ from this checkout (PyInstaller and `build` are installed
# there, netmem's own dependencies come from pyproject.toml). Results:
#   dist/netmem/                              the one-folder bundle (netmem-gui and netmem)
#   dist/netmem-VERSION-linux-ARCH.tar.xz     the bundle packed, with the .desktop file, metainfo and icon
#   dist/netmem-VERSION-py3-none-any.whl      the wheel
# PYTHON picks the interpreter (default python3, 3.11 or newer). The build needs a C compiler (cc) for the bundle's
# empty ICU data library; NETMEM_BUNDLE_ICU_DATA=full keeps PySide6's (docs/install.md, "What the bundle holds").
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
WORK=build/linux
export QT_QPA_PLATFORM=offscreen  # no display needed

# Qt's X11 plugin needs these; PyInstaller bundles them only if this machine has them, else users need them.
missing=""
for lib in libxcb-icccm.so.4 libxcb-keysyms.so.1 libxcb-cursor.so.0 libxkbcommon-x11.so.0; do
    ldconfig -p | grep -q "$lib" || missing="$missing $lib"
done
[ -z "$missing" ] || echo "warning: not on this machine, so not bundled:$missing" \
    "(Debian/Ubuntu: apt-get install libxcb-icccm4 libxcb-keysyms1 libxcb-cursor0 libxkbcommon-x11-0)" >&2

if [ "${NETMEM_BUNDLE_ICU_DATA:-}" != full ] && ! command -v "${CC:-cc}" >/dev/null 2>&1; then
    echo "error: no C compiler (${CC:-cc}) for the bundle's empty ICU data; install one (apt-get install gcc)" \
        "or keep ICU's full data with NETMEM_BUNDLE_ICU_DATA=full" >&2
    exit 2
fi

rm -rf "$WORK" dist/netmem
mkdir -p "$WORK" dist

echo "=== bundle: venv with netmem and PyInstaller"
"$PYTHON" -m venv "$WORK/venv"
"$WORK/venv/bin/pip" install -q ".[fast]" "pyinstaller>=6.10,<7"  # fast: uvloop for the load (docs/scale.md)

echo "=== bundle: PyInstaller"
"$WORK/venv/bin/pyinstaller" --noconfirm --log-level WARN --workpath "$WORK/pyinstaller" --distpath dist \
    packaging/netmem.spec

echo "=== bundle: smoke test"
# The goal of docs/install.md: at most 150 MiB unpacked (180 with ICU's full data).
max_mib=150; [ "${NETMEM_BUNDLE_ICU_DATA:-}" != full ] || max_mib=180
"$WORK/venv/bin/python" packaging/smoke_test.py dist/netmem --bundle --max-mib "$max_mib" --out "$WORK/smoke-bundle"

VERSION=$(dist/netmem/netmem --version | cut -d' ' -f2)
# xz: every Linux has it (tar -xJf), and it packs this bundle to ~39 MiB where gzip makes ~52 MiB.
TARBALL="dist/netmem-$VERSION-linux-$(uname -m).tar.xz"
echo "=== bundle: pack $TARBALL"
# The desktop integration files go beside the executables; docs/install.md says where to copy them.
cp resources/netmem.desktop resources/netmem.metainfo.xml dist/netmem/
cp netmem_gui/resources/netmem-256.png dist/netmem/netmem.png
tar -C dist -cJf "$TARBALL" netmem

echo "=== wheel: build, install into a fresh venv, smoke test"
"$WORK/venv/bin/pip" install -q "build>=1.2"
rm -f dist/netmem-*.whl
"$WORK/venv/bin/python" -m build --wheel --outdir dist . >"$WORK/build-wheel.log"
WHEEL=$(ls dist/netmem-*.whl)
"$WORK/venv/bin/python" - "$WHEEL" <<'EOF'
import sys, zipfile
names = set(zipfile.ZipFile(sys.argv[1]).namelist())
needed = {"netmem_gui/core/schema/run-1.schema.json", "netmem_gui/core/schema/expectations-1.schema.json",
          "netmem_gui/resources/netmem-256.png", "netmem_gui/resources/netmem-16.png"}
missing = needed - names
sys.exit(f"package data missing from the wheel: {sorted(missing)}" if missing else 0)
EOF
"$PYTHON" -m venv "$WORK/venv-wheel"
"$WORK/venv-wheel/bin/pip" install -q "$WHEEL"
(cd "$WORK" && venv-wheel/bin/python ../../packaging/smoke_test.py venv-wheel/bin --out smoke-wheel)

echo "=== done"
du -sh dist/netmem "$TARBALL" "$WHEEL"
