"""What a run is asked to do: the run configuration, its defaults (the C++ guide's) and its validation."""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import shlex
from dataclasses import dataclass
from typing import Any

from .errors import NetmemError

SCENARIOS = ("connections", "messages", "stability", "all", "observe", "backpressure")  # `all`: the first three
HOSTS = ("isolated", "inapp")
PROTOCOLS = ("echo", "redis", "http", "idle")
EXTERNAL_KINDS = ("attach", "spawn", "prometheus")  # servers with no code of netmem's in them (by PID, or remote)
MEMORY_KINDS = ("rss", "uss")
LOAD_LOOPS = ("auto", "asyncio", "uvloop")  # the event loop of the isolated host's load process (docs/scale.md)
MAX_START_TIMEOUT_S = 600.0

# Upper bounds that keep a typo from becoming a run that can never finish on a desktop machine.
MAX_CONNECTIONS = 100_000
MAX_MESSAGES = 100_000_000
MAX_MESSAGE_SIZE = 16 * 1024 * 1024
MAX_DURATION_S = 24 * 3600.0
MIN_INTERVAL_MS = 10
MAX_INTERVAL_MS = 60_000
MAX_INJECT_LEAK_BYTES = 16 * 1024 * 1024
MAX_ROUNDS = 100_000
MAX_READ_RATE = 1024**3  # bytes/s: 1 GB/s per client is no slow reader (and fits the form's spin box)
MAX_SEND_LIMIT_MB = 64 * 1024


def uvloop_installed() -> bool:
    """Whether uvloop can be imported here, without importing it."""
    return importlib.util.find_spec("uvloop") is not None


class ConfigError(NetmemError, ValueError):
    """A run configuration that cannot be run; the message is one line for the user."""


class TargetError(ConfigError):
    """A target that can't be measured (no such process, not listening, a command that never listened)."""


