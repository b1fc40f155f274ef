"""File-descriptor limits: raising the soft limit and the most connections a host can hold."""

from __future__ import annotations

import sys

from ..config import ConfigError, RunConfig

# Descriptors a process needs besides its sockets: the interpreter, pipes, /proc files, the listener.
RESERVED_FDS = 64


def raise_fd_limit() -> int | None:
    """Raise the soft RLIMIT_NOFILE to the hard limit; return the soft limit now in force (None: no limit known)."""
    if sys.platform == "win32":
        return None
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard
    if sys.platform == "darwin":
        # macOS reports RLIM_INFINITY as hard but refuses anything above OPEN_MAX per process.
        target = min(hard, 10240) if hard == resource.RLIM_INFINITY else hard
    if target != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return None if soft == resource.RLIM_INFINITY else soft


def max_connections(host: str, fd_limit: int | None) -> int | None:
    """Most connections one run can hold on this host under fd_limit (None: unlimited as far as we know).

    In-app, the clients and the server live in one process: two descriptors per connection. Isolated, the
    server child and the load child each hold one descriptor per connection.
    """
    if fd_limit is None:
        return None
    usable = max(fd_limit - RESERVED_FDS, 0)
    return usable // 2 if host == "inapp" else usable


def check_fd_limit(config: RunConfig) -> None:
    """Raise the limit, then refuse a run whose connections can't fit, naming the most that can."""
    limit = raise_fd_limit()
    most = max_connections(config.host, limit)
    wanted = config.peak_connections()
    if most is not None and wanted > most:
        raise ConfigError(
            f"{wanted} connections need more file descriptors than this system allows "
            f"(limit {limit}); the {config.host} host can hold at most {most}"
        )
