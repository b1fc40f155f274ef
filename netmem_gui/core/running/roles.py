"""The child roles netmem starts as `EXECUTABLE --netmem-worker ROLE`: how a frozen bundle, which has no
`python -m`, runs the isolated host's load and server and the children that open and relabel big records."""

from __future__ import annotations


def run_worker(argv: list[str]) -> int:
    """Run the role named first in argv (what follows WORKER_FLAG); returns the exit status."""
    role = argv[0] if argv else ""
    if role == "open":
        from ..records.opening import child_main

        return child_main(argv[1:])
    if role == "guard":
        from ..targets.guard import child_main as guard_main

        return guard_main()
    if role == "label":
        from ..runs.relabel import child_main as relabel_main

        return relabel_main()
    from .worker import main

    return main(argv)
