"""Expected values: a TOML file of what a run should measure (the C++ guide's tables), checked against a record.

Why TOML: the file is written and reviewed by people, next to the code it guards; TOML allows comments (to say
where a value was calibrated), reads like the C++ guide's tables, and Python 3.11 reads it with `tomllib`, so it
costs no dependency. The parsed document is validated against `schema/expectations-1.schema.json`.

How each expectation is judged:

* `[[connections.rss]]` (RSS with N connections open): the points are the connections scenario's checkpoints
  "After server start" and every "After N connections", by the connections open at each. A point with
  exactly N open gives the measured RSS; otherwise it is interpolated linearly between the two points on either
  side of N. N outside the points measured is "not measured" (no extrapolation). Met when
  |measured - rss| <= tolerance.
* `[connections.per_connection]`: the per-connection overhead figure (least-squares slope), met when
  |measured - bytes| <= tolerance. Both directions count: a figure far below what was expected means the run
  measured something else.
* `max_*` and `min_*`: met when the figure is at most (at least) the value.
* `summary.verdict`: met when the run's leak verdict is that text.
* A percentage tolerance is a percentage of the expected value.
* A figure the run did not measure (its scenario didn't run, or the run stopped first) is "not measured":
  listed, not a breach.
"""

from __future__ import annotations

import functools
import json
import os
import re
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import jsonschema

from ..errors import NetmemError
from ..records import files
from ..records.record import Record
from ..text import shown
from . import tables
from .analysis import AFTER_N_CONNECTIONS
from .figures import title
from .measured import target_name, target_text
from .verdict import recorded_verdict

SCHEMA_ID = "netmem.expectations/1"
SCHEMA_RESOURCE = "expectations-1.schema.json"
MET, BREACHED, NOT_MEASURED = "met", "breached", "not measured"
_UNITS = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB)\s*$")
_PERCENT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")


class ExpectationsError(NetmemError, ValueError):
    """An expectations file that can't be used; the message is one line naming the file and the problem."""


@functools.cache
def schema() -> dict[str, Any]:
    text = resources.files("netmem_gui.core.schema").joinpath(SCHEMA_RESOURCE).read_text(encoding="utf-8")
    return json.loads(text)


def parse_size(value: int | str) -> float:
    """Bytes from an integer or "512 KB" / "21.9 MB" (KB = 1024 bytes)."""
    if isinstance(value, int):
        return float(value)
    match = _SIZE.match(value)
    if not match:
        raise ExpectationsError(f"not a size: {value!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def tolerance_bytes(tolerance: int | str, expected: float) -> float:
    """A tolerance in bytes: a size as it is, or a percentage of the expected value."""
    if isinstance(tolerance, str):
        match = _PERCENT.match(tolerance)
        if match:
            return abs(expected) * float(match.group(1)) / 100.0
    return parse_size(tolerance)


def validate(doc: Any, source: str = "expectations") -> dict[str, Any]:
    """Return doc if it is a valid expectations document; else raise ExpectationsError in one line."""
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA_ID:
        found = doc.get("schema") if isinstance(doc, dict) else None
        what = f"schema {found!r}" if found is not None else "no schema tag"
        raise ExpectationsError(f"{source}: not a {SCHEMA_ID} file ({what}; the first line should be"
                                f" schema = \"{SCHEMA_ID}\")")
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema()).iter_errors(doc))
    if error is not None:
        where = ".".join(str(p) for p in error.absolute_path) or "(top level)"
        message = shown(error.message)
        message = message if len(message) <= 160 else message[:160] + "..."
        raise ExpectationsError(f"{shown(source)}: invalid at {shown(where)}: {message}")
    return doc


