"""The `netmem` command line: run a scenario headless, print the report, write the run record."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any, TextIO

from . import __version__, cli_library
from .cli_library import Command
from .core.children import WORKER_FLAG
from .core.config import SCENARIOS
from .core.errors import NetmemError
from .core.exits import Exit
from .core.options import SCENARIO_HELP, OneLineErrorParser, add_run_options, config_from_args
from .core.text import shown

# What only `netmem run` needs (asyncio, numpy, psutil, jsonschema, the hosts) is imported in cmd_run: the other
# commands and --version start in a third of the time without it (docs/long-runs.md).
if TYPE_CHECKING:
    from .core.running.stopping import StopSignals
    from .core.runs.run import Run


def _run_arguments(run: argparse.ArgumentParser) -> None:
    groups = add_run_options(run)
    groups["run"].add_argument("scenario", choices=SCENARIOS, help=SCENARIO_HELP)
    output = groups["output"]
    output.add_argument("--json", metavar="PATH", help="write the run record (JSON) to PATH")
    output.add_argument("--no-save", action="store_true", help="don't save the run in the run library")
    output.add_argument("--expect", metavar="FILE",
                        help="an expectations file (TOML, as for `netmem check`): its per-connection figure plus its"
                             " tolerance is the limit of the 'High per-connection memory' finding")
    output.add_argument("--fail-on-leak", action="store_true",
                        help=f"exit with status {Exit.LEAK.value} when the leak verdict is POSSIBLE LEAK")


def cmd_schema(args: argparse.Namespace) -> int:
    from .core.records import record

    sys.stdout.write(record.schema_text())
    return Exit.OK


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(prog="netmem", description="Memory profiler for network workloads.")
    parser.add_argument("--version", action="version", version=f"netmem {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=OneLineErrorParser)
    for command in COMMANDS:
        command.add_to(commands)
    return parser


class _Progress:
    """One self-rewriting status line on stderr, only when stderr is a terminal."""

    def __init__(self, run: Run, stream: TextIO) -> None:
        self._run = run
        self._stream = stream
        self._shown = False
        if stream.isatty():
            run.subscribe(self._on_event)

    def _on_event(self, event: dict[str, Any]) -> None:
        from .core.reports import report

        if event["type"] != "progress":
            return
        _, rss, _ = self._run.samples.view()
        now = f"RSS {report.mb(int(rss[-1]))}" if rss.size else ""
        line = f"{event['scenario']}: {event['done']:g}/{event['total']:g} {event['unit']}  {now}"
        self._stream.write("\r" + line[:79].ljust(79))
        self._stream.flush()
        self._shown = True

    def clear(self) -> None:
        if self._shown:
            self._stream.write("\r" + " " * 79 + "\r")
            self._stream.flush()


async def _run_until_done(run: Run, signals: StopSignals) -> None:
    """Execute the run; SIGINT or SIGTERM stops it cleanly (core.stopping)."""
    import asyncio

    from .core.running.execute import execute

    stop = asyncio.Event()
    signals.connect(stop.set)
    await execute(run, stop)


def cmd_run(args: argparse.Namespace) -> int:
    import asyncio

    from .core.reports import expectations, report
    from .core.running import lifecycle
    from .core.running.stopping import StopSignals
    from .core.runs.run import Run

    expected = expectations.load(args.expect) if args.expect else None
    config = lifecycle.prepare(config_from_args(args), [] if args.json is None else [args.json],
                               keep=not args.no_save)
    run = Run(config, label=args.label, expectations=expected, expectations_name=args.expect)
    problem = lifecycle.begin(run, keep=not args.no_save)
    if problem:
        print(f"netmem: {shown(problem)}", file=sys.stderr)
    progress = _Progress(run, sys.stderr)
    # The handlers stay until the run is kept and reported: a second signal meanwhile changes nothing.
    with StopSignals() as signals:
        try:
            asyncio.run(_run_until_done(run, signals))
        except NetmemError:  # the target could not be started: there was no run to keep
            lifecycle.abandon(run)
            raise
        progress.clear()
        outcome = lifecycle.finish(run, json_path=args.json, keep=not args.no_save, fail_on_leak=args.fail_on_leak,
                                   stopped_by=signals.received)
        print(report.render(outcome.record))
        for note in outcome.notes:
            print(shown(note))
        for problem in [*outcome.problems, *([outcome.verdict] if outcome.verdict else [])]:
            print(f"netmem: {shown(problem)}", file=sys.stderr)
    return outcome.status


COMMANDS = (
    Command("run", "run a scenario and report the memory it used", _run_arguments, cmd_run,
            description="Run a scenario against a server and report the memory it used."),
    Command("schema", "print the JSON Schema of the run record", lambda parser: None, cmd_schema),
    *cli_library.COMMANDS,
)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == [WORKER_FLAG]:
        from .core.running.roles import run_worker

        return run_worker(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        return args.handler.run(args)
    except NetmemError as exc:  # bad input, one line: the one place the command line turns it into a status
        print(f"netmem: error: {shown(exc)}", file=sys.stderr)
        return exc.status
    except OSError as exc:
        print(f"netmem: error: {shown(exc.strerror or exc)}", file=sys.stderr)
        return Exit.FAILED


if __name__ == "__main__":
    sys.exit(main())

