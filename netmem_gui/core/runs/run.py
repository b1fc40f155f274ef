"""A run: its events and samples in, its figures and the run record out (execute.py runs one)."""

from __future__ import annotations

import copy
import datetime as dt
import enum
import time
from collections.abc import Callable
from typing import Any

from ... import __version__
from .. import events
from ..config import RunConfig
from ..events import Event
from ..measuring import prometheus
from ..measuring.locust import LocustWatch
from ..measuring.sampler import CycleSeries, LagBuffer, SampleBuffer
from ..measuring.socket_sampler import KernelBuffer
from ..records import record
from ..reports import analysis, findings, sites
from ..reports.backpressure import backpressure_figures
from ..reports.kernel import kernel_figures
from ..reports.load import load_figures
from ..reports.under_load import not_judged

Listener = Callable[[Event], None]
REFIT_EVERY_CYCLES = 100  # the load process sends cycles in batches of this size anyway
# While a run goes on its leak verdict is fitted again at most this often: a fit of 1,000 binned points takes
# ~30-60 ms, and a stability run brings a batch of cycles about every second (the record's verdict, fitted when
# the run ends, is not affected).
REFIT_EVERY_S = 10.0
# A live view's figures take at most this share of a core, however long the run: their cost grows with the
# samples and lag points (an hour at 100 Hz: ~9 ms per computation, mostly the lag percentiles), and a stability
# run brings a checkpoint about every second.
FIGURES_SHARE = 0.02
_clock = time.monotonic  # the figures' clock (a test sets its own)


class RunState(enum.Enum):
    """Where a run is: going on, or ended, and then whether it ran to the end (else `stop_reason` says why)."""

    RUNNING = "running"
    COMPLETED = "completed"
    INCOMPLETE = "incomplete"


