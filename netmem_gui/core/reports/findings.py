"""Findings: the C++ memory profiling guide's diagnosis table (symptom, evidence, next steps) on a run's figures.

Each rule reads figures the record already holds and says, when it fires, which symptom the run shows, the
figures that show it (with units) and what to do next for the kind of server measured. The rules and why
their thresholds are what they are: docs/findings.md.
"""

from __future__ import annotations

import shlex
from typing import Any

from . import sites
from .backpressure import unread_output
from .expectations import parse_size, tolerance_bytes
from .figures import title

MIB = 1024 * 1024

# "High per-connection memory": the built-in echo server costs ~1.6 KB of RSS per connection on its own
# (isolated host) and ~5-6 KB when clients and server share the process (in-app); redis-server 7 costs ~1.5 KB
# idle and ~10 KB after one command; the C++ guide expects ~11 KB for its C++ server. Four times the guide's
# expectation and three times the busiest of those is clearly "much higher than expected" and is still cheap
# enough that a thread or two 16 KB buffers per connection (~24-32 KB) does not trip it by itself.
DEFAULT_PER_CONNECTION_LIMIT_BYTES = 48 * 1024
# A slope over a handful of connections is dominated by allocator steps (one 256 KB arena over 5 connections
# reads as 51 KB each); below this many connections the rule stays silent.
MIN_CONNECTIONS_FOR_OVERHEAD = 20

# "Memory not released after cleanup": RSS read right after the connections close says little (CPython keeps
# its freed arenas, glibc and jemalloc keep freed pages for seconds or for good), so the rule reads whether the
# next round of the same connections could reuse that memory: with --rounds 2 or more, memory held with every
# connection open grows from round to round only by what cleanup did not give back, even to the allocator.
NOT_RELEASED_SHARE = 0.5  # a round keeps more than half of what round 1's connections took...
NOT_RELEASED_MIN_BYTES = MIB  # ...and more than the guide's 1 MiB threshold, so page steps of small runs can't

PYTHON_KINDS = ("builtin", "server")  # the server runs in a Python process netmem starts (tracemalloc, memray)

Finding = dict[str, Any]


def target_kind(rec: dict[str, Any]) -> str:
    """builtin, server, attach or spawn: what the run measured (records before targets existed: builtin)."""
    target = rec.get("target") or {}
    if target.get("kind"):
        return str(target["kind"])
    cfg = rec.get("config") or {}
    if cfg.get("server"):
        return "server"
    if cfg.get("attach") or cfg.get("attach_pid"):
        return "attach"
    if cfg.get("spawn"):
        return "spawn"
    return "builtin"


def per_connection_limit(expectations: dict[str, Any] | None, name: str | None = None) -> tuple[float, str]:
    """The per-connection limit in bytes and where it comes from: the expectations file's per-connection figure
    plus its tolerance when it has one, else DEFAULT_PER_CONNECTION_LIMIT_BYTES."""
    pc = ((expectations or {}).get("connections") or {}).get("per_connection")
    if pc:
        expected = parse_size(pc["bytes"])
        limit = expected + tolerance_bytes(pc["tolerance"], expected)
        return limit, f"{name or 'the expectations file'}: per_connection {pc['bytes']} ± {pc['tolerance']}"
    return float(DEFAULT_PER_CONNECTION_LIMIT_BYTES), "netmem's default (docs/findings.md)"


# ---- next steps -------------------------------------------------------------------------------------------------

def rerun_command(cfg: dict[str, Any], prefix: str = "netmem", **changes: Any) -> str:
    """The `netmem run` command line of a run's configuration (a record's `config`), with some fields changed:
    the options that differ from their defaults and matter to the scenario, as the settings table names them."""
    from ..options import SETTINGS, matters  # options -> lifecycle -> run -> findings: imported when used

    values = {**cfg, **changes}
    scenario = str(values.get("scenario", "all"))
    words = [*shlex.split(prefix), "run", scenario]
    for setting in SETTINGS:
        value = values.get(setting.field, setting.default)
        if value == setting.default or value is None or value is False or not matters(setting, scenario):
            continue
        if value is True:
            words.append(setting.flag)
        else:
            words += [setting.flag, f"{value:g}" if isinstance(value, float) else str(value)]
    return shlex.join(words)


def _step(text: str, command: str | None = None) -> dict[str, Any]:
    return {"text": text, "command": command}


def _sites(rec: dict[str, Any], scenario: str, top: int = 3) -> list[dict[str, Any]]:
    return ((rec.get("allocations") or {}).get(scenario) or {}).get("sites") or []