@dataclass(frozen=True)
class RunConfig:
    """Everything a run needs; every field lands in the record's `config`."""

    scenario: str = "all"
    connections: int | None = None  # None: the scenario's own default (200 for connections, 1 for messages)
    messages: int = 10_000
    message_size: int = 1024
    duration_s: float = 10.0
    host: str = "isolated"
    interval_ms: int = 100
    port: int = 0
    connect_batch: int = 50
    connections_checkpoint_every: int = 50
    messages_checkpoint_every: int = 5000
    stability_checkpoint_every: int = 100
    stability_pause_ms: int = 10
    rounds: int = 1  # connections scenario: open-all/close-all rounds; more than one gives a leak verdict
    inject_leak_bytes: int = 0  # ground truth: the server keeps this many bytes per connection it accepts
    trace_allocations: bool = False  # the server process runs tracemalloc (costs speed; see docs/leak-verdict.md)
    server: str | None = None  # "MODULE:ATTR": the user's asyncio server, served in netmem's server process
    app_dir: str | None = None  # the folder put first on sys.path to import it (None: the current folder)
    locust_url: str | None = None  # a Locust master's web UI on this machine: its load is polled (docs/locust.md)
    until_locust_stops: bool = False  # the run ends when the Locust test stops
    # The target: netmem's built-in echo server (all None), a running process, or a command netmem starts.
    attach_pid: int | None = None
    address: str | None = None  # "HOST:PORT" where the target listens
    spawn: str | None = None  # a command line; "{port}" in it is replaced by a free port
    start_timeout_s: float = 10.0
    protocol: str = "echo"
    path: str = "/"  # the http protocol's request path
    include_children: bool = False
    memory: str = "rss"  # which memory figure the run measures: rss, or uss (unique set size)
    # A server read through Prometheus (docs/remote.md): observe only; a bearer token comes from the environment.
    prometheus_url: str | None = None
    memory_query: str | None = None  # PromQL: its series are summed into the memory reading
    connections_query: str | None = None  # PromQL: its series are summed into the connection count
    read_rate: int = 0  # backpressure: bytes/s each client reads of the replies (0: never)
    send_limit_mb: int = 64  # backpressure: the most its clients send in all (the server's memory may follow it)
    load_loop: str = "auto"  # the isolated host's load process: auto takes uvloop where it is installed
    # The loop the load ran on, once known (a run's record, its journal, the load process's config): kept as it is
    # through from_dict, so that a record rebuilt elsewhere doesn't guess again. Not part of what was asked.
    load_loop_used: str | None = dataclasses.field(default=None, compare=False)

    def connections_for(self, scenario: str) -> int:
        """Connection count a scenario uses: the explicit value, else the C++ guide's default for it."""
        if self.connections is not None:
            return self.connections
        return {"connections": 200, "backpressure": 4}.get(scenario, 1)

    def scenario_list(self) -> tuple[str, ...]:
        return SCENARIOS[:3] if self.scenario == "all" else (self.scenario,)

    def target_kind(self) -> str:
        """builtin: netmem's echo server; server: the user's asyncio server (--server MODULE:ATTR); attach: a running
        process (--attach); spawn: a command netmem starts (--spawn)."""
        if self.prometheus_url is not None:
            return "prometheus"
        if self.attach_pid is not None:
            return "attach"
        if self.spawn is not None:
            return "spawn"
        return "server" if self.server else "builtin"

    def spawn_argv(self, port: int | None = None) -> list[str]:
        """--spawn's command line as argv (split as a POSIX shell would, run without one), {port} replaced when a
        port is given; TargetError in one line for a line that can't be split or is empty."""
        try:
            argv = shlex.split(self.spawn or "")
        except ValueError as exc:
            raise TargetError(f"--spawn: cannot split the command line: {exc}") from None
        if not argv:
            raise TargetError("--spawn needs a command line")
        return [a.replace("{port}", str(port)) for a in argv] if port is not None else argv

    @property
    def is_external(self) -> bool:
        """Whether the target is a server netmem did not write, measured by PID with no code of netmem's in it."""
        return self.target_kind() in EXTERNAL_KINDS

    def effective_load_loop(self) -> str:
        """The event loop the load runs on: uvloop only in the isolated host's load process, and only where it is
        installed (the extra `fast`); the in-app host's load shares the app's workload thread and its asyncio."""
        if self.load_loop_used is not None:
            return self.load_loop_used
        if self.load_loop != "auto":
            return self.load_loop
        return "uvloop" if self.host == "isolated" and uvloop_installed() else "asyncio"

    def peak_connections(self) -> int:
        """Most connections held open at once by any scenario of this run."""
        return max((self.connections_for(s) for s in self.scenario_list() if s != "stability"), default=1)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        # The per-scenario counts and the load's event loop are resolved here so that a reader of the record never
        # guesses defaults (load_loop keeps what was asked: auto, say).
        data["load_loop_used"] = self.effective_load_loop()
        data["connections_by_scenario"] = {
            s: self.connections_for(s) for s in self.scenario_list() if s not in ("stability", "observe")
        }
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in fields})

    def validate(self) -> RunConfig:
        """Raise ConfigError naming the first field that can't be run; return self when all are sane."""
        if self.scenario not in SCENARIOS:
            raise ConfigError(f"unknown scenario {self.scenario!r}; choose one of {', '.join(SCENARIOS)}")
        if self.host not in HOSTS:
            raise ConfigError(f"unknown host {self.host!r}; choose one of {', '.join(HOSTS)}")
        _check_int("--connections", self.connections, 1, MAX_CONNECTIONS, allow_none=True)
        _check_int("--messages", self.messages, 1, MAX_MESSAGES)
        _check_int("--message-size", self.message_size, 1, MAX_MESSAGE_SIZE)
        _check_int("--interval", self.interval_ms, MIN_INTERVAL_MS, MAX_INTERVAL_MS)
        _check_int("--port", self.port, 0, 65535)
        for name in ("connect_batch", "connections_checkpoint_every", "messages_checkpoint_every",
                     "stability_checkpoint_every"):
            _check_int(name.replace("_", "-"), getattr(self, name), 1, MAX_MESSAGES)
        _check_int("stability-pause-ms", self.stability_pause_ms, 0, 60_000)
        _check_int("--rounds", self.rounds, 1, MAX_ROUNDS)
        _check_int("--inject-leak", self.inject_leak_bytes, 0, MAX_INJECT_LEAK_BYTES)
        _check_int("--read-rate", self.read_rate, 0, MAX_READ_RATE)
        _check_int("--send-limit", self.send_limit_mb, 1, MAX_SEND_LIMIT_MB)
        if not isinstance(self.trace_allocations, bool):
            raise ConfigError(f"trace-allocations must be true or false, not {self.trace_allocations!r}")
        if self.server is not None and (not isinstance(self.server, str) or ":" not in self.server):
            raise ConfigError(f"--server must be MODULE:ATTR (for example chat:handle), not {self.server!r}")
        if self.app_dir is not None and self.server is None:
            raise ConfigError("--app-dir is where --server MODULE:ATTR is imported from: give --server too")
        if self.locust_url is not None and not isinstance(self.locust_url, str):
            raise ConfigError(f"--locust must be a URL, not {self.locust_url!r}")
        if self.until_locust_stops and self.locust_url is None:
            raise ConfigError("--until-locust-stops needs --locust URL")
        self._validate_load_loop()
        d = self.duration_s
        if isinstance(d, bool) or not isinstance(d, (int, float)) or not math.isfinite(d) or d <= 0:
            raise ConfigError(f"--duration must be a positive number of seconds, not {d!r}")
        if d > MAX_DURATION_S:
            raise ConfigError(f"--duration {d:g} s is more than the {MAX_DURATION_S:g} s (24 h) allowed")
        self._validate_target()
        return self

    def _validate_load_loop(self) -> None:
        if self.load_loop not in LOAD_LOOPS:
            raise ConfigError(f"unknown load loop {self.load_loop!r}; choose one of {', '.join(LOAD_LOOPS)}")
        if self.load_loop_used not in (None, "asyncio", "uvloop"):
            raise ConfigError(f"unknown load loop used {self.load_loop_used!r}")
        if self.load_loop == "uvloop" and self.host != "isolated":
            raise ConfigError("--load-loop uvloop is for the isolated host's load process; the in-app host's load"
                              " runs on the app's own asyncio loop")
        if self.load_loop == "uvloop" and not uvloop_installed():
            raise ConfigError("--load-loop uvloop: uvloop is not installed (pip install 'netmem[fast]';"
                              " it exists for Linux and macOS)")

    def _validate_target(self) -> None:
        """The target options fit together; whether the process or the address exist is checked by `targets`."""
        if self.protocol not in PROTOCOLS:
            raise ConfigError(f"unknown protocol {self.protocol!r}; choose one of {', '.join(PROTOCOLS)}")
        if self.protocol == "idle" and self.scenario == "backpressure":
            raise ConfigError("--protocol idle sends nothing, so it puts no backpressure on a server: give echo,"
                              " redis or http")
        if self.memory not in MEMORY_KINDS:
            raise ConfigError(f"unknown memory kind {self.memory!r}; choose one of {', '.join(MEMORY_KINDS)}")
        _check_int("--attach", self.attach_pid, 1, 2**31 - 1, allow_none=True)
        t = self.start_timeout_s
        number = isinstance(t, (int, float)) and not isinstance(t, bool)
        if not (number and math.isfinite(t) and 0 < t <= MAX_START_TIMEOUT_S):
            raise ConfigError(f"--start-timeout must be more than 0 and at most {MAX_START_TIMEOUT_S:g} s, not {t!r}")
        if not isinstance(self.path, str) or not self.path.startswith("/") or any(c in self.path for c in " \r\n"):
            raise ConfigError(f"--path must start with / and hold no spaces or line breaks, not {self.path!r}")
        if not isinstance(self.include_children, bool):
            raise ConfigError(f"include-children must be true or false, not {self.include_children!r}")
        kind = self.target_kind()
        given = [flag for flag, value in (("--attach", self.attach_pid), ("--spawn", self.spawn),
                                          ("--server", self.server), ("--prometheus", self.prometheus_url))
                 if value is not None]
        if len(given) > 1:
            raise ConfigError(f"give one target: {' or '.join(given)}, not both")
        if kind == "prometheus" or self.memory_query is not None or self.connections_query is not None:
            self._validate_prometheus()
        if self.spawn is not None and (not isinstance(self.spawn, str) or not self.spawn.strip()):
            raise ConfigError("--spawn needs a command line")
        if kind in ("builtin", "server"):
            if self.scenario == "observe":
                raise ConfigError("the observe scenario watches a server netmem does not load: give --attach PID"
                                  " or --spawn COMMAND")
            # --server's code runs in netmem's own server process: the clients may speak another protocol to it.
            own = (("--address", self.address, None), ("--include-children", self.include_children, False),
                   ("--memory", self.memory, "rss"), *((("--protocol", self.protocol, "echo"),) if kind == "builtin"
                                                       else ()))
            for name, value, default in own:
                if value != default:
                    raise ConfigError(f"{name} is for a server of your own: give --attach PID or --spawn COMMAND")
            if kind == "server" and self.protocol == "idle" and "messages" in self.scenario_list():
                raise ConfigError("--protocol idle sends nothing, so it has no messages scenario: run connections"
                                  " or stability")
            return
        if self.inject_leak_bytes:
            raise ConfigError("--inject-leak works on netmem's own echo server only")
        if self.trace_allocations and kind != "spawn":
            # heaptrack -p injects through gdb but writes its data only when the process exits, and netmem never
            # stops a process it did not start.
            raise ConfigError("--trace-allocations needs a server netmem starts (heaptrack writes its sites only when"
                              " the server exits): run it with --spawn COMMAND")
        if kind == "attach" and self.address is None and self.scenario != "observe":
            raise ConfigError("--attach needs --address HOST:PORT, where the process listens")
        if kind == "spawn":
            self.spawn_argv()  # a command line that can't be split is said as such, before anything about it
        if kind == "spawn" and "{port}" not in self.spawn and self.address is None:  # type: ignore[operator]
            raise ConfigError("--spawn needs {port} in the command (netmem picks a free port) or --address HOST:PORT")
        if kind == "spawn" and "{port}" in self.spawn and self.address is not None:  # type: ignore[operator]
            raise ConfigError("--spawn with {port} listens on 127.0.0.1 at a port netmem picks: drop --address")
        if self.protocol == "idle" and "messages" in self.scenario_list():
            raise ConfigError("--protocol idle sends nothing, so it has no messages scenario: run connections,"
                              " stability or observe")

    def _validate_prometheus(self) -> None:
        """--prometheus URL --memory-query PROMQL [--connections-query PROMQL] fit together (observe only)."""
        for flag, value in (("--prometheus", self.prometheus_url), ("--memory-query", self.memory_query),
                            ("--connections-query", self.connections_query)):
            if value is not None and (not isinstance(value, str) or not value.strip() or "\n" in value):
                raise ConfigError(f"{flag} needs one line of text, not {value!r}")
        if self.prometheus_url is None:
            raise ConfigError("--memory-query and --connections-query are for --prometheus URL")
        if self.memory_query is None:
            raise ConfigError("--prometheus needs --memory-query PROMQL: the memory to read, such as"
                              " process_resident_memory_bytes{job=\"redis\"}")
        if self.scenario != "observe":
            raise ConfigError("--prometheus reads memory only: run the observe scenario (netmem sends no load to"
                              " a server it reads through Prometheus)")
        for name, value, default in (("--address", self.address, None), ("--include-children",
                                      self.include_children, False), ("--memory", self.memory, "rss")):
            if value != default:
                raise ConfigError(f"{name} is for a server measured by PID, not read through --prometheus")


def _check_int(name: str, value: Any, low: int, high: int, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} must be a whole number, not {value!r}")
    if value < low:
        raise ConfigError(f"{name} must be at least {low}, not {value}")
    if value > high:
        raise ConfigError(f"{name} {value} is more than the {high} allowed")
