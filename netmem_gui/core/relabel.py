"""Relabelling a big record in a child process, so that the process asking (the app's window) keeps running meanwhile.

    python -m netmem_gui.core.relabel   # the child: reads {"ref", "label", "folder"} as JSON on stdin

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

from . import library, opening
from .record import RecordError
from .text import shown


def set_label(ref: str, label: str | None, folder: Path | None = None) -> library.Entry:
    """library.set_label, in a child process when the record is big enough to freeze its caller (blocking: call it
    from a thread of the caller's); raises LibraryError or RecordError in one line as set_label does."""
    path = library.find(ref, folder)
    if not opening.needs_child(path):
        return library.set_label(ref, label, folder)
    from .worker import spawn_options, worker_command

    command = worker_command("label") if getattr(sys, "frozen", False) else [sys.executable, "-m", __name__]
    request = json.dumps({"ref": ref, "label": label, "folder": os.fspath(path.parent)})
    try:
        done = subprocess.run(command, input=request.encode("utf-8"), capture_output=True, check=False,
                              **spawn_options())
    except OSError as exc:
        raise library.LibraryError(f"{shown(os.fspath(path))}: cannot start a process to relabel it:"
                                   f" {exc.strerror or exc}") from None
    try:
        answer = json.loads(done.stdout)
        if not isinstance(answer, dict) or not ("error" in answer or "entry" in answer):
            raise ValueError("not an answer of the child's")
    except ValueError:  # it died before it answered (killed, out of memory), or something else wrote to stdout
        last = [line for line in done.stderr.decode("utf-8", "replace").splitlines() if line.strip()]
        why = f": {last[-1].strip()}" if last else ""
        raise library.LibraryError(f"{shown(os.fspath(path))}: the process relabelling it ended early"
                                   f" (exit status {done.returncode}){why}") from None
    if "error" in answer:
        raise (RecordError if answer.get("record") else library.LibraryError)(answer["error"])
    return library.Entry.from_dict(answer["entry"])


def child_main() -> int:
    """Relabel the record stdin names and write the outcome to stdout; 0 if it was relabelled, 2 if not."""
    try:
        request = json.loads(sys.stdin.buffer.read())
        entry = library.set_label(request["ref"], request["label"], Path(request["folder"]))
    except (library.LibraryError, RecordError) as exc:
        print(json.dumps({"error": str(exc), "record": isinstance(exc, RecordError)}))
        return 2
    except OSError as exc:
        print(json.dumps({"error": f"cannot relabel the record: {exc.strerror or exc}"}))
        return 2
    except MemoryError:
        print(json.dumps({"error": "not enough memory to relabel the record"}))
        return 2
    print(json.dumps({"entry": entry.to_dict()}))
    return 0


if __name__ == "__main__":
    sys.exit(child_main())
