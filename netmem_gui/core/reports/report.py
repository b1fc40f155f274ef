"""The text report of a run record, shaped like the C++ guide's demo output (KB = 1024 bytes, MB = 1024 KB)."""

from __future__ import annotations

from typing import Any

from ..records.record import Record
from . import figures, remote, sites, tables
from .backpressure import backpressure_lines
from .figures import SCOPE_TITLES, title
from .findings import NOT_RELEASED_SHARE
from .kernel import kernel_lines
from .measured import KIND_WORDS, target_name
from .tables import KIB, MIB

HANDLER_KINDS = {
    "streams": "a streams handler (reader, writer)",
    "protocol": "an asyncio.Protocol subclass",
    "factory": "a factory, called once at start,",
}


def mb(value: float | None) -> str:
    return "n/a" if value is None else f"{value / MIB:.2f} MB"


def kb(value: float | None) -> str:
    return "n/a" if value is None else f"{value / KIB:.0f} KB"


def kb1(value: float | None) -> str:
    return "n/a" if value is None else f"{value / KIB:.1f} KB"


def ms(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds * 1000:.1f} ms"


def num(value: float | None, digits: int = 0) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f} %"


def checkpoint_line(cp: dict[str, Any], memory: str = "rss") -> str:
    """One checkpoint; `memory` is the record's target.memory (with --memory uss the column holds USS)."""
    extra = f", {cp['connections']} open" if cp["connections"] else ""
    return f"[{cp['label']}] {memory.upper()}: {mb(cp['rss_bytes'])}, VMS: {mb(cp['vms_bytes'])}{extra}"


def target_lines(rec: Record) -> list[str]:
    """What was measured when it is a server of the user's: process, address, protocol, memory figure."""
    t = rec.get("target")
    if t and t.get("prometheus"):
        return remote.target_lines(t, rec["config"])
    name = target_name(rec)
    if name is None:
        return []
    how = KIND_WORDS.get(t["kind"], t["kind"])
    memory = "USS (unique set size)" if t.get("memory") == "uss" else "RSS"
    tree = ", summed over its child processes" if t.get("include_children") else ""
    where = f", at {t['address']}" if t.get("address") else ""
    spoken = "" if rec["config"].get("scenario") == "observe" else f", protocol {t.get('protocol')}"
    out = [f"Target: {name}, {how}{where}{spoken}; memory is its {memory}{tree}"]
    if t.get("command"):
        out.append(f"Command: {t['command']}")
    elif t.get("cmdline"):
        out.append(f"Command line: {t['cmdline']}")
    return out


def process_lines(rec: Record) -> list[str]:
    procs = (rec.get("target") or {}).get("processes")
    if not procs:
        return []
    out = [f"Processes at [{procs['checkpoint']}] ({procs['scenario']}):"]
    for p in procs["list"]:
        uss = f", USS {mb(p['uss_bytes'])}" if p.get("uss_bytes") is not None else ""
        out.append(f"  {p['pid']} {p['name']}: RSS {mb(p['rss_bytes'])}{uss}")
    return out


