"""The run record: the JSON document of one run, its schema, atomic writing and validated loading."""

from __future__ import annotations

import functools
import json
import os
import platform
from importlib import resources
from typing import TYPE_CHECKING, Any

from . import files
from .text import shown

if TYPE_CHECKING:
    import numpy as np

# jsonschema, numpy and psutil are imported where a record is validated or made, not here: the library's list
# (`netmem runs`) imports this module for its errors and names and would pay 0.2 s of start-up for them.

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
    import psutil

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


# The columns that grow with a run's length (a 1,000,000-sample record holds 5 million numbers): checked with numpy
# rather than walked number by number through jsonschema. The schema describes them all the same, and the checks
# here are the schema's (types, minimum) plus what no schema can say (equal lengths, times in order, finite).
COLUMNS: dict[str, dict[str, str]] = {
    "samples": {"t_s": "time", "rss_bytes": "bytes", "vms_bytes": "bytes"},
    "loop_lag": {"t_s": "time", "lag_s": "lag"},
}
_MAX_SHOWN = 160


def _one_line(message: str) -> str:
    text = shown(message)
    return text if len(text) <= _MAX_SHOWN else text[:_MAX_SHOWN] + "..."


# Keys that records of netmem 0.1.0 wrote under older names: (where, old name, name now).
RENAMED = (("summary", "seed_leak_rule", "baseline_rule"), ("scenarios/stability", "iterations", "cycles"))


def upgrade(record: dict[str, Any]) -> dict[str, Any]:
    """Bring a record written under older key names up to today's names, in place; a current record is unchanged."""
    for where, old, new in RENAMED:
        node: Any = record
        for part in where.split("/"):
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and old in node and new not in node:
            node[new] = node.pop(old)
    return record


def validate(record: Any, source: str = "record") -> Record:
    """Return record if it is a valid netmem.run/1 document; else raise RecordError in one line."""
    if not isinstance(record, dict):
        raise RecordError(f"{shown(source)}: not a netmem run record (expected a JSON object)")
    upgrade(record)
    tag = record.get("schema")
    if tag != SCHEMA_ID:
        found = f"schema {_one_line(repr(tag))}" if tag is not None else "no schema tag"
        raise RecordError(f"{shown(source)}: not a {SCHEMA_ID} record ({found})")
    import jsonschema

    rest = dict(record)
    columns: dict[tuple[str, str], list[Any]] = {}
    for group, names in COLUMNS.items():
        if isinstance(record.get(group), dict):
            rest[group] = dict(record[group])
            for column in names:
                if isinstance(record[group].get(column), list):
                    columns[group, column] = record[group][column]
                    rest[group][column] = []
    files.check_values(rest, source, RecordError)
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema()).iter_errors(rest))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        raise RecordError(f"{shown(source)}: invalid record at {shown(where)}: {_one_line(error.message)}")
    _check_columns(columns, source)
    return record


def _column(values: list[Any], where: str, kind: str, source: str) -> np.ndarray:
    import numpy as np

    def bad(problem: str) -> RecordError:
        return RecordError(f"{shown(source)}: invalid record at {where}: {problem}")

    types = set(map(type, values))
    if not types <= {int, float}:
        odd = next(t for t in types if t not in (int, float))
        raise bad(f"a {'boolean' if odd is bool else odd.__name__} among the numbers")
    try:
        if kind == "bytes" and float not in types:
            array = np.array(values, dtype=np.int64)
        else:
            array = np.array(values, dtype=np.float64)
    except OverflowError:
        raise bad("a number out of range") from None
    if array.dtype.kind == "f":
        if not np.isfinite(array).all():
            raise bad("a number that is not finite")
        if np.abs(array).max(initial=0.0) > files.MAX_MAGNITUDE:
            raise bad("a number out of range")
        if kind == "bytes" and not (array == np.floor(array)).all():
            raise bad("a byte count that is not a whole number")
    if kind in ("bytes", "lag") and array.size and array.min() < 0:
        raise bad(f"a negative {'size' if kind == 'bytes' else 'lag'} ({array.min():g})")
    if kind == "time" and array.size > 1 and (np.diff(array) < 0).any():
        at = int(np.argmax(np.diff(array) < 0)) + 1
        raise bad(f"times out of order (item {at}: {array[at]:g} after {array[at - 1]:g})")
    return array


def _check_columns(columns: dict[tuple[str, str], list[Any]], source: str) -> None:
    for group, names in COLUMNS.items():
        lengths = {}
        for column, kind in names.items():
            if (group, column) in columns:
                lengths[column] = _column(columns[group, column], f"{group}/{column}", kind, source).size
        if len(set(lengths.values())) > 1:
            counts = ", ".join(f"{n} {c}" for c, n in lengths.items())
            raise RecordError(f"{shown(source)}: invalid record at {group}: columns of unequal length ({counts})")


def load(path: str | os.PathLike[str]) -> Record:
    """Read and validate a record file; RecordError (one line) for anything that is not one."""
    name = os.fspath(path)
    text = files.read_user_file(path, "a record file", RecordError, files.MAX_RECORD_BYTES)
    data = files.parse_json(text, name, RecordError)
    del text
    return validate(data, name)


def dumps(record: Record) -> str:
    return json.dumps(record, indent=1, allow_nan=False) + "\n"


def save(record: Record, path: str | os.PathLike[str]) -> None:
    """Write a record with the one writer (atomic, mode kept); RecordError naming the path if it can't."""
    files.write_user_file(path, dumps(record), RecordError)


def check_writable(path: str | os.PathLike[str]) -> None:
    """Fail now, before a run, if a record can't be written at `path` (RecordError, one line)."""
    files.check_writable(path, RecordError)
