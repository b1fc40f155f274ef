"""The run library: every run's record in the user's data folder, listed, labelled and deleted by ID."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import secrets
import stat
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from ..errors import NetmemError
from ..records import record
from ..records.files import write_user_file
from ..reports.tables import target_text
from ..reports.verdict import recorded_verdict
from ..text import TextError, checked, shown
from . import journal

ENV_DATA_DIR = "NETMEM_DATA_DIR"
SUFFIX = ".json"
# Beside the records: each file's list entry, keyed by its name, size, modification time and inode, so that a list
# reads only the records that changed since the last one. A dot file: never taken for a record.
INDEX_NAME = ".index.json"
INDEX_FORMAT = "netmem.library-index/1"
_SAFE = re.compile(r"[^A-Za-z0-9_-]+")


class LibraryError(NetmemError, ValueError):
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
    target: str | None = None  # what the run measured, in a few words (tables.target_text): 'redis-server attached'
    counts: dict[str, int | None] = field(default_factory=dict)
    peak_rss_bytes: int | None = None
    verdict: str | None = None
    verdict_source: str | None = None
    completed: bool | None = None
    damaged: str | None = None
    interrupted: bool = False  # the process running it was killed; recovered from its journal
    running: bool = False  # a journal whose writer is still running: a run in progress
    duration_s: float | None = None  # how far the run got: its last sample (seconds since it began)
    # An interrupted run recovered from its journal whose record could not be written (a full disk): why. The run
    # is whole in its journal, which stays until a list can save it: not a damaged file.
    unsaved: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["path"] = os.fspath(self.path)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Entry:
        """The entry to_dict gave."""
        return cls(**{**data, "path": Path(data["path"])})

    @property
    def state(self) -> str:
        """What became of the run, in a word: completed, stopped, interrupted, running or damaged."""
        if self.damaged:
            return "damaged"
        if self.running:
            return "running"
        if self.interrupted:
            return "interrupted"
        return "completed" if self.completed else "stopped"

    def state_text(self) -> str:
        """The state as the list shows it, with how far an interrupted run got ("interrupted at 12.3 s")."""
        if self.state == "interrupted" and self.duration_s is not None:
            text = f"interrupted at {self.duration_s:,.1f} s"
            return text + (f", not saved yet: {self.unsaved}" if self.unsaved else "")
        return self.state


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


def _make_folder(folder: Path) -> None:
    check_folder(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        problem = exc.strerror or exc
        raise LibraryError(f"{shown(os.fspath(folder))}: cannot create the run library: {problem}") from None


def _fresh_id(rec: record.Record, folder: Path) -> str:
    while True:
        rid = run_id(rec)
        # 24 random bits per second of start time: a clash is rare, but never overwrite (a record or a journal)
        if not (folder / (rid + SUFFIX)).exists() and not (folder / (rid + journal.SUFFIX)).exists():
            return rid


def save_run(rec: record.Record, folder: Path | None = None, journal_of: journal.Journal | None = None) -> Entry:
    """Save a finished or stopped run's record into the library (atomically); return its entry.

    With the run's journal (`start_journal`), the record takes the journal's ID and then replaces it.
    """
    folder = library_dir() if folder is None else folder
    _make_folder(folder)
    rid = journal_of.path.stem if journal_of is not None else _fresh_id(rec, folder)
    path = folder / (rid + SUFFIX)
    record.save(rec, path)
    if journal_of is not None:
        journal_of.remove()
    return _remember(entry_for(path, rec))


def start_journal(run: Any, folder: Path | None = None) -> journal.Journal:
    """Start journaling `run` (a runs.run.Run, not started yet) into the library under a fresh ID; set as
    `run.journal`, which execute() flushes about every second. save_run(..., journal_of=...) ends it."""
    folder = library_dir() if folder is None else folder
    _make_folder(folder)
    rid = _fresh_id({"started_at": journal.timestamp(run.started_at), "config": {"scenario": run.config.scenario}},
                    folder)
    try:
        run.journal = journal.Journal(run, folder / (rid + journal.SUFFIX))
    except OSError as exc:
        problem = exc.strerror or exc
        raise LibraryError(f"{shown(os.fspath(folder))}: cannot start the run's journal: {problem}") from None
    return run.journal


def entry_for(path: Path, rec: record.Record) -> Entry:
    """The list entry of a valid record stored at `path`."""
    figures = rec.get("scenarios", {})
    verdict, source = recorded_verdict(rec)
    return Entry(
        id=path.stem,
        path=path,
        started_at=rec.get("started_at"),
        label=rec.get("label"),
        scenario=rec["config"].get("scenario"),
        host=rec["config"].get("host"),
        target=target_text(rec["config"], rec.get("target")),
        counts={
            "connections": figures.get("connections", {}).get("connections_created"),
            "messages": figures.get("messages", {}).get("messages_echoed"),
            "cycles": figures.get("stability", {}).get("cycles_ok"),
        },
        peak_rss_bytes=rec["summary"].get("peak_rss_bytes"),
        verdict=verdict,
        verdict_source=source,
        completed=rec.get("completed"),
        interrupted=bool(rec.get("interrupted")),
        duration_s=_last(rec.get("samples", {}).get("t_s")),
    )


def _last(values: list[float] | None) -> float | None:
    return float(values[-1]) if values else None


def _files(folder: Path, suffixes: tuple[str, ...] = (SUFFIX, journal.SUFFIX)) -> list[Path]:
    check_folder(folder)
    if not folder.is_dir():
        return []
    # Dot files are the writer's temporary files and the index (or the user's own); they are never runs.
    return [p for p in folder.iterdir() if p.suffix in suffixes and not p.name.startswith(".")]


def _regular(paths: list[Path]) -> tuple[list[Path], list[tuple[Path, str]]]:
    """The regular files among `paths`, and why each other one is no run. Nothing is opened: opening a FIFO waits
    for a writer forever, and a link to /dev/zero never ends."""
    regular, odd = [], []
    for path in paths:
        try:
            mode = path.stat().st_mode
        except OSError as exc:
            odd.append((path, f"cannot read: {exc.strerror or exc}"))
            continue
        if stat.S_ISREG(mode):
            regular.append(path)
        else:
            kind = "a folder" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode) else "a device or socket"
            odd.append((path, f"is {kind}, not a file: netmem keeps runs in regular files"))
    return regular, odd


def _reason(exc: Exception, path: Path) -> str:
    # The reason without the path: the entry carries the path already.
    return str(exc).removeprefix(shown(os.fspath(path)) + ": ").removeprefix(os.fspath(path) + ": ")


def _load_entry(path: Path) -> Entry:
    try:
        return entry_for(path, record.load(path))
    except record.RecordError as exc:
        return Entry(id=path.stem, path=path, damaged=_reason(exc, path))


def _journal_entry(path: Path) -> Entry | None:
    """The entry of a journal: a run in progress, or (its writer gone) an interrupted run, recovered into a record
    beside it; None when the journal was left over next to its run's final record (it is removed)."""
    final = path.with_suffix(SUFFIX)
    try:
        head = journal.header(path)
    except journal.JournalError as exc:
        head = None
        reason = _reason(exc, path)
    if head is not None and journal.writer_alive(head):
        return Entry(id=path.stem, path=path, started_at=head.get("started_at"), label=head.get("label"),
                     scenario=(head.get("config") or {}).get("scenario"), host=(head.get("config") or {}).get("host"),
                     running=True)
    if final.exists():
        path.unlink(missing_ok=True)  # the process died after saving the final record, before removing this
        return None
    if head is not None:
        try:
            rec = journal.recover(path)
        except (journal.JournalError, record.RecordError) as exc:
            reason = _reason(exc, path)
        else:
            try:
                record.save(rec, final)
            except (record.RecordError, OSError) as exc:
                return replace(entry_for(path, rec), interrupted=True, unsaved=_reason(exc, final))
            else:
                path.unlink(missing_ok=True)
                return entry_for(final, rec)
    return Entry(id=path.stem, path=path, damaged=reason, interrupted=True)


