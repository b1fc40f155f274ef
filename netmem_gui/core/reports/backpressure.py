"""The backpressure verdict: does the server's memory follow what it can't send? Its figures, lines and finding.

BOUNDED when the server stopped reading (sending made no progress for the last STALLED_S while the connections
stayed open), when it dropped the slow clients, or when memory did not follow the bytes sent; UNBOUNDED when the
Theil-Sen slope of memory against bytes sent is above UNBOUNDED_SLOPE with 95 % confidence (and memory grew by
more than MIN_GROWTH_BYTES). docs/backpressure.md says why the thresholds are what they are.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import tables
from .analysis import theil_sen
from .tables import MIB

# A server that queues what it can't send keeps about a byte per byte (asyncio without drain(): 0.94; redis with
# no output limit: 1.1); one that stops reading keeps nothing more (0.00-0.02). A quarter sits far from both.
UNBOUNDED_SLOPE = 0.25  # bytes of memory per byte sent
MIN_GROWTH_BYTES = 4 * MIB  # less than this over a whole run is not called unbounded, whatever the slope
STALLED_S = 1.0  # no byte taken for this long at the end of sending: the server stopped reading
MAX_FIT_POINTS = 400


def backpressure_figures(counts: dict[str, Any], sent: dict[str, list[Any]] | None,
                         kernel: tuple[np.ndarray, ...] | None) -> dict[str, Any]:
    """The scenario's figures, its verdict and where the memory sits (user space: RSS growth while sending;
    kernel: the measured process's socket memory at the last kernel reading before sending ended)."""
    series = sent or {"t_s": [], "sent_bytes": [], "memory_bytes": []}
    t = np.asarray(series["t_s"], dtype=np.float64)
    x = np.asarray(series["sent_bytes"], dtype=np.float64)
    y = np.asarray(series["memory_bytes"], dtype=np.float64)
    # The server's memory is its user space and what the kernel holds for its sockets: a server that stops reading
    # and one that queues what it can't send both fill their socket buffers first, RSS sees only the second.
    held = series.get("kernel_bytes")
    total = y + np.asarray(held, dtype=np.float64) if held is not None and len(held) == y.size else y
    fig: dict[str, Any] = {
        key: counts.get(key) for key in (
            "connections_requested", "connections_created", "connections_failed", "last_connection_error",
            "connections_dropped", "dropped_after_bytes", "sent_bytes", "read_bytes", "send_limit_bytes",
            "limit_reached", "read_rate", "protocol", "request_bytes", "elapsed_s", "idle_at_end_s",
            "kernel_at_end")
    }
    fig["readings"] = int(t.size)
    fig["memory_growth_bytes"] = int(total[-1] - total[0]) if total.size else None
    fig["user_space_growth_bytes"] = int(y[-1] - y[0]) if y.size else None  # RSS (or USS) while sending
    at_end = counts.get("kernel_at_end")
    if at_end:
        fig["kernel_bytes"] = at_end["recv_memory_bytes"] + at_end["send_memory_bytes"]
    else:
        fig["kernel_bytes"] = _kernel_at(kernel, float(t[-1])) if t.size else None
    fit = _fit(x, total)
    fig["kernel_in_fit"] = total is not y
    fig["memory_per_mb_sent_bytes"] = fit and fit["slope"] * MIB
    fig["ci_low_bytes"] = fit and fit["ci_low"] * MIB
    fig["ci_high_bytes"] = fit and fit["ci_high"] * MIB
    fig["points_fitted"] = fit and fit["points"]
    fig["verdict"], fig["reason"], fig["bounded_by"] = _verdict(fig, fit)
    return fig


def _fit(x: np.ndarray, y: np.ndarray) -> dict[str, Any] | None:
    """Memory against bytes sent, over the second half of them and the last reading at each count of bytes: the
    server's memory lags what was sent (it waits in the kernel first); the last reading came after it caught up."""
    if x.size < 3:
        return None
    keep = np.concatenate([np.diff(x) > 0, [True]])
    x, y = x[keep], y[keep]
    # The second half of what was sent: the socket buffers fill first, a byte per byte whatever the server does,
    # and a server that slows to a reading client's pace levels off only after they are full.
    later = x >= x[-1] / 2
    if np.count_nonzero(later) >= 3:
        x, y = x[later], y[later]
    if x.size > MAX_FIT_POINTS:
        pick = np.linspace(0, x.size - 1, MAX_FIT_POINTS).astype(int)
        x, y = x[pick], y[pick]
    return theil_sen(x, y)


