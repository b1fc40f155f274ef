"""The `netmem` command line: run a scenario headless, print the report, write the run record."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from typing import Any, NoReturn, TextIO

from . import __version__, cli_library
from .core import record, report
from .core.config import HOSTS, SCENARIOS, ConfigError, RunConfig
from .core.limits import check_fd_limit
from .core.run import Run, execute
from .core.workload import WorkloadError, check_port

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_LEAK, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


class OneLineErrorParser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line (no usage dump), with exit status 2."""

    def error(self, message: str) -> NoReturn:
        # One line, no usage dump: the user sees what was wrong and `--help` is one command away.
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """The options of `netmem run`, shared with the GUI's scripted mode."""
    parser.add_argument("--connections", type=int, metavar="N",
                        help="connections to open (connections scenario, default 200) or to send over"
                             " (messages scenario, default 1)")
    parser.add_argument("--messages", type=int, default=10_000, metavar="N",
                        help="messages to send in the messages scenario (default 10000)")
    parser.add_argument("--message-size", type=int, default=1024, metavar="BYTES",
                        help="bytes per message (default 1024)")
    parser.add_argument("--duration", type=float, default=10.0, metavar="SECONDS",
                        help="length of the stability scenario (default 10)")
    parser.add_argument("--host", choices=HOSTS, default="isolated",
                        help="isolated: measure the echo server alone in a child process (default);"
                             " inapp: run everything in this process and measure it")
    parser.add_argument("--interval", type=int, default=100, metavar="MS",
                        help="sampling interval in milliseconds, 10 or more (default 100)")
    parser.add_argument("--port", type=int, default=0, help="server port on 127.0.0.1 (default: any free port)")
    parser.add_argument("--label", help="a name for the run, kept in the record")
    parser.add_argument("--rounds", type=int, default=1, metavar="N",
                        help="connections scenario: repeat open-all/close-all N times (default 1); with 15 or"
                             " more rounds the run gets a leak verdict from the memory after each round")
    parser.add_argument("--inject-leak", type=int, default=0, metavar="BYTES",
                        help="ground truth for the leak verdict: the server keeps BYTES in live Python objects"
                             " for every connection it accepts (default 0)")
    parser.add_argument("--trace-allocations", action="store_true",
                        help="run tracemalloc in the server's process: traced bytes per cycle join the verdict"
                             " and the sites that grew most are listed (slower)")


def config_from_args(args: argparse.Namespace) -> RunConfig:
    return RunConfig(
        scenario=args.scenario, connections=args.connections, messages=args.messages,
        message_size=args.message_size, duration_s=args.duration, host=args.host,
        interval_ms=args.interval, port=args.port, rounds=args.rounds, inject_leak_bytes=args.inject_leak,
        trace_allocations=args.trace_allocations,
    ).validate()


def prepare(config: RunConfig, json_path: str | None) -> None:
    """Every check that can fail before a run starts (ConfigError, RecordError or WorkloadError)."""
    check_fd_limit(config)
    check_port(config.port)
    if json_path:
        record.check_writable(json_path)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(prog="netmem", description="Memory profiler for network workloads.")
    parser.add_argument("--version", action="version", version=f"netmem {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=OneLineErrorParser)
    run = commands.add_parser("run", help="run a scenario and report the memory it used")
    run.add_argument("scenario", choices=SCENARIOS)
    add_run_options(run)
    run.add_argument("--json", metavar="PATH", help="write the run record (JSON) to PATH")
    run.add_argument("--no-save", action="store_true", help="don't save the run in the run library")
    run.add_argument("--fail-on-leak", action="store_true",
                     help=f"exit with status {EXIT_LEAK} when the leak verdict is POSSIBLE LEAK")
    commands.add_parser("schema", help="print the JSON Schema of the run record")
    cli_library.add_commands(commands)
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


async def _run_until_done(run: Run) -> bool:
    """Execute the run; Ctrl-C stops it cleanly. Returns True if Ctrl-C was pressed."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    interrupted = False

    def on_sigint(signum: int, frame: Any) -> None:
        nonlocal interrupted
        interrupted = True
        loop.call_soon_threadsafe(stop.set)

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        await execute(run, stop)
    finally:
        signal.signal(signal.SIGINT, previous)
    return interrupted


def cmd_run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    prepare(config, args.json)
    run = Run(config, label=args.label)
    progress = _Progress(run, sys.stderr)
    interrupted = asyncio.run(_run_until_done(run))
    progress.clear()
    rec = run.record()
    print(report.render(rec))
    if args.json:
        record.save(rec, args.json)
        print(f"Run record written to {args.json}")
    if not args.no_save:
        cli_library.save_to_library(rec)
    if interrupted:
        print("netmem: interrupted; the partial run was kept", file=sys.stderr)
        return EXIT_INTERRUPTED
    if not run.completed:
        print(f"netmem: the run failed: {run.stop_reason}", file=sys.stderr)
        return EXIT_FAILED
    if args.fail_on_leak and rec["summary"]["leak_verdict"]["verdict"] == "POSSIBLE LEAK":
        print("netmem: leak verdict: POSSIBLE LEAK", file=sys.stderr)
        return EXIT_LEAK
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    from .core.worker import WORKER_FLAG
    from .core.worker import main as worker_main

    if argv[:1] == [WORKER_FLAG]:
        return worker_main(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        if args.command == "schema":
            sys.stdout.write(record.schema_text())
            return EXIT_OK
        status = cli_library.dispatch(args)
        if status is not None:
            return status
        return cmd_run(args)
    except (ConfigError, record.RecordError, WorkloadError) as exc:
        print(f"netmem: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"netmem: error: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
