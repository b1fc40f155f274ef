"""The run record: the JSON document of one run, its schema, atomic writing and validated loading."""

from __future__ import annotations

import functools
import json
import os
import platform
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import psutil

from .files import read_user_file

SCHEMA_ID = "netmem.run/1"
SCHEMA_RESOURCE = "run-1.schema.json"

Record = dict[str, Any]


class RecordError(ValueError):
    """A file that is not a valid run record; the message is one line naming the file and the problem."""


def schema_text() -> str:
    return resources.files("netmem_gui.core.schema").joinpath(SCHEMA_RESOURCE).read_text(encoding="utf-8")


@functools.cache
def schema() -> dict[str, Any]:
    return json.loads(schema_text())


def platform_info() -> dict[str, Any]:
    return {
        "os": platform.platform(),
        "system": platform.system(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "psutil": psutil.__version__,
        "page_size": _page_size(),
        "cpu_count": os.cpu_count(),
    }


def _page_size() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        import mmap

        return mmap.PAGESIZE


def validate(record: Any, source: str = "record") -> Record:
    """Return record if it is a valid netmem.run/1 document; else raise RecordError in one line."""
    if not isinstance(record, dict):
        raise RecordError(f"{source}: not a netmem run record (expected a JSON object)")
    tag = record.get("schema")
    if tag != SCHEMA_ID:
        found = f"schema {tag!r}" if tag is not None else "no schema tag"
        raise RecordError(f"{source}: not a {SCHEMA_ID} record ({found})")
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema()).iter_errors(record))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        raise RecordError(f"{source}: invalid record at {where}: {error.message}")
    return record


def load(path: str | os.PathLike[str]) -> Record:
    """Read and validate a record file; RecordError (one line) for anything that is not one."""
    name = os.fspath(path)
    text = read_user_file(path, "a record file", RecordError)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        problem = "empty file" if not text.strip() else f"not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        raise RecordError(f"{name}: {problem}") from None
    return validate(data, name)


def dumps(record: Record) -> str:
    return json.dumps(record, indent=1, allow_nan=False) + "\n"


def save(record: Record, path: str | os.PathLike[str]) -> None:
    """Write atomically: a temporary file in the same folder, flushed to disk, then renamed over `path`."""
    target = Path(path)
    text = dumps(record)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent or Path("."))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def check_writable(path: str | os.PathLike[str]) -> None:
    """Fail now, before a run, if a record can't be written at `path` (RecordError, one line)."""
    target = Path(path)
    name = os.fspath(path)
    if target.is_dir():
        raise RecordError(f"{name}: is a folder; give a file name for the record")
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise RecordError(f"{name}: folder {os.fspath(folder)} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".probe", dir=folder)
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        raise RecordError(f"{name}: cannot write there: {exc.strerror or exc}") from None
    if target.exists() and not os.access(target, os.W_OK):
        raise RecordError(f"{name}: file exists and is read-only")