def _kernel_at(kernel: tuple[np.ndarray, ...] | None, until: float) -> int | None:
    if kernel is None or not kernel[0].size:
        return None
    t, _, _, _, rmem, wmem = kernel
    before = np.flatnonzero(t <= until + 0.5)
    i = int(before[-1]) if before.size else 0
    return int(rmem[i] + wmem[i])


def _verdict(fig: dict[str, Any], fit: dict[str, Any] | None) -> tuple[str | None, str, str | None]:
    """(BOUNDED, UNBOUNDED or INCONCLUSIVE; why, in words; what bounded it: "stopped reading", "dropped the slow
    clients", "memory did not follow", or None)."""
    created, dropped = fig["connections_created"] or 0, fig["connections_dropped"] or 0
    sent = fig["sent_bytes"] or 0
    if not created:
        return None, "no connection was made", None
    if dropped == created:
        after = fig["dropped_after_bytes"] if fig["dropped_after_bytes"] is not None else sent
        return ("BOUNDED", f"the server dropped the slow clients: it closed all {created} connection(s), the first"
                f" after {tables.size(after)} sent", "dropped the slow clients")
    idle = fig["idle_at_end_s"] or 0.0
    if not fig["limit_reached"] and idle >= STALLED_S:
        also = f"; it closed {dropped} of {created} connection(s)" if dropped else ""
        return ("BOUNDED", f"the server stopped reading: it took nothing for the last {idle:.1f} s of sending, after"
                f" {tables.size(sent)}{also}", "stopped reading")
    if fit is None:
        return "INCONCLUSIVE", "too few readings to fit memory against bytes sent", None
    growth = fig["memory_growth_bytes"] or 0
    user = fig["user_space_growth_bytes"] or 0
    if fit["ci_low"] > UNBOUNDED_SLOPE and growth > MIN_GROWTH_BYTES and user <= MIN_GROWTH_BYTES:
        # Everything sent still fits in the socket buffers (a few MB a connection): a server that stops reading
        # and one that queues without a bound look the same until they are full.
        return ("INCONCLUSIVE", f"all {tables.size(sent)} sent fit in the kernel's socket buffers; a bigger"
                " --send-limit tells a server that stops reading from one that queues", None)
    if fit["ci_low"] > UNBOUNDED_SLOPE and growth > MIN_GROWTH_BYTES:
        return ("UNBOUNDED", f"memory grows {tables.size(fit['slope'] * MIB)} per MB sent and not read"
                f" (95 % CI {tables.size(fit['ci_low'] * MIB)} to {tables.size(fit['ci_high'] * MIB)})", None)
    if fit["ci_high"] < UNBOUNDED_SLOPE or growth <= MIN_GROWTH_BYTES:
        return ("BOUNDED", f"the server's memory levelled off while it kept taking what was sent (as fast as it"
                f" was read, or dropping it): {tables.size(fit['slope'] * MIB)} per MB sent over the second half,"
                f" {tables.size(growth)} in all, user space and kernel", "memory did not follow")
    return ("INCONCLUSIVE", f"{tables.size(fit['slope'] * MIB)} per MB sent, but the 95 % interval"
            f" ({tables.size(fit['ci_low'] * MIB)} to {tables.size(fit['ci_high'] * MIB)}) straddles"
            f" {tables.size(UNBOUNDED_SLOPE * MIB)}", None)


