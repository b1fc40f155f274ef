"""One real small record, made once per test session, and synthetic records made by editing its figures."""

from __future__ import annotations

import copy
import functools
from typing import Any

from conftest import run_to_end, small_config

from netmem_gui.core.records import record


@functools.cache
def _real() -> record.Record:
    rec = run_to_end(small_config("all", "inapp", connections=4, messages=100, duration_s=0.3)).record()
    return record.validate(rec)


def real_record() -> record.Record:
    """A fresh copy of a real `all` record (in-app host, small counts): edit it freely."""
    return copy.deepcopy(_real())


def edited(rec: record.Record | None = None, **figures: Any) -> record.Record:
    """A copy of `rec` (default: the real record) with figures set: summary keys by name, scenario figures as
    "scenario__figure" (for example connections__per_connection_bytes=2000), and leak_verdict="OK" sets the
    trend verdict. The result is still a valid record."""
    out = copy.deepcopy(rec) if rec is not None else real_record()
    for key, value in figures.items():
        if key == "leak_verdict":
            out["summary"][key] = {"verdict": value, "scenarios": [], "rule": "trend verdict (test)"}
        elif "__" in key:
            scenario, name = key.split("__")
            out["scenarios"][scenario][name] = value
        else:
            out["summary"][key] = value
    # A different start time and samples make it another run, not the same one relabelled.
    out["started_at"] = out["started_at"][:-4] + "999Z"
    out["samples"] = {k: list(v) for k, v in out["samples"].items()}
    out["samples"]["t_s"] = [t + 1e-4 for t in out["samples"]["t_s"]]
    return record.validate(out)


def without_leak_verdict(rec: record.Record) -> record.Record:
    """`rec` as a record made before the trend verdict existed: only the baseline rule."""
    out = copy.deepcopy(rec)
    out["summary"].pop("leak_verdict", None)
    return record.validate(out)