def scenario_lines(name: str, fig: dict[str, Any], protocol: str = "echo") -> list[str]:
    if name == "observe":
        return observe_lines(fig)
    if name == "backpressure":
        return backpressure_lines(fig)
    if name == "messages" and protocol != "echo":
        what = {"redis": "ECHO commands answered and checked", "http": "GET requests answered 2xx/3xx"}[protocol]
        return [
            f"{what}: {num(fig['messages_echoed'])} of {num(fig['messages_requested'])}"
            f" over {num(fig['clients'])} connection(s) (failed: {num(fig['messages_mismatched'])})",
            f"Time: {num(fig['elapsed_s'], 3)} s",
            f"Throughput: {num(fig['messages_per_s'])} requests/s",
            f"Memory growth while sending: {kb(fig['memory_growth_bytes'])}",
        ]
    if name == "connections":
        fit = fig["per_connection_fit"]
        how = (f"least-squares slope over {fit['points']} checkpoints, r² {fit['r_squared']:.3f}" if fit
               else "too few checkpoints for a fit")
        return [
            f"{title('connections.connections_created')}: {num(fig['connections_created'])}"
            f" of {num(fig['connections_requested'])}"
            f" (failed: {num(fig['connections_failed'])}"
            + (f"; not made: {num(fig['connections_not_made'])}, the run stopped first"
               if fig.get("connections_not_made") else "") + ")",
            f"{title('connections.client_bytes')}: {kb(fig['client_bytes'])}",
            f"{title('connections.per_connection_bytes')}:"
            f" {headline(fig['per_connection_bytes'], fig.get('fit_reason') if fit else None)}"
            f" ({how}; end minus start: {kb1(fig['per_connection_end_minus_start_bytes'])})",
            f"{title('connections.cleanup_percent')}: {kb(fig['cleanup_returned_bytes'])}"
            f" ({pct(fig['cleanup_percent'])})" + _cleanup_hint(fig),
        ] + ([f"{title('connections.rss_growth_per_round_bytes')} (RSS with every connection open, growth per"
              f" round): {kb(fig['rss_growth_per_round_bytes'])}"]
             if fig.get("rss_growth_per_round_bytes") is not None else [])
    if name == "messages":
        return [
            f"Messages echoed and checked: {num(fig['messages_echoed'])} of {num(fig['messages_requested'])}"
            f" x {num(fig['message_size_bytes'])} bytes over {num(fig['clients'])} connection(s)"
            f" (mismatched: {num(fig['messages_mismatched'])})",
            f"Time: {num(fig['elapsed_s'], 3)} s",
            f"{title('messages.messages_per_s')}: {num(fig['messages_per_s'])} msg/s, {num(fig['mb_per_s'], 2)} MB/s",
            f"{title('messages.memory_growth_bytes')}: {kb(fig['memory_growth_bytes'])}",
        ]
    return [
        f"{title('stability.cycles')}: {num(fig['cycles'])} in {num(fig['duration_s'], 1)} s"
        f" (successful: {num(fig['cycles_ok'])}, failed: {num(fig['cycles_failed'])})",
        f"Peak RSS: {mb(fig['peak_rss_bytes'])}",
        f"{title('stability.drift_bytes')}: {kb(fig['drift_bytes'])}",
    ]


def headline(value: float | None, reason: str | None) -> str:
    """A fitted figure, or why there is none (a fit that explains too little is no figure)."""
    return f"not a figure: {reason}" if value is None and reason else kb1(value)


def observe_lines(fig: dict[str, Any]) -> list[str]:
    """observe: the readings, the phases of the connections, memory per connection on the rises, what releases kept."""
    fit = fig["per_connection_fit"]
    how = (f"least-squares slope over {fit['points']} readings of {fit.get('ramps', 1)} ramp(s),"
           f" r² {fit['r_squared']:.3f}" if fit and fig["per_connection_bytes"] is not None else None)
    out = [
        f"Readings: {num(fig['readings'])} in {num(fig['duration_s'], 1)} s"
        + (" (ended by the user)" if fig.get("stopped_by_user") else ""),
        f"Established connections: {num(fig['connections_min'])} to {num(fig['connections_max'])}",
        f"Memory: {mb(fig['memory_min_bytes'])} to {mb(fig['memory_max_bytes'])}",
        f"Per-connection overhead: {headline(fig['per_connection_bytes'], fig['fit_reason'])}"
        + (f" ({how})" if how else ""),
    ]
    moving = [p for p in fig.get("phases") or [] if p["kind"] != "plateau"]
    if moving:
        out.append("Phases: " + "; ".join(
            f"{p['kind']} {p['connections_from']:,} -> {p['connections_to']:,} ({p['from_s']:.1f}-{p['to_s']:.1f} s)"
            for p in moving))
    for r in fig.get("releases") or []:
        kept = (f", kept {kb(r['kept_bytes'])} ({kb1(r['kept_per_released_bytes'])} per connection)"
                if r["kept_bytes"] is not None else "")
        out.append(f"  released {r['released']:,} connections ({r['from_s']:.1f}-{r['to_s']:.1f} s):"
                   f" gave back {kb(r['returned_bytes'])}{kept}")
    if fig.get("kept_per_released_connection_bytes") is not None:
        out.append(f"Kept after release: {kb1(fig['kept_per_released_connection_bytes'])} per connection closed")
    if fig.get("growth_per_release_bytes") is not None:
        out.append(f"Memory after each release, growth per release: {kb(fig['growth_per_release_bytes'])}")
    return out


