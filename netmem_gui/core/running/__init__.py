"""Running a run: executing it on a host (in-app thread, isolated children), preparing and finishing it for every
view, and the process plumbing that needs (garbage collection, signals, limits, child roles)."""