def _python_steps(rec: dict[str, Any], scenario: str, what: str) -> list[dict[str, Any]]:
    """Python servers: the sites tracemalloc saw grow (or the command that lists them), then memray."""
    cfg = rec["config"]
    steps = []
    leaks = what == "leaks"
    # tracemalloc's sites are what grew between two steady-state snapshots, memory kept rather than the peak.
    sites = _sites(rec, scenario) if leaks else []
    if sites:
        where = "; ".join(f"{s['file']}:{s['line']} +{s['size_diff_bytes'] / 1024:,.1f} KB in"
                          f" {s['count_diff']:+,} blocks" for s in sites[:3])
        steps.append(_step(f"Read the allocation sites that grew most (tracemalloc, {scenario}): {where}"))
    elif leaks and not cfg.get("trace_allocations"):
        steps.append(_step("List the allocation sites that grow (file:line) with tracemalloc in the server's"
                           " process:", rerun_command(cfg, trace_allocations=True)))
    memray = rerun_command({**cfg, "scenario": scenario}, prefix="memray run -o netmem-memray.bin -m netmem_gui.cli",
                           host="inapp", trace_allocations=False)
    report = "memray flamegraph --leaks netmem-memray.bin" if leaks else "memray flamegraph netmem-memray.bin"
    steps.append(_step(
        "Record every allocation with its Python and native stack with memray (pip install memray): the in-app"
        " host puts the server in netmem's own process so memray sees it" + (", PYTHONMALLOC=malloc lets it"
        " attribute freed memory exactly" if leaks else "") + "; then open "
        + ("the memory still allocated at the end" if leaks else "the peak") + f" with `{report}`",
        ("PYTHONMALLOC=malloc " if leaks else "") + memray + " --no-save"))
    return steps


def _native_steps(rec: dict[str, Any], what: str, scenario: str = "") -> list[dict[str, Any]]:
    """Native servers: the allocation sites heaptrack or LeakSanitizer named (or the run that names them), then
    valgrind (massif or memcheck) and AddressSanitizer, with the command."""
    target = rec.get("target") or {}
    cfg = rec["config"]
    kind = target_kind(rec)
    pid = target.get("pid") or (rec.get("measured") or {}).get("pid")
    command = target.get("command") or target.get("cmdline") or cfg.get("spawn")
    if isinstance(command, list):
        command = shlex.join(command)
    shown = command or "<the server's command line>"
    steps = []
    alloc = (rec.get("allocations") or {}).get(scenario) or {}
    native = alloc if alloc.get("tool") in ("heaptrack", "leaksanitizer") else None
    named = sites.finding_step(native) if native and what == "leaks" else None
    if named:
        steps.append(_step(named))
    if native is None or native.get("tool") != "heaptrack":
        # heaptrack writes its file only when the traced process exits: netmem starts the server to stop it.
        spawn = cfg.get("spawn") or (command if kind == "attach" and command else None)
        if spawn:
            steps.append(_step("List the allocation sites still allocated at exit, per cycle, with heaptrack: netmem"
                               " starts the server under it, loads it and stops it",
                               rerun_command({**cfg, "scenario": scenario or cfg.get("scenario")}, attach_pid=None,
                                             spawn=spawn, trace_allocations=True)))
        elif pid:
            steps.append(_step("Run the server under heaptrack, repeat the load, stop it, then open its file with"
                               " heaptrack_print or heaptrack_gui", f"heaptrack {shown}"))
    if what == "peak":
        steps.append(_step("Or take heap snapshots over time with valgrind's massif (restart the server under it),"
                           " then print the peak with ms_print massif.out.*", f"valgrind --tool=massif {shown}"))
    else:
        steps.append(_step("Or list the memory still reachable or lost at exit with valgrind (restart the server"
                           " under it, load it, stop it)",
                           f"valgrind --leak-check=full --show-leak-kinds=all {shown}"))
        steps.append(_step("Or rebuild the server with AddressSanitizer (-fsanitize=address -fno-omit-frame-pointer,"
                           " compile and link) and run it with leak detection; it reports each leak with its stack"
                           " at exit", f"ASAN_OPTIONS=detect_leaks=1 {shown}"))
    return steps


def _next_steps(rec: dict[str, Any], scenario: str, what: str) -> list[dict[str, Any]]:
    if target_kind(rec) in PYTHON_KINDS:
        return _python_steps(rec, scenario, what)
    return _native_steps(rec, what, scenario)


# ---- the rules --------------------------------------------------------------------------------------------------

def _figure(name: str, value: float | str | None, unit: str) -> dict[str, Any]:
    return {"name": name, "value": value, "unit": unit}