def list_runs(folder: Path | None = None) -> list[Entry]:
    """Every run in the library, newest first: records, runs in progress, and interrupted runs (recovered from their
    journals into records now); a file that isn't a valid record is an entry with `damaged` set.

    Each record is read only when it changed since the last list (the index beside the records says); an index
    that is missing, unreadable or of another version is rebuilt, one that is stale is brought up to date.
    """
    folder = library_dir() if folder is None else folder
    files, odd = _regular(_files(folder))
    entries = [Entry(id=p.stem, path=p, damaged=why) for p, why in odd]
    entries += [e for p in files if p.suffix == journal.SUFFIX and (e := _journal_entry(p)) is not None]
    recovered = {e.id for e in entries if not e.running and not e.damaged}
    index = _read_index(folder)
    fresh: dict[str, Any] = {}
    for path in files:
        if path.suffix != SUFFIX or path.stem in recovered:
            continue
        try:
            info = path.stat()
        except OSError:
            continue  # deleted since the folder was read
        key = _key(info)
        cached = index.get(path.name)
        hit = isinstance(cached, dict) and cached.get("key") == key
        entry = _from_index(path, cached.get("entry")) if hit else None
        if entry is None:
            entry = _load_entry(path)
            cached = {"key": key, "entry": _to_index(entry)}
        fresh[path.name] = cached  # as read: turning 2,000 entries back into dicts was half of a list's time
        entries.append(entry)
    for entry in entries:
        if entry.id in recovered:
            info = entry.path.stat()
            fresh[entry.path.name] = {"key": _key(info), "entry": _to_index(entry)}
    if fresh != index:
        _write_index(folder, fresh)
    # IDs begin with the UTC start time, so sorting by ID is sorting by date, damaged files included.
    return sorted(entries, key=lambda e: e.id, reverse=True)


