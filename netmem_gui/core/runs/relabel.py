"""Relabelling a big record in a child process, so that the process asking (the app's window) keeps running meanwhile.

    python -m netmem_gui.core.runs.relabel   # the child: reads {"ref", "label", "folder"} as JSON on stdin

A label is kept in the record itself, so relabelling rewrites the whole record: parsing and writing a long run's
record are single calls that hold Python's GIL (orjson: about 0.3 s each way for a million samples), and a thread of
the app's froze its window that long. The child does library.set_label and writes one line of JSON: the library's
entry for the record, or why it could not be done.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ..records import opening
from ..records.record import RecordError
from ..text import shown
from . import library


def child_command() -> list[str]:
    """The command line of the child, from a source tree, a wheel or a frozen bundle."""
    from ..children import module_command

    return module_command(__name__, "label")


def set_label(ref: str, label: str | None, folder: Path | None = None) -> library.Entry:
    """library.set_label, in a child process when the record is big enough to freeze its caller (blocking: call it
    from a thread of the caller's); raises LibraryError or RecordError in one line as set_label does."""
    path = library.find(ref, folder)
    if not opening.needs_child(path):
        return library.set_label(ref, label, folder)
    label = library.checked_label(label)  # a bad label is refused here, with no child started
    from ..children import ended_early, spawn_options

    # The file the ID named now: a record added meanwhile can't make a short ID ambiguous in the child.
    request = json.dumps({"ref": path.stem, "label": label, "folder": os.fspath(path.parent)})
    try:
        done = subprocess.run(child_command(), input=request.encode("utf-8"), capture_output=True, check=False,
                              **spawn_options())
    except OSError as exc:
        raise library.LibraryError(f"{shown(os.fspath(path))}: cannot start a process to relabel it:"
                                   f" {exc.strerror or exc}") from None
    try:
        answer = json.loads(done.stdout)
    except ValueError:
        answer = None
    if isinstance(answer, dict) and isinstance(answer.get("error"), str):
        raise (RecordError if answer.get("record") else library.LibraryError)(answer["error"])
    try:
        return library.Entry.from_dict(answer["entry"])  # type: ignore[index]
    except (TypeError, KeyError, ValueError):
        # It died before it answered (killed, out of memory), or something else wrote to its stdout.
        raise library.LibraryError(ended_early(f"{shown(os.fspath(path))}: the process relabelling it",
                                               done.returncode, done.stderr)) from None


def child_main() -> int:
    """Relabel the record stdin names and write the outcome to stdout; 0 if it was relabelled, 2 if not."""
    try:
        request = json.loads(sys.stdin.buffer.read())
        entry = library.set_label(request["ref"], request["label"], Path(request["folder"]))
    except (library.LibraryError, RecordError) as exc:
        print(json.dumps({"error": str(exc), "record": isinstance(exc, RecordError)}))
        return 2
    except OSError as exc:
        where = shown(exc.filename) if exc.filename else "the record"
        print(json.dumps({"error": f"{where}: cannot relabel it: {exc.strerror or exc}"}))
        return 2
    except MemoryError:
        print(json.dumps({"error": "not enough memory to relabel the record"}))
        return 2
    print(json.dumps({"entry": entry.to_dict()}))
    return 0


if __name__ == "__main__":
    sys.exit(child_main())
