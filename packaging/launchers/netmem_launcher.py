"""PyInstaller's entry script for the console `netmem` executable."""

import sys

if sys.argv[1:2] == ["--netmem-worker"]:
    # A child of netmem's own: import only what its role needs, so that the measured server process holds what
    # it holds when a source install runs `python -m netmem_gui.core.running.worker` (no Qt, no jsonschema, no numpy).
    from netmem_gui.core.running.roles import run_worker

    sys.exit(run_worker(sys.argv[2:]))

from netmem_gui.cli import main

sys.exit(main())
