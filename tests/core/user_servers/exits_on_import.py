"""A module that ends the interpreter when imported (a script's `sys.exit()` left at the top)."""

import sys

sys.exit(3)