def _cleanup_hint(fig: dict[str, Any]) -> str:
    """Why little came back after cleanup need not be a leak, when the run can't tell (one round only)."""
    share = fig.get("cleanup_percent")
    if share is None or share >= 100 * NOT_RELEASED_SHARE or "rss_growth_per_round_bytes" not in fig:
        return ""
    if fig["rss_growth_per_round_bytes"] is not None:
        return ""
    return "; allocators keep freed memory for reuse, so this alone is no leak: --rounds 2 tells them apart"


def bytes_per_cycle(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f} B"


def fit_line_text(fit: dict[str, Any]) -> str:
    term = fit.get("load_term")
    if fit["slope_bytes_per_cycle"] is None or (term and term["terms"][0]["bytes_per_unit"] is None):
        return f"{fit['verdict']} ({fit['reason']})"
    held = ("; the load's share taken out: " + ", ".join(
        f"{bytes_per_cycle(t['bytes_per_unit'])} per {t['unit']}" for t in term["terms"]) if term else "")
    return (f"{fit['verdict']}: {bytes_per_cycle(fit['slope_bytes_per_cycle'])} per cycle"
            f" ({fit['confidence']:.0%} CI {bytes_per_cycle(fit['ci_low_bytes_per_cycle'])}"
            f" to {bytes_per_cycle(fit['ci_high_bytes_per_cycle'])}, trend p {fit['p_value']:.2g};"
            f" {fit['cycles_fitted']} cycles after {fit['warmup_cycles']} warm-up{held})")


def verdict_lines(lv: dict[str, Any] | None) -> list[str]:
    """The scenario's leak verdict: the combined verdict, then the RSS fit and the traced-bytes fit."""
    if lv is None:
        return []
    per = lv["connections_per_cycle"]
    unit = "" if per <= 1 else f" (a cycle is a round of {per} connections)"
    out = [f"Leak verdict: {lv['verdict']}{unit}", f"  RSS growth: {fit_line_text(lv['rss'])}"]
    if lv["traced"] is not None:
        out.append(f"  Traced Python memory growth: {fit_line_text(lv['traced'])}")
    if lv["host_drift_included"]:
        out.append("  (in-app host: includes this process's own drift)")
    return out


def load_lines(rec: Record) -> list[str]:
    """The load a Locust cluster put on the process (--locust): its figures, plateaus, steady part and gaps."""
    load = rec.get("load")
    if not load:
        return []
    fig = load["figures"]
    out = [f"Locust master {load['url']}: {fig['polls']} polls"]
    out += [f"{f.title}: {text}" for f, text in figures.rows(rec, figures.LOAD) if f.unit != "verdict"]
    for name in ("per_user", "per_connection"):
        if fig.get(f"{name}_fit"):
            fit = fig[f"{name}_fit"]
            why = fig.get(f"{name}_reason")
            out.append(f"  {name.replace('_', ' ')}: slope {fit['slope']:,.0f} B,"
                       f" r² {fit['r_squared']:.3f} over {fit['points']} polls of the ramp"
                       + (f" (not a figure: {why})" if why else ""))
    for p in fig["plateaus"]:
        conns = f", {p['connections']:,} connections" if p.get("connections") is not None else ""
        out.append(f"  at {p['users']:,} users ({p['from_s']:.1f}-{p['to_s']:.1f} s{conns}): RSS {mb(p['rss_bytes'])}")
    steady = fig.get("steady")
    if steady:
        lv = steady["leak_verdict"]
        fit = lv["verdict"] + (f" ({lv['reason']})" if lv["slope_bytes_per_cycle"] is None else
                               f": {bytes_per_cycle(lv['slope_bytes_per_cycle'])} per request ({lv['confidence']:.0%}"
                               f" CI {bytes_per_cycle(lv['ci_low_bytes_per_cycle'])} to"
                               f" {bytes_per_cycle(lv['ci_high_bytes_per_cycle'])}, over {lv['cycles_fitted']} polls)")
        out.append(f"Steady part ({steady['users']:,} users, {steady['from_s']:.1f}-{steady['to_s']:.1f} s):"
                   f" drift {kb(steady['drift_bytes'])}; leak verdict {fit}")
    for gap in load["gaps"]:
        to = f"{gap['to_s']:.1f} s" if gap["to_s"] is not None else "the end"
        out.append(f"  the master did not answer from {gap['from_s']:.1f} s to {to}")
    return out


