"""The run settings as one table: each RunConfig field's flag, label, help, unit and range, read by every view.

`netmem run`, the app's scripted mode (`netmem-gui --run`) and the app's settings form are all built from
`SETTINGS`, so adding a setting is one row here (and its RunConfig field), not an edit in each view.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from . import config as cfg
from .config import RunConfig
from .exits import Exit
from .text import label_argument

DEFAULTS = RunConfig()


@dataclass(frozen=True)
class Setting:
    """One run setting as people see it: on the command line and in the app's form."""

    field: str  # the RunConfig field it sets
    flag: str  # the command-line option
    label: str  # the form's label (with its & shortcut)
    help: str  # the command line's help and the form's tooltip
    kind: type  # int, float, bool, str
    group: str = "run"  # the form section: "run", "advanced" or "target"
    section: str = "run"  # the --help section: a key of SECTIONS
    choices: Sequence[str] = ()
    low: float | None = None
    high: float | None = None
    unit: str = ""  # shown after the value in the form ("bytes", "s", "ms")
    step: float = 1
    metavar: str | None = None
    none_text: str | None = None  # the form's text for "not set" (None; shown at the control's lowest value)
    form: bool = True  # shown in the app's form (some settings are for the command line only)
    scenarios: Sequence[str] = ()  # the scenarios it matters to (none listed: all of them)

    @property
    def default(self) -> Any:
        return getattr(DEFAULTS, self.field)


