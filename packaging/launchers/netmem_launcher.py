"""PyInstaller's entry script for the console `netmem` executable."""

import sys

if sys.argv[1:2] == ["--netmem-worker"]:
    # An isolated-host child: import only the worker, so that the measured server process holds what it holds
    # when a source install runs `python -m netmem_gui.core.worker` (no Qt, no jsonschema, no numpy).
    from netmem_gui.core.worker import main as worker_main

    sys.exit(worker_main(sys.argv[2:]))

from netmem_gui.cli import main

sys.exit(main())