class Run:
    """Everything known about one run so far; the CLI and the GUI both watch one of these.

    Events come from the host (in order, on the loop's thread); samples come from the sampler thread into
    `samples`. Times are kept in seconds since the run began (`t0`, on the monotonic clock every process
    of this machine shares).
    """

    def __init__(self, config: RunConfig, label: str | None = None,
                 expectations: dict[str, Any] | None = None, expectations_name: str | None = None) -> None:
        self.config = config
        self.label = label
        # An expectations file (optional) sets the findings' per-connection limit.
        self.expectations = expectations
        self.expectations_name = expectations_name
        self.started_at = dt.datetime.now(dt.UTC)
        self.t0 = time.monotonic()
        self.samples = SampleBuffer()
        self.lag = LagBuffer()
        self.kernel = KernelBuffer()  # the kernel's share of the measured process's TCP sockets (execute fills it)
        self.sampler_cpu_s: float | None = None
        self.checkpoints: list[dict[str, Any]] = []
        self.phases: list[dict[str, Any]] = []
        self.results: dict[str, dict[str, Any]] = {}
        # Preallocated now, before the run, for the scenarios that give a leak verdict (see CycleSeries).
        self.cycles: dict[str, CycleSeries] = {}
        if "stability" in config.scenario_list():
            self.cycles["stability"] = CycleSeries()
        if "connections" in config.scenario_list() and config.rounds > 1:
            self.cycles["connections"] = CycleSeries()
        self.allocations: dict[str, dict[str, Any]] = {}
        self.native_sites: dict[str, Any] | None = None  # heaptrack's or LeakSanitizer's, read after a spawned exit
        self.load: LocustWatch | None = None  # --locust: the load a Locust cluster puts on the measured process
        self.measured: dict[str, Any] = {"pid": None, "role": None}
        # What the target is, for the record's `target` block: what the server process serves (--server), or the
        # process measured (name, command line, address) from the load side and, for --spawn, from execute().
        self.target_info: dict[str, Any] = {}
        self.server_errors: dict[str, Any] | None = None  # exceptions raised in the user's server code
        # The observe scenario's readings; they live in this process, never in the measured one.
        self.observations: dict[str, list[Any]] = {"t_s": [], "connections": [], "memory_bytes": []}
        # The backpressure scenario's readings: bytes its clients had sent, and the server's memory then.
        self.sent: dict[str, list[Any]] = {"t_s": [], "sent_bytes": [], "memory_bytes": [], "kernel_bytes": []}
        self.progress: Event | None = None
        self.state = RunState.RUNNING
        self.stop_reason: str | None = None  # why it ended incomplete
        self._listeners: list[Listener] = []
        self._verdict_cache: dict[str, tuple[int, float, dict[str, Any] | None]] = {}
        # Set by whoever keeps the run in the library (core.journal.Journal); execute starts and closes it.
        self.journal: Any = None
        # Events handled so far, with the sample counts what the figures depend on: steady ones (lag, progress,
        # cycles, observations) arrive many times a second, the others (phases, checkpoints, results...) rarely.
        self._events = 0
        self._steady_events = 0
        self._figured_at = 0.0
        self._figures_cost = 0.0  # seconds the last computation of the figures took
        self._figures: tuple[tuple[tuple[Any, ...], tuple[Any, ...]], dict[str, Any]] | None = None

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def handle(self, event: Event) -> None:
        """Take one event (core/events.py) in, by its type; then tell every listener. An unknown type is ignored
        (a journal from a newer netmem may hold types this one does not know)."""
        kind = event["type"]
        if kind in events.STEADY:
            self._steady_events += 1
        else:
            self._events += 1
        handler = _HANDLERS.get(kind)
        if handler is not None:
            handler(self, event)
        for listener in list(self._listeners):
            listener(event)

    def _on_checkpoint(self, event: Event) -> None:
        self.checkpoints.append({
            "scenario": event["scenario"], "label": event["label"], "t_s": event["t"] - self.t0,
            "rss_bytes": event["rss"], "vms_bytes": event["vms"],
            "connections": event["connections"], "messages": event["messages"],
            **({"processes": event["processes"]} if "processes" in event else {}),
        })

    def _on_observations(self, event: Event) -> None:
        self.observations["t_s"].extend(round(t - self.t0, 4) for t in event["t"])
        self.observations["connections"].extend(event["connections"])
        self.observations["memory_bytes"].extend(event["memory"])
        if self.config.prometheus_url is not None:  # no PID to sample: the readings are the memory series
            for t, memory in zip(event["t"], event["memory"], strict=True):
                self.samples.append(t - self.t0, memory, 0)

    def _on_sent(self, event: Event) -> None:
        self.sent["t_s"].extend(round(t - self.t0, 4) for t in event["t"])
        self.sent["sent_bytes"].extend(event["sent"])
        self.sent["memory_bytes"].extend(event["memory"])
        # One batch without kernel readings (not Linux) leaves the column null: a column with holes can't be fitted.
        kernel = event.get("kernel")
        if kernel is None or self.sent["kernel_bytes"] is None:
            self.sent["kernel_bytes"] = None
        else:
            self.sent["kernel_bytes"].extend(kernel)

    def _on_phase(self, event: Event) -> None:
        self.phases.append({"scenario": event["scenario"], "phase": event["phase"], "t_s": event["t"] - self.t0})

    def _on_lag(self, event: Event) -> None:
        self.lag.append(event["t"] - self.t0, event["lag"])

    def _on_progress(self, event: Event) -> None:
        self.progress = event

    def _on_cycles(self, event: Event) -> None:
        series = self.cycles.get(event["scenario"])
        if series is not None:
            traced = event.get("traced")
            t = event.get("t")
            for i, rss in enumerate(event["rss"]):
                series.append(event["first"] + i, rss, traced[i] if traced else None, t[i] - self.t0 if t else None)

    def _on_allocations(self, event: Event) -> None:
        self.allocations[event["scenario"]] = {"tool": "tracemalloc", "from": event["from"], "to": event["to"],
                                               "sites": event["sites"]}

    def _on_result(self, event: Event) -> None:
        self.results[event["scenario"]] = event["counts"]

    def _on_target(self, event: Event) -> None:
        self.measured = {"pid": event["pid"], "role": event["role"]}
        self.target_info.update(event.get("info") or {})

    def _on_server_errors(self, event: Event) -> None:
        self.server_errors = {"connections": event["connections"], "first": event["first"]}

    def _on_end(self, event: Event) -> None:
        self.state = RunState.COMPLETED if event["completed"] else RunState.INCOMPLETE
        self.stop_reason = event.get("reason")

    @property
    def ended(self) -> bool:
        return self.state is not RunState.RUNNING

    @property
    def completed(self) -> bool:
        return self.state is RunState.COMPLETED

    @property
    def scenario(self) -> str | None:
        """The scenario running now (the last one that began)."""
        return self.phases[-1]["scenario"] if self.phases else None

    def figures(self, max_age_s: float = 0.0) -> dict[str, Any]:
        """The figures as they stand now: {"scenarios": ..., "summary": ...}, as the record will hold them.

        Computed again only when something they depend on has arrived since the last call; the result is shared,
        so callers must not change it. A live view passes `max_age_s`: new samples, lag points, cycles and
        progress then wait until the figures are that old, while a phase, a checkpoint or a result shows at once
        (a fit over every sample, five times a second, was a tenth of the app's CPU). Either waits while the last
        computation's cost would come to more than FIGURES_SHARE of a core; the end never waits.
        """
        structural = (self._events, self.ended)
        steady = (self._steady_events, len(self.samples), len(self.lag), self.sampler_cpu_s, len(self.kernel))
        cached = self._figures
        if cached is not None and cached[0] == (structural, steady):
            return cached[1]
        now = _clock()
        if cached is not None and max_age_s > 0 and not self.ended:
            wait = self._figures_cost / FIGURES_SHARE
            if cached[0][0] == structural:
                wait = max(wait, max_age_s)
            if now - self._figured_at < wait:
                return cached[1]
        self._figures = ((structural, steady), self._compute_figures())
        self._figured_at = now
        self._figures_cost = _clock() - now
        return self._figures[1]

    def _compute_figures(self) -> dict[str, Any]:
        t, rss, _ = self.samples.view()
        names = self.config.scenario_list()
        figures = analysis.analyse([n for n in names if n != "backpressure"], self.checkpoints, self.results, t, rss,
                                   self._leak_verdicts(), self.observations)
        if "backpressure" in self.results or self.sent["t_s"]:  # analysis.py is full: its figures are fitted here
            figures["scenarios"]["backpressure"] = backpressure_figures(self.results.get("backpressure", {}),
                                                                        self.sent, self.kernel.view())
        figures["summary"].update(analysis.lag_figures(self.lag.view()[1]))
        figures["summary"]["sampler_cpu_percent"] = analysis.cpu_percent(self.sampler_cpu_s, t)
        figures["summary"].update(kernel_figures(self.kernel.view(), self.kernel.unavailable))
        if self.load is not None:
            figures["load"] = load_figures(self.load.series.to_dict())
            steady = figures["load"]["steady"]
            if steady is not None:
                # A scenario whose growth per cycle could not be told from the load's share is no verdict: the one
                # at steady load, per request, judges instead (docs/leak-verdict.md, "Under a changing load").
                verdict = figures["summary"]["leak_verdict"]
                judged = [name for name in verdict["scenarios"]
                          if not not_judged(figures["scenarios"][name]["leak_verdict"])]
                verdict["verdict"] = analysis.combine_verdicts(
                    [*(figures["scenarios"][name]["leak_verdict"]["verdict"] for name in judged),
                     steady["leak_verdict"]["verdict"]])
                verdict["scenarios"] = [*judged, "load"]
        return figures

    def now(self, now_s: float | None = None) -> dict[str, Any]:
        """The run at `now_s` (seconds since it began; default: now), for live views (the record holds the final
        figures): the latest sample and its difference from the baseline, connections open, and the echo rate
        since sending began."""
        _, rss, _ = self.samples.view()
        current = int(rss[-1]) if rss.size else None
        baseline = int(self.checkpoints[0]["rss_bytes"]) if self.checkpoints else None
        phase = self.phases[-1] if self.phases else None
        progress = self.progress
        open_now = self.checkpoints[-1]["connections"] if self.checkpoints else None
        if progress and progress["unit"] == "connections" and phase and phase["phase"] == "connect":
            open_now = int(progress["done"])
        rate = None
        now_s = time.monotonic() - self.t0 if now_s is None else now_s
        elapsed = now_s - phase["t_s"] if phase else 0.0
        if progress and progress["unit"] == "messages" and phase and phase["phase"] == "send" and elapsed > 0:
            rate = progress["done"] / elapsed
        return {
            "rss_bytes": current,
            "delta_bytes": None if current is None or baseline is None else current - baseline,
            "open_connections": open_now,
            "messages_per_s": rate,
        }

    def _leak_verdicts(self) -> dict[str, dict[str, Any] | None]:
        """Each cycling scenario's leak verdict, fitted again only once its series has grown by a batch and
        REFIT_EVERY_S has passed (always at the end).

        A fit of 1,000 binned cycles takes ~30-60 ms (more with traced bytes), and the GUI asks for figures
        several times a second, in the measured process itself on the in-app host.
        """
        verdicts: dict[str, dict[str, Any] | None] = {}
        now = time.monotonic()
        for name, series in self.cycles.items():
            size = len(series)
            cached = self._verdict_cache.get(name)
            # A fit that had too few cycles is cheap and says nothing: fitted again with the next batch, or a 10 s run
            # said "too few cycles" for its whole length.
            unfitted = cached is not None and (cached[2] is None or cached[2]["rss"]["slope_bytes_per_cycle"] is None)
            due = (cached is not None and size - cached[0] >= REFIT_EVERY_CYCLES
                   and (unfitted or now - cached[1] >= REFIT_EVERY_S))
            if cached is None or due or (self.ended and cached[1] >= 0):
                per_cycle = self.config.connections_for("connections") if name == "connections" else 1
                data = series.columns() if size or name == "stability" else None
                # A fit made after the end is marked (time -1) so that it is the last one.
                cached = (size, -1.0 if self.ended else now,
                          analysis.scenario_leak_verdict(data, per_cycle, self.config.host, self._held_load()))
                self._verdict_cache[name] = cached
            verdicts[name] = cached[2]
        return verdicts

    def _held_load(self) -> analysis.Load | None:
        """The load Locust put on the server while the run went on: the measured process's established connections
        where they were counted at every poll, else the users (one connection each for the users in examples/locust),
        and the requests served so far."""
        if self.load is None:
            return None
        t, users, _, requests, _, conns, _, _ = self.load.series.view()
        if not t.size:
            return None
        held = {"connection": conns.copy()} if (conns >= 0).all() else {"user": users.copy()}
        return t.copy(), {**held, "request": requests.copy()}

    def target(self) -> dict[str, Any]:
        """The record's `target` block: what was measured, how it was loaded and which memory figure was read."""
        cfg = self.config
        kind = cfg.target_kind()
        info = self.target_info
        block: dict[str, Any] = {
            "kind": kind,
            "pid": self.measured["pid"],
            "name": "netmem echo server" if kind == "builtin" else None,
            "cmdline": None,
            "address": None,
            "command": None,
            "protocol": cfg.protocol,
            "memory": cfg.memory,
            "include_children": cfg.include_children,
            "processes": None,
            **info,  # --attach/--spawn: name, command line, address; --server: module, attr, file, handler kind
        }
        with_tree = [cp for cp in self.checkpoints if cp.get("processes")]
        if with_tree:
            peak = max(with_tree, key=lambda cp: cp["rss_bytes"])
            block["processes"] = {"checkpoint": peak["label"], "scenario": peak["scenario"],
                                  "list": peak["processes"]}
        if "prometheus" in info:  # --prometheus: the source, with the run's series count and gaps
            block["prometheus"] = prometheus.record_block(info["prometheus"], self.results.get("observe"), self.t0)
        return block

    def record(self) -> record.Record:
        t, rss, vms = self.samples.view()
        lag_t, lag = self.lag.view()
        figures = copy.deepcopy(self.figures())  # the record is the caller's to change; the cache is not
        rec = {
            "schema": record.SCHEMA_ID,
            "tool": {"name": "netmem", "version": __version__},
            "label": self.label,
            "started_at": self.started_at.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            "platform": record.platform_info(),
            "config": self.config.to_dict(),
            "measured": self.measured,
            "target": self.target(),
            "completed": self.completed,
            "stop_reason": self.stop_reason,
            "samples": {
                "t_s": [round(x, 4) for x in t.tolist()],
                "rss_bytes": rss.tolist(),
                "vms_bytes": vms.tolist(),
            },
            "loop_lag": {
                "t_s": [round(x, 4) for x in lag_t.tolist()],
                "lag_s": [round(x, 6) for x in lag.tolist()],
            },
            "kernel_sockets": self.kernel.to_dict(),
            "checkpoints": self.checkpoints,
            "phases": self.phases,
            "cycle_series": {name: s.to_dict() for name, s in self.cycles.items()},
            **({"observations": self.observations} if "observe" in self.config.scenario_list() else {}),
            **({"sent_series": self.sent} if "backpressure" in self.config.scenario_list() else {}),
            "allocations": {**self.allocations,
                            **sites.record_entry(self.native_sites, self.config.scenario_list(), figures["scenarios"])},
            **({"server_errors": self.server_errors} if self.server_errors else {}),
            "scenarios": figures["scenarios"],
            "summary": figures["summary"],
        }
        if self.load is not None:
            rec["load"] = {"url": self.load.base, "series": self.load.series.to_dict(), "gaps": self.load.series.gaps,
                           "figures": figures["load"]}
        rec["findings"] = findings.evaluate(rec, self.expectations, self.expectations_name)
        return rec


# Run.handle's dispatch: one method per type of event (core/events.py).
_HANDLERS: dict[str, Callable[[Run, Event], None]] = {
    "checkpoint": Run._on_checkpoint, "observations": Run._on_observations, "sent": Run._on_sent,
    "phase": Run._on_phase,
    "lag": Run._on_lag, "progress": Run._on_progress, "cycles": Run._on_cycles, "allocations": Run._on_allocations,
    "result": Run._on_result, "target": Run._on_target, "server_errors": Run._on_server_errors, "end": Run._on_end,
}
