"""What a `netmem` command is (Command), and the `runs`, `compare` and `check` commands."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .core import text
from .core.exits import Exit
from .core.records import record
from .core.reports import tables
from .core.runs import library

FORMATS = ("text", "markdown", "json")


@dataclass(frozen=True)
class Command:
    """One `netmem` command: its name and help, the arguments it takes, and what it does (its exit status).

    Bad input raises a NetmemError, which `netmem`'s main turns into one line and that error's status.
    """

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    description: str | None = None

    def add_to(self, commands: Any) -> argparse.ArgumentParser:
        parser = commands.add_parser(self.name, help=self.help, description=self.description)
        self.add_arguments(parser)
        parser.set_defaults(handler=self)
        return parser


def _runs_arguments(runs: argparse.ArgumentParser) -> None:
    runs.add_argument("--format", choices=("text", "json"), default="text")
    actions = runs.add_subparsers(dest="runs_action", metavar="ACTION", parser_class=type(runs))
    label = actions.add_parser("label", help="give a run a label (an empty TEXT removes it)")
    label.add_argument("id", metavar="ID")
    label.add_argument("text", metavar="TEXT", type=text.label_argument)
    delete = actions.add_parser("delete", help="delete a run from the library")
    delete.add_argument("id", metavar="ID")
    delete.add_argument("--yes", action="store_true", help="don't ask first")


def _compare_arguments(cmp: argparse.ArgumentParser) -> None:
    cmp.add_argument("base", metavar="BASE", help="the base run: a record file or a library ID")
    cmp.add_argument("new", metavar="NEW", nargs="+", help="the run(s) to compare with it")
    # No default here: it is compare.DEFAULT_THRESHOLD_PERCENT, taken when the command runs (cmd_compare).
    cmp.add_argument("--threshold", type=float, metavar="PCT",
                     help="growth of a gated figure that counts as a regression, in %% (default 10)")
    cmp.add_argument("--format", choices=FORMATS, default="text")


def _check_arguments(chk: argparse.ArgumentParser) -> None:
    chk.add_argument("run", metavar="RUN", help="a record file or a library ID")
    chk.add_argument("--expect", required=True, metavar="FILE", help="the expectations file (TOML)")
    chk.add_argument("--format", choices=FORMATS, default="text")


def load(ref: str) -> record.Record:
    return library.load(library.resolve(ref))


def cmd_compare(args: argparse.Namespace) -> int:
    from .core.reports import compare  # here: numpy and jsonschema cost `netmem runs` more than listing 2,000 runs does

    threshold = compare.check_threshold(
        compare.DEFAULT_THRESHOLD_PERCENT if args.threshold is None else args.threshold)
    refs = [args.base, *args.new]
    result = compare.compare([load(r) for r in refs], refs, threshold)
    print(compare.render(result, args.format))
    return Exit.REGRESSED if result.regressed else Exit.OK


def cmd_check(args: argparse.Namespace) -> int:
    from .core.reports import expectations

    doc = expectations.load(args.expect)
    rec = load(args.run)
    result = expectations.check(rec, doc, args.run, args.expect)
    print(expectations.render(result, args.format))
    return Exit.REGRESSED if result.breached else Exit.OK


def _entry_row(e: library.Entry) -> list[str]:
    date = (e.started_at or "")[:19].replace("T", " ")
    counts = "/".join("-" if e.counts.get(k) is None else f"{e.counts[k]:,}"
                      for k in ("connections", "messages", "cycles"))
    return [e.id, date, e.label or "", f"{e.scenario} {'' if e.completed else f'({e.state_text()})'}".strip(),
            e.target or "", e.host or "", e.verdict or "n/a", counts, tables.size(e.peak_rss_bytes)]


def cmd_runs(args: argparse.Namespace) -> int:
    if args.runs_action == "label":
        entry = library.set_label(args.id, args.text)
        print(text.shown(f"{entry.id}: label {'set to ' + repr(entry.label) if entry.label else 'removed'}"))
        return Exit.OK
    if args.runs_action == "delete":
        path = library.find(args.id)
        if not args.yes:
            if not sys.stdin.isatty():
                raise library.LibraryError(f"{path.stem}: deleting needs --yes when there is no terminal to ask")
            try:
                answer = input(text.shown(f"Delete run {path.stem} ({path})? [y/N] "))
            except (EOFError, KeyboardInterrupt) as exc:
                print("\nNot deleted.")
                return Exit.INTERRUPTED if isinstance(exc, KeyboardInterrupt) else Exit.OK
            if answer.strip().lower() not in ("y", "yes"):
                print("Not deleted.")
                return Exit.OK
        library.delete(path.stem)
        print(text.shown(f"Deleted {path}"))
        return Exit.OK
    entries = library.list_runs()
    if args.format == "json":
        print(json.dumps({"library": str(library.library_dir()), "runs": [e.to_dict() for e in entries]}, indent=1))
        return Exit.OK
    good = [e for e in entries if not e.damaged]  # with the runs in progress and the interrupted ones
    damaged = [e for e in entries if e.damaged]
    print(f"Run library: {text.shown(library.library_dir())} ({len(good)} run{'s' if len(good) != 1 else ''}"
          + (f", {len(damaged)} damaged file{'s' if len(damaged) != 1 else ''})" if damaged else ")"))
    if good:
        header = ["ID", "date (UTC)", "label", "scenario", "measured", "host", "verdict", "conns/msgs/cycles",
                  "peak RSS"]
        print("\n".join(tables.text_table(header, [_entry_row(e) for e in good], align="lllllllrr")))
    for e in damaged:
        print(text.shown(f"DAMAGED {e.id}: {e.damaged}"))
    return Exit.OK


COMMANDS = (
    Command("runs", "list the run library (or label or delete a run in it)", _runs_arguments, cmd_runs),
    Command("compare", "compare runs; exit 1 when a gated figure regressed", _compare_arguments, cmd_compare),
    Command("check", "check a run against expected values; exit 1 on a breach", _check_arguments, cmd_check),
)