def allocation_lines(alloc: dict[str, Any] | None, top: int = 5) -> list[str]:
    if not alloc:
        return []
    if alloc.get("tool", "tracemalloc") != "tracemalloc":  # heaptrack, LeakSanitizer: at exit, per cycle
        return sites.lines(alloc, top)
    out = [f"Allocation sites that grew most ({alloc['from']} -> {alloc['to']}, tracemalloc):"]
    if not alloc["sites"]:
        out.append("  none grew")
    for site in alloc["sites"][:top]:
        out.append(f"  {site['file']}:{site['line']}: +{kb1(site['size_diff_bytes'])}"
                   f" (+{site['count_diff']:,} blocks; now {kb1(site['size_bytes'])} in {site['count']:,})")
    return out


def cost_lines(rec: Record) -> list[str]:
    """How busy the server's event loop was (its lag) and what the sampler itself cost."""
    s, out = rec["summary"], []
    if s.get("loop_lag_p99_s") is not None:
        role = rec["measured"]["role"]
        where = "the server process's loop" if role == "server" else "the in-app workload thread's loop"
        out.append(f"Event-loop lag of {where}: median {ms(s.get('loop_lag_p50_s'))}, p99 {ms(s['loop_lag_p99_s'])},"
                   f" max {ms(s.get('loop_lag_max_s'))}")
    if s.get("sampler_cpu_percent") is not None:
        out.append(f"Sampler's own CPU: {s['sampler_cpu_percent']:.2f} % of one core")
    return out