def memory_grows(rec: dict[str, Any]) -> list[Finding]:
    """"Memory grows over time": a scenario's leak verdict is POSSIBLE LEAK."""
    out = []
    for name, fig in rec["scenarios"].items():
        lv = (fig or {}).get("leak_verdict")
        if not lv or lv["verdict"] != "POSSIBLE LEAK":
            continue
        rss, traced = lv["rss"], lv.get("traced")
        per = lv["connections_per_cycle"]
        cycle = "round" if name == "connections" else "cycle"
        evidence = [
            _figure(title("summary.verdict"), lv["verdict"], ""),
            _figure(f"RSS growth per {cycle}", rss["slope_bytes_per_cycle"], f"bytes/{cycle}"),
            _figure("95 % confidence interval, low end", rss["ci_low_bytes_per_cycle"], f"bytes/{cycle}"),
            _figure(f"{cycle.capitalize()}s fitted", rss["cycles_fitted"], f"{cycle}s"),
        ]
        if per > 1:
            evidence.append(_figure(f"Connections per {cycle}", per, "connections"))
        if traced and traced["slope_bytes_per_cycle"] is not None:
            evidence.append(_figure(f"Traced Python memory growth per {cycle}", traced["slope_bytes_per_cycle"],
                                    f"bytes/{cycle}"))
        steps = _next_steps(rec, name, "leaks")
        steps.append(_step("Look for state kept per connection and never dropped (sessions, dicts of clients,"
                           " subscriptions), queues without a bound and pools that never release"))
        out.append({
            "id": "memory-grows", "symptom": "Memory grows over time", "scenario": name,
            "diagnosis": f"the server keeps memory on every {cycle}: {lv['rss'].get('reason') or lv['verdict']}",
            "evidence": evidence, "next_steps": steps,
        })
    return out


def memory_grows_under_load(rec: dict[str, Any]) -> list[Finding]:
    """"Memory grows over time" under Locust's load: the steady part's verdict (per request) is POSSIBLE LEAK."""
    steady = (((rec.get("load") or {}).get("figures") or {}).get("steady")) or {}
    lv = steady.get("leak_verdict")
    if not lv or lv["verdict"] != "POSSIBLE LEAK":
        return []
    scenario = next(iter(rec["scenarios"]), "observe")
    evidence = [
        _figure(title("load.steady.leak_verdict.verdict"), lv["verdict"], ""),
        _figure("RSS growth per request", lv["slope_bytes_per_cycle"], "bytes/request"),
        _figure("95 % confidence interval, low end", lv["ci_low_bytes_per_cycle"], "bytes/request"),
        _figure("Locust users", steady["users"], "users"),
        _figure(title("load.steady.drift_bytes"), steady["drift_bytes"], "bytes"),
    ]
    steps = _next_steps(rec, scenario, "leaks")
    steps.append(_step("Look for state kept per request or per connection and never dropped (sessions, caches"
                       " without a bound, per-client buffers, registries of connections that have closed)"))
    return [{
        "id": "memory-grows", "symptom": "Memory grows over time", "scenario": "load",
        "diagnosis": (f"at a steady {steady['users']:,} Locust users the server keeps memory on every request:"
                      f" {lv['reason']}"),
        "evidence": evidence, "next_steps": steps,
    }]


def high_per_connection(rec: dict[str, Any], limit: float, source: str) -> list[Finding]:
    """"High per-connection memory": the per-connection overhead is above the limit."""
    fig = rec["scenarios"].get("connections") or {}
    per = fig.get("per_connection_bytes")
    created = fig.get("connections_created") or 0
    if per is None or created < MIN_CONNECTIONS_FOR_OVERHEAD or per <= limit:
        return []
    fit = fig.get("per_connection_fit") or {}
    evidence = [
        _figure(title("connections.per_connection_bytes"), per, "bytes"),
        _figure("Limit", limit, "bytes"),
        _figure("Limit from", source, ""),
        _figure(title("connections.connections_created"), created, "connections"),
        _figure(title("connections.client_bytes"), fig.get("client_bytes"), "bytes"),
    ]
    if fit.get("r_squared") is not None:
        evidence.append(_figure("r² of the fit", round(fit["r_squared"], 3), ""))
    steps = _next_steps(rec, "connections", "peak")
    steps.append(_step("Reduce what each connection holds: read buffer sizes (StreamReader limit, recv sizes),"
                       " write buffers and their high-water marks, per-connection caches; pool buffers instead of"
                       " allocating them per connection; look for references kept to whole requests"))
    if rec["config"].get("host") == "inapp":
        steps.append(_step("The in-app host measures clients and server together: the isolated host measures the"
                           " server alone", rerun_command(rec["config"], host="isolated", scenario="connections")))
    return [{
        "id": "high-per-connection", "symptom": "High per-connection memory", "scenario": "connections",
        "diagnosis": f"each connection costs {per / 1024:,.1f} KB of RSS, more than the {limit / 1024:,.1f} KB limit",
        "evidence": evidence, "next_steps": steps,
    }]


