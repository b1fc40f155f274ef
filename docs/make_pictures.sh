#!/bin/sh
# Remake the app's pictures in docs/ in a real X window: an Xvfb screen of 1440x900 with the openbox window manager
# (apt-get install xvfb openbox libxcb-cursor0 redis-server), the app on Qt's xcb platform, not offscreen.
# Each picture is the scripted mode's (--screenshot: the window as drawn on that screen), its runs kept in a
# temporary library. Run from the checkout: sh docs/make_pictures.sh [DISPLAY_NUMBER]
set -eu
NUM=${1:-21}
PY=${PY:-.venv/bin/python}
DATA=$(mktemp -d)
export DISPLAY=":$NUM" QT_QPA_PLATFORM=xcb NETMEM_DATA_DIR="$DATA" NETMEM_GUI_SETTINGS="$DATA/settings.ini"
Xvfb "$DISPLAY" -screen 0 1440x900x24 -nolisten tcp >/dev/null 2>&1 &
XVFB=$!
sleep 1
openbox >/dev/null 2>&1 &
WM=$!
REDIS=
cleanup() { kill $WM $XVFB ${REDIS:-} 2>/dev/null || true; rm -rf "$DATA"; }
trap cleanup EXIT
sleep 1
gui() { "$PY" -m netmem_gui "$@" --quit; }

# The main window after `all` (README, docs/app.md).
gui --run all --duration 10 --label demo --screenshot docs/screenshot.png
# Your server (docs/your-server.md).
gui --run stability --server chat:leaky_room --app-dir examples --duration 4 --screenshot docs/your-server.png
# Attached to a redis-server (docs/targets.md).
PORT=16540
redis-server --port $PORT --bind 127.0.0.1 --save '' --appendonly no >/dev/null 2>&1 &
REDIS=$!
sleep 1
gui --run connections --connections 1000 --attach $REDIS --address 127.0.0.1:$PORT --protocol redis --interval 20 \
    --screenshot docs/attach-redis.png
kill $REDIS && REDIS=
# The compare view (docs/app.md, README): a clean stability run against one that leaks 8 KiB per connection.
rm -rf "$DATA/runs"
"$PY" -m netmem_gui.cli run stability --duration 8 --label clean >/dev/null
"$PY" -m netmem_gui.cli run stability --duration 8 --inject-leak 8192 --label "leaks 8 KiB per connection" >/dev/null
"$PY" docs/make_compare.py docs/compare.png
