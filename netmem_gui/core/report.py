"""The text report of a run record, shaped like the seed demo's output (KB = 1024 bytes, MB = 1024 KB)."""

from __future__ import annotations

from typing import Any

from .record import Record

TITLES = {
    "connections": "Connection Profiling",
    "messages": "Message Throughput Profiling",
    "stability": "Long-Running Stability",
}


def mb(value: float | None) -> str:
    return "n/a" if value is None else f"{value / 1048576:.2f} MB"


def kb(value: float | None) -> str:
    return "n/a" if value is None else f"{value / 1024:.0f} KB"


def kb1(value: float | None) -> str:
    return "n/a" if value is None else f"{value / 1024:.1f} KB"


def num(value: float | None, digits: int = 0) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f} %"


def checkpoint_line(cp: dict[str, Any]) -> str:
    extra = f", {cp['connections']} open" if cp["connections"] else ""
    return f"[{cp['label']}] RSS: {mb(cp['rss_bytes'])}, VMS: {mb(cp['vms_bytes'])}{extra}"


def scenario_lines(name: str, fig: dict[str, Any]) -> list[str]:
    if name == "connections":
        fit = fig["per_connection_fit"]
        how = (f"least-squares slope over {fit['points']} checkpoints, r² {fit['r_squared']:.3f}" if fit
               else "too few checkpoints for a fit")
        return [
            f"Connections created: {num(fig['connections_created'])} of {num(fig['connections_requested'])}"
            f" (failed: {num(fig['connections_failed'])})",
            f"Memory taken by connections: {kb(fig['client_bytes'])}",
            f"Per-connection overhead: {kb1(fig['per_connection_bytes'])} ({how};"
            f" end minus start: {kb1(fig['per_connection_end_minus_start_bytes'])})",
            f"Memory returned by cleanup: {kb(fig['cleanup_returned_bytes'])} ({pct(fig['cleanup_percent'])})",
        ]
    if name == "messages":
        return [
            f"Messages echoed and checked: {num(fig['messages_echoed'])} of {num(fig['messages_requested'])}"
            f" x {num(fig['message_size_bytes'])} bytes over {num(fig['clients'])} connection(s)"
            f" (mismatched: {num(fig['messages_mismatched'])})",
            f"Time: {num(fig['elapsed_s'], 3)} s",
            f"Throughput: {num(fig['messages_per_s'])} msg/s, {num(fig['mb_per_s'], 2)} MB/s",
            f"Memory growth while sending: {kb(fig['memory_growth_bytes'])}",
        ]
    return [
        f"Iterations: {num(fig['iterations'])} in {num(fig['duration_s'], 1)} s"
        f" (successful cycles: {num(fig['cycles_ok'])}, failed: {num(fig['cycles_failed'])})",
        f"Peak RSS: {mb(fig['peak_rss_bytes'])}",
        f"Drift: {kb(fig['drift_bytes'])}",
    ]


def render(rec: Record) -> str:
    """The whole report: a header, each scenario's checkpoints and figures, then the summary."""
    cfg, measured = rec["config"], rec["measured"]
    what = {"server": "the echo server's own process", "app": "this process (server and clients)"}.get(
        measured["role"], "nothing")
    out = [
        f"netmem {rec['tool']['version']}: scenario {cfg['scenario']} on the {cfg['host']} host,"
        f" measuring {what} (pid {measured['pid']}), sampled every {cfg['interval_ms']} ms",
    ]
    for name, fig in rec["scenarios"].items():
        out += ["", f"=== {TITLES[name]} ==="]
        out += [checkpoint_line(cp) for cp in rec["checkpoints"] if cp["scenario"] == name]
        out += scenario_lines(name, fig)
    s = rec["summary"]
    rule = s["seed_leak_rule"]
    out += [
        "",
        "=== Summary ===",
        f"Baseline RSS: {mb(s['baseline_rss_bytes'])}  Peak RSS: {mb(s['peak_rss_bytes'])}"
        f"  Final RSS: {mb(s['final_rss_bytes'])}  Samples: {len(rec['samples']['t_s'])}",
        f"Memory delta from baseline: {kb(s['delta_bytes'])}",
        f"Memory leak indicator: {rule['verdict'] or 'n/a'} (the seed's rule: {rule['rule']})",
    ]
    if not rec["completed"]:
        out.append(f"Run incomplete: {rec['stop_reason'] or 'stopped before the end'}")
    return "\n".join(out)