SETTINGS: tuple[Setting, ...] = (
    Setting("connections", "--connections", "&Connections", kind=int, low=1, high=cfg.MAX_CONNECTIONS, step=50,
            section="load", metavar="N", none_text="scenario default",
            scenarios=("connections", "messages", "backpressure"),
            help="connections to open (connections scenario, default 200) or to send over (messages scenario,"
                 " default 1; backpressure, default 4)"),
    Setting("messages", "--messages", "&Messages", kind=int, low=1, high=cfg.MAX_MESSAGES, step=1000, metavar="N",
            section="load", scenarios=("messages",),
            help="messages to send in the messages scenario; each counts only when its echo came back intact"
                 " (default 10000)"),
    Setting("message_size", "--message-size", "Message si&ze", kind=int, low=1, high=cfg.MAX_MESSAGE_SIZE,
            section="load",
            unit="bytes", metavar="BYTES", scenarios=("messages", "backpressure"),
            help="bytes per message (default 1024); in backpressure, per echo message or redis ECHO"),
    Setting("duration_s", "--duration", "&Duration", kind=float, low=0.1, high=cfg.MAX_DURATION_S, unit="s",
            section="load", metavar="SECONDS", scenarios=("stability", "observe", "backpressure"),
            help="how long the stability scenario runs its connect/send/close cycles, the observe scenario"
                 " watches, or the backpressure scenario sends (default 10)"),
    Setting("host", "--host", "&Host", kind=str, section="run", choices=cfg.HOSTS,
            help="isolated: the echo server runs in a child process and only it is measured (default);"
                 " inapp: everything runs in this process (on a loop in a thread of its own) and the whole"
                 " process is measured, the app's own drift included"),
    Setting("interval_ms", "--interval", "Sampling &interval", kind=int, section="sampling", low=cfg.MIN_INTERVAL_MS,
            high=cfg.MAX_INTERVAL_MS, unit="ms", step=10, metavar="MS",
            help="how often the measured process's memory is sampled, in milliseconds, 10 or more (default 100)"),
    Setting("port", "--port", "Port", kind=int, section="target", low=0, high=65535, metavar="PORT", form=False,
            help="the built-in echo server's port on 127.0.0.1 (default: any free port)"),
    Setting("server", "--server", "&Your server", kind=str, section="target", metavar="MODULE:ATTR",
            none_text="MODULE:ATTR (empty: the built-in echo server)",
            help="profile your own asyncio server instead of the built-in echo server: MODULE:ATTR names a streams"
                 " handler (async def handle(reader, writer)), an asyncio.Protocol subclass, or a factory taking no"
                 " arguments that returns one; netmem serves it in its server process (see docs/your-server.md)"),
    Setting("app_dir", "--app-dir", "App folder", kind=str, metavar="DIR", none_text="the current folder",
            section="target",
            help="the folder MODULE is imported from, put first on sys.path (default: the current folder)"),
    Setting("rounds", "--rounds", "R&ounds", kind=int, group="advanced", low=1, high=cfg.MAX_ROUNDS, unit="round(s)",
            section="load", metavar="N", scenarios=("connections",),
            help="connections scenario: repeat open-all/close-all N times (default 1); with 15 or more rounds the"
                 " run gets a leak verdict from the memory after each round"),
    Setting("inject_leak_bytes", "--inject-leak", "Inject &leak", kind=int, section="load", group="advanced", low=0,
            high=cfg.MAX_INJECT_LEAK_BYTES, unit="bytes/connection", step=1024, metavar="BYTES", none_text="off",
            help="ground truth for the leak verdict: the server keeps BYTES in live Python objects for every"
                 " connection it accepts, to see what a leak looks like (default 0: off)"),
    Setting("trace_allocations", "--trace-allocations", "Trace allocations (slower)", kind=bool, group="advanced",
            section="sampling",
            help="run tracemalloc in the server's process: traced bytes per cycle join the leak verdict and the"
                 " allocation sites that grew most are listed (slows the workload); with --spawn, run the command"
                 " under heaptrack: the sites still allocated at its exit, per cycle (docs/native.md)"),
    Setting("read_rate", "--read-rate", "&Read rate", kind=int, section="load", group="advanced", low=0,
            high=cfg.MAX_READ_RATE, unit="bytes/s", step=1024, metavar="BYTES_PER_S", none_text="never",
            scenarios=("backpressure",),
            help="backpressure scenario: how fast each client reads the server's replies, in bytes per second"
                 " (default 0: never)"),
    Setting("send_limit_mb", "--send-limit", "Send limit", kind=int, section="load", group="advanced", low=1,
            high=cfg.MAX_SEND_LIMIT_MB, unit="MB", metavar="MB", scenarios=("backpressure",),
            help="backpressure scenario: the most its clients send in all, in MB (default 64); a server that"
                 " keeps what it can't send grows by about as much"),
    Setting("load_loop", "--load-loop", "Load loop", kind=str, section="load", group="advanced",
            choices=cfg.LOAD_LOOPS,
            help="the event loop of the isolated host's load process: auto (default: uvloop where it is installed,"
                 " pip install 'netmem[fast]'), asyncio or uvloop; the record says which ran (docs/scale.md)"),
    Setting("locust_url", "--locust", "&Locust master", kind=str, section="load", group="advanced", metavar="URL",
            help="the web UI address of a Locust master on this machine (http://127.0.0.1:8089; with --prometheus,"
                 " any machine's): its users, requests per second and failures are polled at the sampling interval"
                 " and memory is read against them (docs/locust.md)"),
    Setting("until_locust_stops", "--until-locust-stops", "End when the Locust test stops", kind=bool, section="load",
            group="advanced", help="with --locust: the run ends when the Locust test stops (or its master goes away)"),
    # The target (docs/targets.md): netmem's built-in echo server unless --attach or --spawn says otherwise.
    Setting("attach_pid", "--attach", "&Process (PID)", kind=int, group="target", low=1, high=2**31 - 1,
            section="target", metavar="PID", none_text="none",
            help="measure this running server by PID (netmem never stops it); needs --address"),
    Setting("address", "--address", "Add&ress", kind=str, section="target", group="target", metavar="HOST:PORT",
            help="where the target listens: 127.0.0.1, ::1 or one of this machine's own addresses, and the port"),
    Setting("spawn", "--spawn", "Comma&nd", kind=str, section="target", group="target", metavar="COMMAND",
            help="start COMMAND, measure it, and stop it at the end (its whole process tree); {port} in it"
                 " becomes a free port netmem picks"),
    Setting("start_timeout_s", "--start-timeout", "Start timeout", kind=float, group="target", low=0.1,
            section="target", high=cfg.MAX_START_TIMEOUT_S, unit="s", metavar="SECONDS",
            help="how long a --spawn command has to start listening (default 10)"),
    Setting("protocol", "--protocol", "Pro&tocol", kind=str, section="load", group="target", choices=cfg.PROTOCOLS,
            help="what the clients say to a server of yours: echo (default), redis (PING on connect, ECHO"
                 " messages), http (keep-alive GET of --path) or idle (connect and send nothing)"),
    Setting("path", "--path", "Path", kind=str, section="load", group="target", metavar="PATH",
            help="the path the http protocol GETs (default /)"),
    Setting("include_children", "--include-children", "Include child processes", kind=bool, group="target",
            section="sampling",
            help="sum the memory of the target's child processes too (pre-fork servers such as nginx"
                             " or gunicorn), with a per-process breakdown"),
    Setting("memory", "--memory", "Memory", kind=str, section="sampling", group="target", choices=cfg.MEMORY_KINDS,
            help="rss (default), or uss: the unique set size, which does not count pages shared between forked"
                 " workers twice (slower to read)"),
    # A server on another machine, read through Prometheus (docs/remote.md); the app's Target section has its panel.
    Setting("prometheus_url", "--prometheus", "Prometheus &URL", kind=str, section="target", group="target",
            metavar="URL", none_text="http://HOST:9090",
            help="observe a server through Prometheus at URL (http://HOST:9090) instead of by PID: memory from"
                 " --memory-query, read no more often than Prometheus scrapes; a bearer token comes from the"
                 " NETMEM_PROMETHEUS_TOKEN environment variable (docs/remote.md)"),
    Setting("memory_query", "--memory-query", "Memory &query", kind=str, section="target", group="target",
            metavar="PROMQL", none_text="PromQL: bytes, its series summed",
            help="with --prometheus: the PromQL whose series, summed, are the server's memory in bytes (such as"
                 " process_resident_memory_bytes{job=\"redis\"})"),
    Setting("connections_query", "--connections-query", "Connections query", kind=str, section="target",
            group="target", metavar="PROMQL", none_text="optional PromQL: open connections",
            help="with --prometheus: the PromQL whose series, summed, are the server's open connections"),
)
# `netmem run --help` in this order, one section each (SETTINGS' `section`; the command line adds its output options).
SECTIONS: dict[str, tuple[str, str]] = {
    "run": ("what to run", "the scenario, and where its workload runs"),
    "target": ("the target", "the server measured: the built-in echo server unless one of these says otherwise"
                             " (docs/targets.md)"),
    "load": ("load", "how much each scenario does, and what its clients say"),
    "sampling": ("sampling", "what is read of the measured process, and how often"),
    "output": ("output and gates", "where the run is kept, and when the exit status fails a CI job"),
}
LABEL_HELP = "a name for the run, kept in its record and shown in the run list"
SCENARIO_HELP = ("what to run: connections (open N connections, measure what each takes), messages (echo M messages"
                 " and check each), stability (connect/send/close cycles for D seconds, to see drift), all"
                 " three in turn, or observe (no load: watch a server of yours for D seconds or until Ctrl-C and"
                 " fit memory against the connections others make), or backpressure (clients send as fast as the"
                 " server takes it and read slowly or never: does its memory follow what it can't send?)")