def render(rec: Record) -> str:
    """The whole report: a header, each scenario's checkpoints and figures, then the summary."""
    cfg, measured = rec["config"], rec["measured"]
    target = rec.get("target") or {}
    server = "your server's process" if target.get("kind") == "server" else "the echo server's own process"
    what = {"server": server, "app": "this process (server and clients)"}.get(measured["role"], "nothing")
    if target_name(rec):
        what = str(target_name(rec))
    else:
        what = f"{what} (pid {measured['pid']})"
    remote = (target.get("prometheus") or {}).get("reading_every_s")  # read no faster than Prometheus scrapes
    every = f"{remote * 1000:g}" if remote else cfg["interval_ms"]
    out = [
        f"netmem {rec['tool']['version']}: scenario {cfg['scenario']} on the {cfg['host']} host,"
        f" measuring {what}, sampled every {every} ms",
        *target_lines(rec),
    ]
    if target.get("kind") == "server":
        kind = HANDLER_KINDS.get(target.get("handler_kind") or "", "a server object")
        out.append(f"Your server: {target.get('module')}:{target.get('attr')}, {kind} from {target.get('file')}")
    errors = rec.get("server_errors")
    if errors:
        out += [f"Errors in your server's code: {errors['connections']:,} connection(s) ended by an exception"
                f" (each closed, as asyncio does); the first:", *("  " + line for line in
                                                                     (errors["first"] or "").splitlines())]
    protocol = cfg.get("protocol", "echo")
    for name, fig in rec["scenarios"].items():
        out += ["", f"=== {SCOPE_TITLES[name]} ==="]
        memory = (rec.get("target") or {}).get("memory") or "rss"
        out += [checkpoint_line(cp, memory) for cp in rec["checkpoints"] if cp["scenario"] == name]
        out += scenario_lines(name, fig, protocol)
        out += verdict_lines(fig.get("leak_verdict"))
        out += allocation_lines(rec.get("allocations", {}).get(name))
    if rec.get("load"):
        out += ["", f"=== {SCOPE_TITLES[figures.LOAD]} ===", *load_lines(rec)]
    s = rec["summary"]
    rule = s["baseline_rule"]
    out += [
        "",
        "=== Summary ===",
        f"Baseline RSS: {mb(s['baseline_rss_bytes'])}  Peak RSS: {mb(s['peak_rss_bytes'])}"
        f"  Final RSS: {mb(s['final_rss_bytes'])}  Samples: {len(rec['samples']['t_s'])}",
        f"{title('summary.delta_bytes')}: {kb(s['delta_bytes'])}",
        f"Baseline rule: {rule['verdict'] or 'n/a'} ({rule['rule']})",
    ]
    lv = s.get("leak_verdict")
    if lv is not None:
        which = ", ".join(lv["scenarios"]) if lv["scenarios"] else "no scenario with repeated cycles"
        out.append(f"Leak verdict (growth per cycle in steady state): {lv['verdict'] or 'n/a'} ({which})")
    out += kernel_lines(s, (rec.get("kernel_sockets") or {}).get("period_s"))
    out += cost_lines(rec)
    if cfg.get("inject_leak_bytes"):
        out.append(f"Injected leak: {cfg['inject_leak_bytes']:,} B kept per accepted connection (--inject-leak)")
    out += process_lines(rec)
    if not rec["completed"]:
        out.append(f"Run incomplete: {rec['stop_reason'] or 'stopped before the end'}")
    if "findings" in rec:
        out += ["", FOUND_HEADING, *findings_lines(rec["findings"])]
    return "\n".join(out)


NOTHING_FOUND_WHY = ("the run shows none of the symptoms netmem looks for (memory growing over time, high"
                   " per-connection memory, memory not released after cleanup).")
NOTHING_FOUND = f"No findings: {NOTHING_FOUND_WHY}"
FOUND_HEADING = "=== Findings ==="


def evidence_text(item: dict[str, Any]) -> str:
    """One figure of a finding's evidence with its unit: "Per-connection overhead 66.1 KB"."""
    value, unit = item["value"], item["unit"]
    if value is None:
        shown = "n/a"
    elif isinstance(value, str):
        shown = value
    elif unit.startswith("bytes"):
        shown = tables.size(value) + unit.removeprefix("bytes")
    elif unit == "%":
        shown = tables.percent(value)
    else:
        shown = f"{tables.number(value, 0 if float(value).is_integer() else 3)}{' ' + unit if unit else ''}"
    return f"{item['name']}: {shown}"


def finding_title(finding: dict[str, Any]) -> str:
    where = f" ({finding['scenario']})" if finding.get("scenario") else ""
    return f"{finding['symptom']}{where}: {finding['diagnosis']}"


def findings_lines(found: list[dict[str, Any]]) -> list[str]:
    """The findings as the report prints them: symptom and diagnosis, evidence, numbered next steps."""
    if not found:
        return [NOTHING_FOUND]
    out = []
    for i, finding in enumerate(found, 1):
        out.append(f"{i}. {finding_title(finding)}")
        out.append("   Evidence: " + "; ".join(evidence_text(e) for e in finding["evidence"]))
        out.append("   Next steps:")
        for step in finding["next_steps"]:
            out.append(f"   - {step['text']}" + (":" if step["command"] and not step["text"].endswith(":") else ""))
            if step["command"]:
                out.append(f"       {step['command']}")
    return out
