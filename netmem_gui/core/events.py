"""Events: what the workload tells a run, one type each (phase, checkpoint, cycles, end ...), made here and only here.

An event is a plain dict (it crosses a pipe as one JSON line from the isolated host's load process, and is kept in
the run's journal), typed for readers by the TypedDicts below; `Run.handle` dispatches on its `type`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Literal, NotRequired, TypedDict, get_type_hints


class Phase(TypedDict):
    type: Literal["phase"]
    scenario: str
    phase: str  # start, connect, send, cycles, close, cleanup, stop, observe
    t: float  # time.monotonic(), shared by every process of the machine


class Checkpoint(TypedDict):
    type: Literal["checkpoint"]
    scenario: str
    label: str  # the C++ demo's ("Baseline", "After 50 connections" ...)
    t: float
    rss: int
    vms: int
    connections: int
    messages: int
    processes: NotRequired[list[dict[str, Any]]]  # --include-children: each process of the tree


class Progress(TypedDict):
    type: Literal["progress"]
    scenario: str
    done: float
    total: float
    unit: str


class Cycles(TypedDict):
    type: Literal["cycles"]
    scenario: str
    first: int  # the index of the first cycle of this batch
    rss: list[int]
    traced: list[int] | None
    t: list[float]  # when each cycle ended (time.monotonic()); absent from journals written before it was kept


Allocations = TypedDict("Allocations", {  # "from" is a Python keyword: the functional form
    "type": Literal["allocations"], "scenario": str, "from": str | None, "to": str, "sites": list[dict[str, Any]],
})


class Observations(TypedDict):
    type: Literal["observations"]
    scenario: str
    t: list[float]
    connections: list[int]
    memory: list[int]


class Sent(TypedDict):
    """The backpressure scenario's readings: what its clients had sent in all, and the server's memory then."""

    type: Literal["sent"]
    scenario: str
    t: list[float]
    sent: list[int]  # bytes
    memory: list[int]
    kernel: list[int] | None  # the kernel's share of the server's sockets (receive + send memory); None: not read


class Result(TypedDict):
    type: Literal["result"]
    scenario: str
    counts: dict[str, Any]


class Lag(TypedDict):
    type: Literal["lag"]
    t: float
    lag: float


class Target(TypedDict):
    type: Literal["target"]
    pid: int
    role: str
    info: NotRequired[dict[str, Any]]


class ServerErrors(TypedDict):
    type: Literal["server_errors"]
    connections: int
    first: str | None


class End(TypedDict):
    type: Literal["end"]
    completed: bool
    reason: str | None


Event = dict[str, Any]  # one of the above, as a reader sees it before looking at its `type`
Emit = Callable[[Event], None]


def phase(scenario: str, name: str, t: float) -> Phase:
    return {"type": "phase", "scenario": scenario, "phase": name, "t": t}


def checkpoint(scenario: str, label: str, t: float, rss: int, vms: int, connections: int, messages: int,
               processes: list[dict[str, Any]] | None = None) -> Checkpoint:
    event: Checkpoint = {"type": "checkpoint", "scenario": scenario, "label": label, "t": t, "rss": rss, "vms": vms,
                         "connections": connections, "messages": messages}
    if processes is not None:
        event["processes"] = processes
    return event


def progress(scenario: str, done: float, total: float, unit: str) -> Progress:
    return {"type": "progress", "scenario": scenario, "done": done, "total": total, "unit": unit}


def cycles(scenario: str, first: int, rss: list[int], traced: list[int] | None, t: list[float]) -> Cycles:
    return {"type": "cycles", "scenario": scenario, "first": first, "rss": rss, "traced": traced, "t": t}


def allocations(scenario: str, first: str | None, last: str, sites: list[dict[str, Any]]) -> Allocations:
    return {"type": "allocations", "scenario": scenario, "from": first, "to": last, "sites": sites}


def observations(scenario: str, t: list[float], connections: list[int], memory: list[int]) -> Observations:
    return {"type": "observations", "scenario": scenario, "t": t, "connections": connections, "memory": memory}


def sent(scenario: str, t: list[float], sent_bytes: list[int], memory: list[int], kernel: list[int] | None) -> Sent:
    return {"type": "sent", "scenario": scenario, "t": t, "sent": sent_bytes, "memory": memory, "kernel": kernel}


def result(scenario: str, counts: dict[str, Any]) -> Result:
    return {"type": "result", "scenario": scenario, "counts": counts}


def lag(t: float, late_s: float) -> Lag:
    return {"type": "lag", "t": t, "lag": late_s}


def target(pid: int, role: str, info: dict[str, Any] | None = None) -> Target:
    event: Target = {"type": "target", "pid": pid, "role": role}
    if info is not None:
        event["info"] = info
    return event


def server_errors(connections: int, first: str | None) -> ServerErrors:
    return {"type": "server_errors", "connections": connections, "first": first}


def end(completed: bool, reason: str | None = None) -> End:
    return {"type": "end", "completed": completed, "reason": reason}


TYPES = frozenset(get_type_hints(t)["type"].__args__[0] for t in (
    Phase, Checkpoint, Progress, Cycles, Allocations, Observations, Sent, Result, Lag, Target, ServerErrors, End))
# Events that arrive many times a second (the others, phases, checkpoints, results ..., come rarely).
STEADY = frozenset({"lag", "progress", "cycles", "observations", "sent"})


def from_json(line: bytes | str) -> Event:
    """An event read from a child's pipe; ValueError for anything that is not a JSON object with a known type."""
    event = json.loads(line)
    if not isinstance(event, dict) or event.get("type") not in TYPES:
        raise ValueError(f"not an event: {str(line)[:80]!r}")
    return event