def not_released(rec: dict[str, Any]) -> list[Finding]:
    """"Memory not released after cleanup": with 2+ rounds, each round keeps a large share of what round 1 took."""
    fig = rec["scenarios"].get("connections") or {}
    kept = fig.get("rss_growth_per_round_bytes")
    taken = fig.get("client_bytes")
    if kept is None or not taken or taken <= 0:
        return []
    if kept <= NOT_RELEASED_SHARE * taken or kept <= NOT_RELEASED_MIN_BYTES:
        return []
    evidence = [
        _figure(title("connections.rss_growth_per_round_bytes"), kept, "bytes/round"),
        _figure("Memory taken by round 1's connections", taken, "bytes"),
        _figure("Share kept per round", round(100.0 * kept / taken, 1), "%"),
        _figure("Rounds", rec["config"].get("rounds"), "rounds"),
        _figure("Memory returned by cleanup (last round, to the OS)", fig.get("cleanup_returned_bytes"), "bytes"),
    ]
    steps = _next_steps(rec, "connections", "leaks")
    steps.append(_step("Check what runs when a connection closes: connection_lost / the handler's finally block"
                       " must drop every reference to the connection (registries, callbacks, tasks, caches)"))
    return [{
        "id": "not-released", "symptom": "Memory not released after cleanup", "scenario": "connections",
        "diagnosis": (f"each round of connections keeps {kept / 1024:,.0f} KB after its connections closed,"
                      f" {100.0 * kept / taken:.0f} % of what round 1 took: that memory was not even given back to"
                      " the allocator for the next round to reuse"),
        "evidence": evidence, "next_steps": steps,
    }]


def not_released_observed(rec: dict[str, Any]) -> list[Finding]:
    """"Memory not released after cleanup" in observe: the connections fell and the memory stayed.

    What one release kept may be the allocator's, for the next ramp to reuse; with two or more releases netmem
    reads, as --rounds does, whether memory after each release keeps climbing (not even reused) or stays level.
    """
    fig = rec["scenarios"].get("observe") or {}
    per, kept = fig.get("per_connection_bytes"), fig.get("kept_per_released_connection_bytes")
    releases = [r for r in fig.get("releases") or [] if r["kept_bytes"] is not None]
    if per is None or per <= 0 or kept is None or not releases:
        return []
    kept_bytes = sum(r["kept_bytes"] for r in releases)
    if kept <= NOT_RELEASED_SHARE * per or kept_bytes <= NOT_RELEASED_MIN_BYTES:
        return []
    growth = fig.get("growth_per_release_bytes")
    taken = per * releases[0]["released"]
    if growth is not None and growth <= NOT_RELEASED_SHARE * taken:
        return []  # a later ramp reused what the earlier releases kept: the allocator's, not a leak
    evidence = [
        _figure(title("observe.kept_per_released_connection_bytes"), kept, "bytes/connection"),
        _figure(title("observe.per_connection_bytes"), per, "bytes/connection"),
        _figure("Share kept", round(100.0 * kept / per, 1), "%"),
        _figure("Releases", len(releases), "releases"),
    ]
    if growth is not None:
        evidence.append(_figure(title("observe.growth_per_release_bytes"), growth, "bytes/release"))
        diagnosis = (f"memory after each release stays {growth / 1024:,.0f} KB higher than after the one before:"
                     " later ramps did not reuse what earlier releases kept")
    else:
        diagnosis = (f"after the connections closed the server kept {kept / 1024:,.1f} KB of the {per / 1024:,.1f} KB"
                     " each had taken; one release can't tell memory kept for reuse from a leak: load it again the"
                     " same way while observing, and netmem compares what each release kept")
    steps = _next_steps(rec, "observe", "leaks")
    steps.append(_step("Check what runs when a connection closes: every reference to the connection must go"
                       " (registries, callbacks, tasks, caches, per-client buffers)"))
    return [{"id": "not-released", "symptom": "Memory not released after cleanup", "scenario": "observe",
             "diagnosis": diagnosis, "evidence": evidence, "next_steps": steps}]


def evaluate(rec: dict[str, Any], expectations: dict[str, Any] | None = None,
             expectations_name: str | None = None) -> list[Finding]:
    """Every finding of a run record (its figures, config and allocation sites); [] for a clean run."""
    limit, source = per_connection_limit(expectations, expectations_name)
    return [*memory_grows(rec), *memory_grows_under_load(rec), *high_per_connection(rec, limit, source),
            *not_released(rec), *not_released_observed(rec), *unread_output(rec, target_kind(rec))]
