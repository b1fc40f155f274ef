"""A run's lifecycle, the same for every view: check and prepare it, then finish it (record, file, library, status).

`netmem run`, the desktop app and its scripted mode all go through `prepare` before a run and `finish` after it,
so a run ends the same way wherever it was started.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..config import RunConfig
from ..exits import Exit
from ..load.userserver import app_dir_of, load
from ..load.workload import check_port
from ..measuring import locust, prometheus
from ..records import record
from ..reports import analysis
from ..reports.verdict import names_a_leak, recorded_verdict
from ..runs import library
from ..runs.run import Run
from ..targets.external import check_target
from . import stopping
from .limits import check_fd_limit


def prepare(config: RunConfig, outputs: Iterable[str | os.PathLike[str]] = (), keep: bool = False) -> RunConfig:
    """Every check that can fail before a run starts; raises a NetmemError (one line). `outputs`: files to be written;
    `keep`: the run goes to the run library, which must then be a folder (or not exist yet)."""
    config.validate()
    if config.server:
        # Imported and classified now, in this process, so that bad input is one line before anything starts;
        # the server process imports it again. A fresh import each time: the app sees edits between runs.
        load(config.server, config.app_dir, fresh=True)
        config = dataclasses.replace(config, app_dir=app_dir_of(config.app_dir))
    check_fd_limit(config)
    check_port(config.port)
    check_target(config)
    for path in outputs:
        record.check_writable(path)
    if keep:
        library.check_folder(library.library_dir())
    if config.prometheus_url is not None:  # it answers Prometheus's API, each query has a series: else one line
        prometheus.check_source(config.prometheus_url, config.memory_query or "", config.connections_query)
    if config.locust_url is not None:
        # This machine's (any, under --prometheus), answering, and Locust's: else one line, no run.
        locust.check_master(config.locust_url, remote=config.prometheus_url is not None)
    return config


@dataclass
class Outcome:
    """How a run ended, once finished: its record, where it was kept, and the exit status it gives."""

    record: record.Record
    status: Exit
    notes: list[str] = field(default_factory=list)  # what was kept, for the user ("Run record written to ...")
    problems: list[str] = field(default_factory=list)  # one line each: what could not be kept or written
    verdict: str | None = None  # one line: why the status is not OK (None when it is)
    library_id: str | None = None


def begin(run: Run, keep: bool = True) -> str | None:
    """Before the run starts: when it is to be kept, journal it into the run library as it goes (core.journal),
    so that a killed process leaves an interrupted run there. None, or why there is no journal (the run goes on)."""
    if not keep:
        return None
    try:
        library.start_journal(run)
    except (library.LibraryError, OSError) as exc:
        return f"warning: the run is not journaled (a crash would lose it): {_reason(exc)}"
    return None


def abandon(run: Run) -> None:
    """The run never began (its target could not start, say): drop its journal, so no empty run is kept."""
    if run.journal is not None:
        run.journal.remove()


def finish(run: Run, json_path: str | os.PathLike[str] | None = None, keep: bool = True,
           fail_on_leak: bool = False, stopped_by: int | None = None) -> Outcome:
    """Make the run's record, keep it in the run library (`keep`), write it to `json_path`, and judge the status.
    `stopped_by`: the signal that stopped the run (see core.stopping), which sets the status (130, 143).

    The library comes first: a record file that can't be written (a full disk, a folder removed meanwhile) must
    not cost the run itself; it makes the status Exit.USAGE, with the path named.
    """
    rec = run.record()
    outcome = Outcome(record=rec, status=Exit.OK)
    if keep:
        try:
            entry = library.save_run(rec, journal_of=run.journal)
        except (library.LibraryError, OSError, ValueError) as exc:
            outcome.problems.append(f"the run was not saved to the run library: {_reason(exc)}")
        else:
            outcome.library_id = entry.id
            outcome.notes.append(f"Run saved to the library as {entry.id} ({entry.path})")
    elif run.journal is not None:
        run.journal.remove()
    wrote = True
    if json_path is not None:
        try:
            record.save(rec, json_path)
        except record.RecordError as exc:  # the one writer's error: the path and the reason in one line
            wrote = False
            kept = " (the run is in the run library)" if outcome.library_id else ""
            outcome.problems.append(f"error: the run record could not be written: {exc}{kept}")
        else:
            outcome.notes.append(f"Run record written to {os.fspath(json_path)}")
    if stopped_by is not None and not (run.completed and run.config.scenario == "observe"):  # Ctrl-C ends observe
        outcome.status = Exit(stopping.exit_status(stopped_by))
        how = "interrupted" if outcome.status == Exit.INTERRUPTED else f"stopped by {stopping.signal_name(stopped_by)}"
        outcome.verdict = f"{how}; the partial run was kept"
    elif not run.completed:
        outcome.status, outcome.verdict = Exit.FAILED, f"the run failed: {run.stop_reason}"
    elif failed := [why for name, fig in (rec.get("scenarios") or {}).items()
                    if (why := analysis.nothing_succeeded(name, fig)) is not None]:
        outcome.status, outcome.verdict = Exit.FAILED, f"the run failed: {'; '.join(failed)}"
    elif not wrote:
        outcome.status = Exit.USAGE
    elif keep and outcome.library_id is None and json_path is None:
        # Asked to keep it, and it is kept nowhere (a full disk, a read-only library): a CI job must not pass.
        outcome.status, outcome.verdict = Exit.FAILED, "the run was kept nowhere (not in the run library, no --json)"
    elif fail_on_leak and names_a_leak(recorded_verdict(rec)[0]):
        outcome.status, outcome.verdict = Exit.LEAK, "leak verdict: POSSIBLE LEAK"
    return outcome


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
