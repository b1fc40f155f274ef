"""The kernel's share of the measured process's TCP sockets: its figures (summary) and its lines in the report."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import tables

KEYS = ("kernel_peak_bytes", "kernel_peak_sockets", "kernel_per_connection_bytes", "kernel_recv_memory_bytes",
        "kernel_send_memory_bytes", "kernel_recv_queue_bytes", "kernel_send_queue_bytes", "kernel_final_bytes")


def kernel_figures(columns: tuple[np.ndarray, ...], unavailable: str | None) -> dict[str, Any]:
    """The summary's kernel socket figures: the peak of receive plus send memory, the sockets and queues at that
    reading, per connection, and the last reading; all None (and `kernel_sockets_note` why) without readings."""
    out: dict[str, Any] = dict.fromkeys(KEYS)
    _, sockets, rq, wq, rmem, wmem = columns
    if not sockets.size:
        out["kernel_sockets_note"] = unavailable or "no reading of the kernel's socket memory was taken"
        return out
    total = rmem + wmem
    i = int(np.lexsort((sockets, total))[-1])  # the most memory; of equal readings, the most sockets
    out.update({
        "kernel_sockets_note": None,
        "kernel_peak_bytes": int(total[i]),
        "kernel_peak_sockets": int(sockets[i]),
        "kernel_per_connection_bytes": float(total[i]) / int(sockets[i]) if sockets[i] else None,
        "kernel_recv_memory_bytes": int(rmem[i]), "kernel_send_memory_bytes": int(wmem[i]),
        "kernel_recv_queue_bytes": int(rq[i]), "kernel_send_queue_bytes": int(wq[i]),
        "kernel_final_bytes": int(total[-1]),
    })
    return out


def kernel_lines(summary: dict[str, Any], period_s: float | None) -> list[str]:
    """The report's lines on the kernel's share (in the summary)."""
    if summary.get("kernel_peak_bytes") is None:
        note = summary.get("kernel_sockets_note")
        return [f"Kernel socket memory: {note}"] if note else []
    every = f", read every {period_s:g} s" if period_s else ""
    per = summary.get("kernel_per_connection_bytes")
    return [
        f"Kernel socket memory (the measured process's own TCP sockets{every}): peak"
        f" {tables.size(summary['kernel_peak_bytes'])} over {summary['kernel_peak_sockets']:,} socket(s)"
        + (f", {tables.size(per)} per connection" if per is not None else "")
        + f"; final {tables.size(summary['kernel_final_bytes'])}",
        f"  at the peak: receive {tables.size(summary['kernel_recv_memory_bytes'])}"
        f" ({tables.size(summary['kernel_recv_queue_bytes'])} unread), send"
        f" {tables.size(summary['kernel_send_memory_bytes'])} ({tables.size(summary['kernel_send_queue_bytes'])}"
        " not yet sent or acknowledged); RSS does not count any of it",
    ]
