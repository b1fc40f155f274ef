"""A module whose import raises KeyboardInterrupt (a script that waits for Ctrl-C at the top)."""

raise KeyboardInterrupt