def backpressure_lines(fig: dict[str, Any]) -> list[str]:
    """The report's lines for the scenario."""
    rate = fig.get("read_rate") or 0
    reading = "never read" if not rate else f"read at {tables.size(rate)}/s each"
    out = [f"Connections: {fig.get('connections_created') or 0} of {fig.get('connections_requested') or 0}"
           f" (failed: {fig.get('connections_failed') or 0};"
           f" closed by the server: {fig.get('connections_dropped') or 0});"
           f" replies {reading}, protocol {fig.get('protocol')}"]
    if fig.get("last_connection_error"):
        out.append(f"Last connection error: {fig['last_connection_error']}")
    limit = " (the send limit)" if fig.get("limit_reached") else ""
    out.append(f"Sent: {tables.size(fig.get('sent_bytes'))}{limit} in {fig.get('elapsed_s') or 0:.1f} s;"
               f" read back: {tables.size(fig.get('read_bytes'))}")
    if fig.get("memory_per_mb_sent_bytes") is not None:
        # Before a server stops reading, what it takes fills its socket buffers: a byte per byte, and bounded.
        until = {"stopped reading": ", until it stopped reading", "dropped the slow clients": ", until it dropped them"}
        out.append(f"Server memory per MB sent{until.get(fig.get('bounded_by') or '', '')}:"
                   f" {tables.size(fig['memory_per_mb_sent_bytes'])} (95 % CI"
                   f" {tables.size(fig['ci_low_bytes'])} to {tables.size(fig['ci_high_bytes'])}, Theil-Sen over"
                   f" {fig['points_fitted']} readings; "
                   + ("user space and kernel)" if fig.get("kernel_in_fit") else "user space only)"))
    out.append(f"Backpressure: {fig.get('verdict') or 'n/a'} ({fig.get('reason')})")
    kernel = fig.get("kernel_bytes")
    out.append(f"Where the memory sits: user space {tables.size(fig.get('user_space_growth_bytes'), signed=True)}"
               " (RSS growth while sending), kernel "
               + ("not available" if kernel is None else f"{tables.size(kernel)} (the process's socket buffers at"
                  " the end of sending" + (", none left open)" if not (fig.get("kernel_at_end") or {}).get("sockets")
                                           else ")")))
    return out


def unread_output(rec: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    """The finding "memory grows with unread output": the backpressure verdict is UNBOUNDED."""
    fig = (rec.get("scenarios") or {}).get("backpressure") or {}
    if fig.get("verdict") != "UNBOUNDED":
        return []
    target = rec.get("target") or {}
    name = f"{target.get('name') or ''} {target.get('cmdline') or ''}".lower()
    evidence = [
        {"name": "Backpressure", "value": "UNBOUNDED", "unit": ""},
        {"name": "Server memory per MB sent", "value": fig["memory_per_mb_sent_bytes"], "unit": "bytes/MB"},
        {"name": "95 % confidence interval, low end", "value": fig["ci_low_bytes"], "unit": "bytes/MB"},
        {"name": "Sent, not read", "value": fig["sent_bytes"], "unit": "bytes"},
        {"name": "User space growth", "value": fig["user_space_growth_bytes"], "unit": "bytes"},
    ]
    if fig.get("kernel_bytes") is not None:
        evidence.append({"name": "Kernel socket memory", "value": fig["kernel_bytes"], "unit": "bytes"})
    steps = _steps(kind, "redis" in name or (target.get("protocol") == "redis" and kind in ("attach", "spawn")))
    return [{"id": "unread-output", "symptom": "Memory grows with unread output", "scenario": "backpressure",
             "diagnosis": f"the server queues replies a slow client does not read, without a bound: {fig['reason']}",
             "evidence": evidence, "next_steps": steps}]


def _steps(kind: str, redis: bool) -> list[dict[str, Any]]:
    def step(text: str, command: str | None = None) -> dict[str, Any]:
        return {"text": text, "command": command}
    if redis:
        return [step("Give normal clients an output buffer limit, so that redis closes a client whose unread"
                     " replies pass it (the default, 0 0 0, has none)",
                     "redis-cli CONFIG SET client-output-buffer-limit 'normal 64mb 16mb 60'"),
                step("Check what a client holds now: omem in CLIENT LIST is its output buffer",
                     "redis-cli CLIENT LIST")]
    if kind in ("builtin", "server"):
        return [step("asyncio streams: await writer.drain() after each write, so the handler stops reading while"
                     " the client does not"),
                step("asyncio protocols: stop reading in pause_writing() (transport.pause_reading()) and resume in"
                     " resume_writing(); transport.set_write_buffer_limits(high=...) sets where that happens"),
                step("Or close a client whose transport.get_write_buffer_size() passes a limit")]
    return [step("Bound the per-connection output queue: stop reading from a client whose replies pile up"
                 " (backpressure), or drop it past a limit"),
            step("Look for write calls that never wait (a non-blocking send into a growing buffer) and for queues"
                 " between reading and writing that have no size limit")]
