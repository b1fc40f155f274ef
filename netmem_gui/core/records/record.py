"""The run record: the JSON document of one run, its schema, atomic writing and validated loading."""

from __future__ import annotations

import functools
import json
import os
import platform
from collections.abc import Callable
from importlib import resources
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import NetmemError
from ..text import shown
from . import files

if TYPE_CHECKING:
    import numpy as np

    # A record's long columns (COLUMNS) as arrays, by (group, column).
    Columns = dict[tuple[str, str], np.ndarray]

# jsonschema, numpy and psutil are imported where a record is validated or made, not here: the library's list
# (`netmem runs`) imports this module for its errors and names and would pay 0.2 s of start-up for them.

SCHEMA_ID = "netmem.run/1"
SCHEMA_RESOURCE = "run-1.schema.json"

Record = dict[str, Any]
T = TypeVar("T")


class RecordError(NetmemError, ValueError):
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
    checked(record, source)
    return record


def checked(record: Any, source: str = "record") -> tuple[Record, Columns]:
    """Validate record as `validate` does; return it split: everything but the columns (a shallow copy, the columns
    empty lists) and the columns as numpy arrays (int64 byte counts written as integers, float64 else)."""
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
    return rest, _check_columns(columns, source)


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


def _check_columns(columns: dict[tuple[str, str], list[Any]], source: str) -> Columns:
    arrays: Columns = {}
    for group, names in COLUMNS.items():
        lengths = {}
        for column, kind in names.items():
            if (group, column) in columns:
                arrays[group, column] = _column(columns[group, column], f"{group}/{column}", kind, source)
                lengths[column] = arrays[group, column].size
        if len(set(lengths.values())) > 1:
            counts = ", ".join(f"{n} {c}" for c, n in lengths.items())
            raise RecordError(f"{shown(source)}: invalid record at {group}: columns of unequal length ({counts})")
    return arrays


def load(path: str | os.PathLike[str]) -> Record:
    """Read and validate a record file; RecordError (one line) for anything that is not one."""
    return _read(path, validate)


def load_split(path: str | os.PathLike[str]) -> tuple[Record, Columns]:
    """Read and validate a record file as `load` does; return it split as `checked` does."""
    return _read(path, checked)


def _read(path: str | os.PathLike[str], check: Callable[[Any, str], T]) -> T:
    name = os.fspath(path)
    data = files.read_user_bytes(path, "a record file", RecordError, files.MAX_RECORD_BYTES)
    doc = files.parse_json_quickly(data)
    if doc is not None:
        try:
            return check(doc, name)
        except RecordError:
            pass  # the strict reader below refuses it too, in the words every other bad file gets
    text = files.decode_text(data, name, RecordError)
    del data
    doc = files.parse_json(text, name, RecordError)
    del text
    return check(doc, name)


def with_columns(rest: Record, columns: Columns, chunk: int | None = None,
                 between: Callable[[], None] | None = None) -> Record:
    """The record `checked` split: rest with its columns put back as lists of Python numbers, as `load` gives.

    With `chunk`, each column is converted `chunk` numbers at a time and `between()` is called after each: a thread
    doing this lets the others run between chunks (one tolist() of a million numbers holds the GIL for 40 ms), and
    between() may raise to stop."""
    rec = dict(rest)
    for group in COLUMNS:
        if isinstance(rec.get(group), dict):
            rec[group] = dict(rec[group])
    for (group, column), array in columns.items():
        step = chunk or max(1, array.size)
        values = Column()
        for start in range(0, array.size, step):
            values.extend(array[start:start + step].tolist())
            if between is not None:
                between()
        values.array = array
        rec[group][column] = values
    return rec


class Column(list):
    """A record's column as with_columns gives it: a list like any other (JSON, equality, isinstance), that also
    holds its numbers as an array, so np.asarray() of it (the plots, compare) costs nothing instead of 30-40 ms a
    million numbers on the window's thread. Any change to the list forgets the array."""

    __slots__ = ("array",)

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.array: np.ndarray | None = None

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        import numpy as np

        array = self.array if self.array is not None and self.array.size == len(self) else np.array(list(self))
        return array.astype(dtype, copy=bool(copy)) if dtype is not None else (array.copy() if copy else array)


def _forgetting(name: str) -> Callable[..., Any]:
    change = getattr(list, name)

    def method(self: Column, *args: Any, **kwargs: Any) -> Any:
        self.array = None
        return change(self, *args, **kwargs)

    method.__name__ = name
    return method


for _name in ("__setitem__", "__delitem__", "__iadd__", "__imul__", "append", "extend", "insert", "pop", "remove",
              "clear", "sort", "reverse"):
    setattr(Column, _name, _forgetting(_name))


SAMPLED_COLUMNS = ("samples", "loop_lag")  # the record's parts that grow with the run at the sampling rate


def dumps(record: Record) -> str:
    """The record as JSON text, indented by two spaces.

    orjson writes a million-sample record in about 0.2 s where Python's json took 2-4 s, and the app saves and
    exports records on its window's thread. orjson writes a NaN or an infinity as null, so Python's strict json
    first checks everything but the sampled columns (ValueError, as before): a figure can be a ratio gone wrong,
    while the columns are times and byte counts the sampler read. What orjson can't write goes to Python's json.
    """
    json.dumps({k: v for k, v in record.items() if k not in SAMPLED_COLUMNS}, allow_nan=False)
    try:
        import orjson  # here, not at the top: most commands write no record, and start faster without it
    except ImportError:  # a platform without its wheels: Python's json writes every record, only slower
        orjson = None
    if orjson is not None:
        try:
            return orjson.dumps(record, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE).decode("utf-8")
        except orjson.JSONEncodeError:
            pass
    return json.dumps(record, indent=2, allow_nan=False) + "\n"


def save(record: Record, path: str | os.PathLike[str]) -> None:
    """Write a record with the one writer (atomic, mode kept); RecordError naming the path if it can't."""
    files.write_user_file(path, dumps(record), RecordError)


def check_writable(path: str | os.PathLike[str]) -> None:
    """Fail now, before a run, if a record can't be written at `path` (RecordError, one line)."""
    files.check_writable(path, RecordError)
