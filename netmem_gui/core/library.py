"""The run library: every run's record in the user's data folder, listed, labelled and deleted by ID."""

from __future__ import annotations

import datetime as dt
import os
import re
import secrets
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import record
from .text import TextError, checked, shown
from .verdict import leak_verdict

ENV_DATA_DIR = "NETMEM_DATA_DIR"
SUFFIX = ".json"
_SAFE = re.compile(r"[^A-Za-z0-9_-]+")


class LibraryError(ValueError):
    """An ID that names no run (or more than one), or a library folder that can't be used; one line."""


def data_dir() -> Path:
    """netmem's data folder: $NETMEM_DATA_DIR when set (tests, CI), else the platform's user data folder."""
    override = os.environ.get(ENV_DATA_DIR)
    if override:
        return Path(override).expanduser()
    # Imported here so that a machine without platformdirs can still load records and compare them.
    from platformdirs import user_data_dir

    return Path(user_data_dir("netmem", appauthor=False))


def library_dir() -> Path:
    """The folder the library keeps its records in: `<data folder>/runs` (it may not exist yet)."""
    return data_dir() / "runs"


@dataclass(frozen=True)
class Entry:
    """One file of the library, as a list shows it. `damaged` is None for a good record, else the reason."""

    id: str
    path: Path
    started_at: str | None = None
    label: str | None = None
    scenario: str | None = None
    host: str | None = None
    counts: dict[str, int | None] = field(default_factory=dict)
    peak_rss_bytes: int | None = None
    verdict: str | None = None
    verdict_source: str | None = None
    completed: bool | None = None
    damaged: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["path"] = os.fspath(self.path)
        return data


def run_id(rec: record.Record) -> str:
    """A fresh file stem for a record: UTC start time, scenario, short random id (20261126T014012Z-all-3fa2c1)."""
    try:
        started = dt.datetime.strptime(rec["started_at"][:19], "%Y-%m-%dT%H:%M:%S")
    except (KeyError, TypeError, ValueError):
        started = dt.datetime.now(dt.UTC)
    scenario = _SAFE.sub("_", str(rec.get("config", {}).get("scenario", "run")))
    return f"{started:%Y%m%dT%H%M%SZ}-{scenario}-{secrets.token_hex(3)}"


def check_folder(folder: Path) -> None:
    """LibraryError when `folder`, or the nearest part of its path that exists, is not a folder (for example
    $NETMEM_DATA_DIR naming a file): listing it would show an empty library, saving into it would fail."""
    for part in (folder, *folder.parents):
        if part.exists():
            if not part.is_dir():
                raise LibraryError(f"{shown(os.fspath(part))}: the run library is not a folder"
                                   f" ({shown(os.fspath(folder))}; see ${ENV_DATA_DIR})")
            return


def save_run(rec: record.Record, folder: Path | None = None) -> Entry:
    """Save a finished or stopped run's record into the library (atomically); return its entry."""
    folder = library_dir() if folder is None else folder
    check_folder(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        problem = exc.strerror or exc
        raise LibraryError(f"{shown(os.fspath(folder))}: cannot create the run library: {problem}") from None
    while True:
        path = folder / (run_id(rec) + SUFFIX)
        if not path.exists():  # 24 random bits per second of start time: a clash is rare, but never overwrite
            break
    record.save(rec, path)
    return entry_for(path, rec)


def entry_for(path: Path, rec: record.Record) -> Entry:
    """The list entry of a valid record stored at `path`."""
    figures = rec.get("scenarios", {})
    verdict, source = leak_verdict(rec)
    return Entry(
        id=path.stem,
        path=path,
        started_at=rec.get("started_at"),
        label=rec.get("label"),
        scenario=rec["config"].get("scenario"),
        host=rec["config"].get("host"),
        counts={
            "connections": figures.get("connections", {}).get("connections_created"),
            "messages": figures.get("messages", {}).get("messages_echoed"),
            "cycles": figures.get("stability", {}).get("cycles_ok"),
        },
        peak_rss_bytes=rec["summary"].get("peak_rss_bytes"),
        verdict=verdict,
        verdict_source=source,
        completed=rec.get("completed"),
    )


def _files(folder: Path) -> list[Path]:
    check_folder(folder)
    if not folder.is_dir():
        return []
    # Dot files are record.save's temporary files (or the user's own); they are never records of the library.
    return [p for p in folder.iterdir() if p.suffix == SUFFIX and not p.name.startswith(".")]


def list_runs(folder: Path | None = None) -> list[Entry]:
    """Every record in the library, newest first; a file that isn't a valid record is an entry with `damaged` set."""
    folder = library_dir() if folder is None else folder
    entries = []
    for path in _files(folder):
        try:
            entries.append(entry_for(path, record.load(path)))
        except record.RecordError as exc:
            # The reason without the path: the entry carries the path already.
            reason = str(exc).removeprefix(os.fspath(path) + ": ")
            entries.append(Entry(id=path.stem, path=path, damaged=reason))
    # IDs begin with the UTC start time, so sorting by ID is sorting by date, damaged files included.
    return sorted(entries, key=lambda e: e.id, reverse=True)


def find(ref: str, folder: Path | None = None) -> Path:
    """The library file an ID names: the whole ID, its short random part, or a unique beginning of it."""
    folder = library_dir() if folder is None else folder
    files = _files(folder)
    exact = [p for p in files if p.stem == ref]
    if exact:
        return exact[0]
    matches = [p for p in files if p.stem.startswith(ref) or p.stem.endswith("-" + ref)] if ref else []
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise LibraryError(f"{shown(ref)}: no such file, and no run with that ID in the library"
                           f" ({shown(os.fspath(folder))})")
    names = shown(", ".join(sorted(p.stem for p in matches)[:3]))
    raise LibraryError(f"{shown(ref)}: names {len(matches)} runs in the library ({names}...); give more of the ID")


def resolve(ref: str, folder: Path | None = None) -> Path:
    """A path to a record: `ref` itself when it is an existing file or looks like a path, else a library ID."""
    path = Path(ref)
    if path.exists() or os.sep in ref or ref.endswith(SUFFIX):
        return path
    return find(ref, folder)


def set_label(ref: str, label: str | None, folder: Path | None = None) -> Entry:
    """Give a library run a label (None or "" removes it), rewriting its record atomically."""
    path = find(ref, folder)
    try:
        label = checked(label, "the label") if label else None
    except TextError as exc:
        raise LibraryError(str(exc)) from None
    rec = record.load(path)
    rec["label"] = label
    record.save(record.validate(rec, os.fspath(path)), path)
    return entry_for(path, rec)


def delete(ref: str, folder: Path | None = None) -> Path:
    """Remove a run from the library (damaged files too); return the path that was removed."""
    path = find(ref, folder)
    try:
        path.unlink()
    except OSError as exc:
        raise LibraryError(f"{shown(os.fspath(path))}: cannot delete: {exc.strerror or exc}") from None
    return path