class OneLineErrorParser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line (no usage dump), with exit status 2."""

    def error(self, message: str) -> NoReturn:
        # One line, no usage dump: the user sees what was wrong and `--help` is one command away.
        self.exit(Exit.USAGE, f"{self.prog}: error: {message}\n")


def add_run_options(parser: argparse.ArgumentParser) -> dict[str, Any]:
    """The options of a run (`netmem run` and `netmem-gui --run`), one per row of SETTINGS, and --label, in the
    help sections of SECTIONS; returns those argument groups by key, for the caller's own options."""
    groups = {key: parser.add_argument_group(title, description) for key, (title, description) in SECTIONS.items()}
    for s in SETTINGS:
        group = groups[s.section]
        if s.kind is bool:
            group.add_argument(s.flag, dest=s.field, action="store_true", help=s.help)
        elif s.choices:
            group.add_argument(s.flag, dest=s.field, choices=s.choices, default=s.default, help=s.help)
        else:
            group.add_argument(s.flag, dest=s.field, type=s.kind, default=s.default, metavar=s.metavar,
                               help=s.help)
    groups["output"].add_argument("--label", type=label_argument, help=LABEL_HELP)
    return groups


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """The RunConfig that parsed options describe (ConfigError if it can't be run)."""
    fields = {s.field: getattr(args, s.field) for s in SETTINGS}
    return RunConfig(scenario=args.scenario, **fields).validate()


def matters(setting: Setting, scenario: str) -> bool:
    """Whether `setting` changes what a run of `scenario` does."""
    return not setting.scenarios or bool(set(setting.scenarios) & set(RunConfig(scenario=scenario).scenario_list()))


def changed(config: RunConfig, group: str) -> bool:
    """Whether `config` sets any setting of `group` to other than its default."""
    return any(getattr(config, s.field) != s.default for s in SETTINGS if s.group == group)