_ENTRY_FIELDS = {f.name for f in fields(Entry)} - {"id", "path"}


def _key(info: os.stat_result) -> list[int]:
    """What says a record file is the one the index read: a rewrite changes its size, time or inode."""
    return [info.st_size, info.st_mtime_ns, info.st_ino]


def _remember(entry: Entry) -> Entry:
    """Put a record netmem has just written into the library's index, so that the next list doesn't read it
    again: that is the one read a list would otherwise make of it, and a million-sample record takes a second."""
    try:
        key = _key(entry.path.stat())
    except OSError:
        return entry
    index = _read_index(entry.path.parent)
    index[entry.path.name] = {"key": key, "entry": _to_index(entry)}
    _write_index(entry.path.parent, index)
    return entry


def _to_index(entry: Entry) -> dict[str, Any]:
    return {k: v for k, v in asdict(entry).items() if k in _ENTRY_FIELDS}


def _from_index(path: Path, data: Any) -> Entry | None:
    if not isinstance(data, dict) or set(data) != _ENTRY_FIELDS:
        return None  # written by another version of netmem: read the record again
    try:
        return Entry(id=path.stem, path=path, **data)
    except TypeError:
        return None


def _read_index(folder: Path) -> dict[str, Any]:
    """The index's entries by file name; {} when there is none or it can't be used (it is rebuilt then)."""
    try:
        data = json.loads((folder / INDEX_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("format") != INDEX_FORMAT or not isinstance(data.get("files"), dict):
        return {}
    return data["files"]


def _write_index(folder: Path, files: dict[str, Any]) -> None:
    # Only a cache: a library that can't be written (read-only, full) is still listed, just not faster next time.
    try:
        write_user_file(folder / INDEX_NAME, json.dumps({"format": INDEX_FORMAT, "files": files}), LibraryError)
    except LibraryError:
        pass


def find(ref: str, folder: Path | None = None) -> Path:
    """The library file an ID names: the whole ID, its short random part, or a unique beginning of it."""
    folder = library_dir() if folder is None else folder
    files = _files(folder)
    # An interrupted run's journal and its recovered record share an ID: the record is the run.
    records = {p.stem for p in files if p.suffix == SUFFIX}
    files = [p for p in files if p.suffix == SUFFIX or p.stem not in records]
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


def load(path: Path) -> record.Record:
    """The record at a library path: a record file, or the journal of an interrupted run a full disk kept from
    being saved (recovered again, in memory)."""
    if path.suffix == journal.SUFFIX:
        try:
            return journal.recover(path)
        except journal.JournalError as exc:
            raise record.RecordError(str(exc)) from None
    return record.load(path)


def resolve(ref: str, folder: Path | None = None) -> Path:
    """A path to a record: `ref` itself when it is an existing file or looks like a path, else a library ID."""
    path = Path(ref)
    if path.exists() or os.sep in ref or ref.endswith(SUFFIX):
        return path
    return find(ref, folder)


def checked_label(label: str | None) -> str | None:
    """The label a record gets: None for none or "", else `label` if it is valid text (LibraryError if not)."""
    try:
        return checked(label, "the label") if label else None
    except TextError as exc:
        raise LibraryError(str(exc)) from None


def set_label(ref: str, label: str | None, folder: Path | None = None) -> Entry:
    """Give a library run a label (None or "" removes it), rewriting its record atomically."""
    path = find(ref, folder)
    label = checked_label(label)
    rec = record.load(path)
    rec["label"] = label
    record.save(record.validate(rec, os.fspath(path)), path)
    return _remember(entry_for(path, rec))


def delete(ref: str, folder: Path | None = None) -> Path:
    """Remove a run from the library (damaged files too); return the path that was removed."""
    path = find(ref, folder)
    try:
        path.unlink()
    except OSError as exc:
        raise LibraryError(f"{shown(os.fspath(path))}: cannot delete: {exc.strerror or exc}") from None
    return path
