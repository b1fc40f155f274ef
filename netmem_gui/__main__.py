"""`python -m netmem_gui` starts the desktop app (`netmem` is the command line)."""

import sys

from .gui.app import main

sys.exit(main())