def load(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read, parse (TOML) and validate an expectations file; ExpectationsError (one line) for anything else."""
    name = os.fspath(path)
    text = files.read_user_file(path, "an expectations file", ExpectationsError)
    return validate(files.parse_toml(text, name, ExpectationsError), name)


@dataclass(frozen=True)
class Judgement:
    """One expectation, judged: `status` is "met", "breached" or "not measured"."""

    key: str  # where it sits in the file, e.g. "connections.rss[2]"
    title: str
    expected: str
    measured: float | str | None
    measured_text: str
    status: str
    detail: str | None = None


@dataclass
class CheckReport:
    """Every expectation of a file judged against one run. Plain data; `to_dict()` is the JSON `check` prints."""

    run: str
    expectations: str
    description: str | None
    outcomes: list[Judgement] = field(default_factory=list)
    target: str | None = None  # a line saying the run measured a server of the user's, not netmem's own

    @property
    def breached(self) -> list[Judgement]:
        return [o for o in self.outcomes if o.status == BREACHED]

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": "netmem.check/1",
            "run": self.run,
            "expectations": self.expectations,
            "description": self.description,
            "target": self.target,
            "breached": bool(self.breached),
            "counts": {s: self.count(s) for s in (MET, BREACHED, NOT_MEASURED)},
            "outcomes": [vars(o) for o in self.outcomes],
        }


def rss_points(rec: Record) -> list[tuple[int, int, str]]:
    """(connections open, RSS, checkpoint label) of the connections scenario's "After server start" and every
    "After N connections" checkpoint, by connections open."""
    points = [(int(cp["connections"]), int(cp["rss_bytes"]), cp["label"]) for cp in rec["checkpoints"]
              if cp["scenario"] == "connections"
              and (cp["label"] == "After server start" or AFTER_N_CONNECTIONS.match(cp["label"]))]
    return sorted(points)


def rss_at(rec: Record, connections: int) -> tuple[float, str] | None:
    """RSS with `connections` open: a checkpoint's, or interpolated between the two either side; None outside."""
    points = rss_points(rec)
    for n, rss, label in points:
        if n == connections:
            return float(rss), f"checkpoint \"{label}\""
    below = [p for p in points if p[0] < connections]
    above = [p for p in points if p[0] > connections]
    if not below or not above:
        return None
    (n0, r0, l0), (n1, r1, l1) = below[-1], above[0]
    value = r0 + (r1 - r0) * (connections - n0) / (n1 - n0)
    return value, f"interpolated between \"{l0}\" and \"{l1}\""


def _within(key: str, title: str, measured: float | None, how: str, expected_raw: int | str,
            tolerance: int | str) -> Judgement:
    expected = parse_size(expected_raw)
    tol = tolerance_bytes(tolerance, expected)
    # Shown as the file wrote them, so that a reader finds the line to edit.
    expected_text = f"{expected_raw if isinstance(expected_raw, str) else tables.size(expected)}" \
                    f" ± {tolerance if isinstance(tolerance, str) else tables.size(tol)}"
    if measured is None:
        return Judgement(key, title, expected_text, None, "n/a", NOT_MEASURED, how)
    off = measured - expected
    status = MET if abs(off) <= tol else BREACHED
    detail = f"{how}; {tables.size(off, signed=True)} from expected"
    return Judgement(key, title, expected_text, measured, tables.size(measured), status, detail)


def _limit(key: str, title: str, measured: float | None, limit: float, kind: str, unit: str) -> Judgement:
    def fmt(v: float) -> str:
        return tables.size(v) if unit == "bytes" else tables.number(v) + (f" {unit}" if unit else "")

    expected_text = f"{'at most' if kind == 'max' else 'at least'} {fmt(limit)}"
    if measured is None:
        return Judgement(key, title, expected_text, None, "n/a", NOT_MEASURED, None)
    ok = measured <= limit if kind == "max" else measured >= limit
    return Judgement(key, title, expected_text, measured, fmt(measured), MET if ok else BREACHED)


def check(rec: Record, doc: dict[str, Any], run_name: str = "run", expectations_name: str = "expectations"
          ) -> CheckReport:
    """Judge every expectation of a validated document against a record."""
    report = CheckReport(run_name, expectations_name, doc.get("description"))
    if target_name(rec) is not None:
        # Expectations are usually calibrated on netmem's own echo server: say plainly when this run measured another.
        report.target = f"The run measured {target_text(rec)}, not netmem's built-in echo server."
    add = report.outcomes.append
    host = doc.get("applies_to", {}).get("host")
    if host is not None:
        actual = rec["config"]["host"]
        add(Judgement("applies_to.host", "Host", host, actual, actual, MET if actual == host else BREACHED,
                    None if actual == host else "these values were calibrated for another host"))
    figures = rec["scenarios"]
    conn = figures.get("connections", {})
    exp_conn = doc.get("connections", {})
    for i, row in enumerate(exp_conn.get("rss", [])):
        found = rss_at(rec, row["connections"]) if "connections" in figures else None
        measured, how = found if found else (None, "no checkpoint at or around this count")
        add(_within(f"connections.rss[{i}]", f"RSS with {row['connections']:,} connections", measured, how,
                    row["rss"], row["tolerance"]))
    if "per_connection" in exp_conn:
        pc = exp_conn["per_connection"]
        add(_within("connections.per_connection", title("connections.per_connection_bytes"),
                    conn.get("per_connection_bytes"), "least-squares slope", pc["bytes"], pc["tolerance"]))
    if "max_failed" in exp_conn:
        add(_limit("connections.max_failed", title("connections.connections_failed"), conn.get("connections_failed"),
                   exp_conn["max_failed"], "max", ""))
    msg, exp_msg = figures.get("messages", {}), doc.get("messages", {})
    if "min_per_s" in exp_msg:
        add(_limit("messages.min_per_s", title("messages.messages_per_s"), msg.get("messages_per_s"),
                   exp_msg["min_per_s"], "min", "msg/s"))
    if "max_growth" in exp_msg:
        add(_limit("messages.max_growth", title("messages.memory_growth_bytes"), msg.get("memory_growth_bytes"),
                   parse_size(exp_msg["max_growth"]), "max", "bytes"))
    if "max_mismatched" in exp_msg:
        add(_limit("messages.max_mismatched", title("messages.messages_mismatched"), msg.get("messages_mismatched"),
                   exp_msg["max_mismatched"], "max", ""))
    stab, exp_stab = figures.get("stability", {}), doc.get("stability", {})
    if "max_drift" in exp_stab:
        add(_limit("stability.max_drift", title("stability.drift_bytes"), stab.get("drift_bytes"),
                   parse_size(exp_stab["max_drift"]), "max", "bytes"))
    if "max_peak_rss" in exp_stab:
        add(_limit("stability.max_peak_rss", title("stability.peak_rss_bytes"), stab.get("peak_rss_bytes"),
                   parse_size(exp_stab["max_peak_rss"]), "max", "bytes"))
    if "max_failed" in exp_stab:
        add(_limit("stability.max_failed", title("stability.cycles_failed"), stab.get("cycles_failed"),
                   exp_stab["max_failed"], "max", ""))
    summ, exp_summ = rec["summary"], doc.get("summary", {})
    if "max_peak_rss" in exp_summ:
        add(_limit("summary.max_peak_rss", title("summary.peak_rss_bytes"), summ.get("peak_rss_bytes"),
                   parse_size(exp_summ["max_peak_rss"]), "max", "bytes"))
    if "max_delta" in exp_summ:
        add(_limit("summary.max_delta", title("summary.delta_bytes"), summ.get("delta_bytes"),
                   parse_size(exp_summ["max_delta"]), "max", "bytes"))
    if "verdict" in exp_summ:
        verdict, source = recorded_verdict(rec)
        status = NOT_MEASURED if verdict is None else (MET if verdict == exp_summ["verdict"] else BREACHED)
        add(Judgement("summary.verdict", title("summary.verdict"), exp_summ["verdict"], verdict, verdict or "n/a",
                    status, f"from {source}"))
    return report


# ---- rendering -------------------------------------------------------------------------------------------------

def _totals(report: CheckReport) -> str:
    met, breached, missing = (report.count(s) for s in (MET, BREACHED, NOT_MEASURED))
    head = "BREACHED" if breached else "All expectations met"
    extra = f", {missing} not measured" if missing else ""
    return f"{head}: {met} met, {breached} breached{extra}."


def _rows(report: CheckReport, markdown: bool) -> list[list[str]]:
    rows = []
    for o in report.outcomes:
        status = o.status.upper() if o.status == BREACHED else o.status
        if markdown and o.status == BREACHED:
            status = f"**{status}**"
        rows.append([o.title, o.expected, o.measured_text, status, o.detail or ""])
    return rows


HEADER = ["expectation", "expected", "measured", "status", "how"]
ALIGN = "lrrll"


def render_text(report: CheckReport) -> str:
    out = [shown(f"netmem check: {report.run} against {report.expectations}")]
    if report.target:
        out.append(report.target)
    if report.description:
        out.append(shown(report.description))
    out += ["", *tables.text_table(HEADER, _rows(report, False), ALIGN), "", _totals(report)]
    return "\n".join(out)


def render_markdown(report: CheckReport) -> str:
    icon = ":x:" if report.breached else ":white_check_mark:"
    out = [f"### netmem check {icon}", "", shown(f"`{report.run}` against `{report.expectations}`")]
    if report.target:
        out += ["", tables.md_escape(report.target)]
    if report.description:
        out += ["", tables.md_escape(report.description)]
    out += ["", *tables.markdown_table(HEADER, _rows(report, True), ALIGN), "", _totals(report)]
    return "\n".join(out)


def render_json(report: CheckReport) -> str:
    return json.dumps(report.to_dict(), indent=1)


RENDERERS = {"text": render_text, "markdown": render_markdown, "json": render_json}


def render(report: CheckReport, fmt: str = "text") -> str:
    return RENDERERS[fmt](report)
