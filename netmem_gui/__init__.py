"""netmem: a memory profiler for network workloads (core, command line and desktop app)."""

__version__ = "0.1.0"
