"""Compare runs: every figure of two or more records side by side, changes, gated regressions, aligned curves.

The maths, once (every function below follows it):

* change  = NEW - BASE, in the figure's own unit; None when either value is None (not measured).
* For a figure that is itself a percentage (cleanup %), the change is in percentage points and there is no
  percent of it.
* percent = 100 * (NEW - BASE) / |BASE|. Dividing by |BASE| keeps the sign of the change: a drift that goes
  from -100 KB to +20 KB is +120 %, and any growth is a positive percentage even when BASE is negative.
  BASE = 0: percent is 0.0 when NEW is 0 too, else None (no percentage of nothing).
* A gated figure *regressed* when it grew (change > 0) by more than its noise floor, and
  - BASE > 0: percent > threshold (default 10 %);
  - BASE <= 0 (a drift or delta of zero or below: a percentage of it means nothing): growth alone, past the
    floor, is the regression.
  The floors exist because RSS moves in pages and allocator arenas: a 56 KB drift that becomes 64 KB is
  +14 % and means nothing. Every figure that can gate says its floor (`Figure.floor`).
* The leak verdict regressed when NEW says POSSIBLE LEAK and BASE did not (OK, INCONCLUSIVE or not measured):
  a CI gate must not let a new leak through because the baseline could not tell. Both records are read with
  the same rule: the trend verdict `summary.leak_verdict` when both have it, else the baseline rule of both.
* Summary figures (baseline, peak, final, delta, verdict) describe the whole run; they are compared only
  between runs of the same scenario. Scenario figures are compared wherever both runs ran that scenario.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import NetmemError
from ..records.record import Record
from ..text import shown
from . import measured, sites, tables
from .figures import (
    FIGURES,
    SCENARIO_ORDER,
    SCOPE_TITLES,
    SUMMARY,
    Figure,
    has_scope,
)
from .figures import text as _fmt
from .figures import value as _value
from .verdict import names_a_leak, recorded_verdict

DEFAULT_THRESHOLD_PERCENT = 10.0


class CompareError(NetmemError, ValueError):
    """Input the diff can't use (fewer than two records, a bad threshold); one line."""


def percent_change(base: float | None, new: float | None) -> float | None:
    """100 * (new - base) / |base|; 0.0 when both are 0; None when base is 0 and new is not, or either is None."""
    if base is None or new is None:
        return None
    if base == 0:
        return 0.0 if new == 0 else None
    return 100.0 * (new - base) / abs(base)


def grew_past(base: float | None, new: float | None, threshold: float, floor: float = 0.0) -> bool:
    """True when new is a regression of base for a gated figure (see the module's docstring for the rule)."""
    if base is None or new is None:
        return False
    change = new - base
    if change <= floor:
        return False
    if base <= 0:
        return True
    return 100.0 * change / base > threshold


def check_threshold(threshold: float) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not math.isfinite(threshold) \
            or threshold < 0:
        raise CompareError(f"threshold must be a percentage of 0 or more, not {threshold!r}")
    return float(threshold)


@dataclass(frozen=True)
class RunInfo:
    """Who a run is, in the diff's header."""

    name: str  # what the user gave: a path or a library ID
    label: str | None
    started_at: str
    scenario: str
    host: str
    completed: bool
    scenarios: tuple[str, ...]
    verdict: str | None
    verdict_source: str
    target: str = "netmem's built-in echo server"  # what the run measured (measured.target_text)


@dataclass(frozen=True)
class Change:
    """One run's value of a figure against the base run's."""

    value: Any
    change: float | None
    percent: float | None
    regressed: bool
    note: str | None = None  # why a figure isn't compared, or what happened to the verdict


@dataclass(frozen=True)
class Row:
    """A figure across the runs: the base value and one Change per other run."""

    figure: Figure
    base: Any
    changes: tuple[Change, ...]

    @property
    def regressed(self) -> bool:
        return any(c.regressed for c in self.changes)


@dataclass
class Comparison:
    """The diff of runs[1:] against runs[0]. Plain data; `to_dict()` is the JSON `netmem compare` prints."""

    runs: list[RunInfo]
    threshold_percent: float
    rows: list[Row]
    shared_scenarios: list[str]
    notes: list[str] = field(default_factory=list)
    same_run: list[int] = field(default_factory=list)  # indexes of runs that are the base run itself
    # Allocation sites matched across the runs (sites.side_by_side); empty rows when no run traced allocations.
    sites: dict[str, Any] = field(default_factory=lambda: {"tools": [], "rows": [], "more": 0})

    @property
    def regressions(self) -> list[tuple[Row, int, Change]]:
        """(row, run index, change) of every gated figure that regressed."""
        return [(row, i + 1, c) for row in self.rows for i, c in enumerate(row.changes) if c.regressed]

    @property
    def regressed(self) -> bool:
        return bool(self.regressions)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": "netmem.compare/1",
            "threshold_percent": self.threshold_percent,
            "runs": [vars(r) | {"scenarios": list(r.scenarios)} for r in self.runs],
            "shared_scenarios": self.shared_scenarios,
            "same_run": self.same_run,
            "notes": self.notes,
            "regressed": self.regressed,
            "figures": [
                {
                    "key": row.figure.key, "scope": row.figure.scope, "title": row.figure.title,
                    "unit": row.figure.unit, "gated": row.figure.gated, "floor": row.figure.floor,
                    "base": row.base,
                    "changes": [vars(c) for c in row.changes],
                }
                for row in self.rows
            ],
            "allocation_sites": self.sites,
        }


def same_run(a: Record, b: Record) -> bool:
    """True when both records are one run (the label may differ: labelling rewrites a record)."""
    return (a.get("started_at"), a.get("measured"), a.get("samples")) == (
        b.get("started_at"), b.get("measured"), b.get("samples"))


def run_info(rec: Record, name: str) -> RunInfo:
    verdict, source = recorded_verdict(rec)
    return RunInfo(name=name, label=rec.get("label"), started_at=rec["started_at"],
                   scenario=rec["config"]["scenario"], host=rec["config"]["host"], completed=rec["completed"],
                   scenarios=tuple(s for s in SCENARIO_ORDER if s in rec["scenarios"]),
                   verdict=verdict, verdict_source=source, target=measured.target_text(rec))


def _verdict_change(base: Record, new: Record) -> Change:
    (bv, bs), (nv, ns) = recorded_verdict(base), recorded_verdict(new)
    note = None
    if bs != ns:
        # Different rules can't be set against each other; the baseline rule is in every record.
        bv = base["summary"]["baseline_rule"]["verdict"]
        nv = new["summary"]["baseline_rule"]["verdict"]
        note = f"compared by the baseline rule (BASE has {bs}, this run {ns})"
    regressed = names_a_leak(nv) and not names_a_leak(bv)
    if regressed:
        note = f"{bv} -> {nv}" + (f"; {note}" if note else "")
    elif bv is None or nv is None:
        note = note or "not measured"
    return Change(value=nv, change=None, percent=None, regressed=regressed, note=note)


def _figure_change(fig: Figure, base_rec: Record, rec: Record, base: Any, threshold: float,
                   comparable: str | None) -> Change:
    value = _value(rec, fig)
    if comparable:
        return Change(value=value, change=None, percent=None, regressed=False, note=comparable)
    if fig.unit == "verdict":
        return _verdict_change(base_rec, rec)
    if fig.unit == "label":  # a word (the backpressure verdict): shown side by side, nothing to subtract
        changed = None if value == base else "changed"
        return Change(value=value, change=None, percent=None, regressed=False, note=changed)
    if base is None or value is None:
        return Change(value=value, change=None, percent=None, regressed=False, note="not measured")
    change = value - base
    regressed = fig.gated and grew_past(base, value, threshold, fig.floor)
    note = None
    if fig.gated and not regressed and grew_past(base, value, threshold):
        note = f"grew past the threshold but not past the noise floor ({_fmt(fig, fig.floor)})"
    pct = None if fig.unit == "%" else percent_change(base, value)
    return Change(value=value, change=change, percent=pct, regressed=regressed, note=note)


def _config_notes(base: Record, rec: Record, who: str) -> list[str]:
    notes = []
    bc, nc = base["config"], rec["config"]
    if not measured.same_target(base, rec):
        notes.append(f"DIFFERENT TARGETS: {who} measured {measured.target_text(rec)}, BASE measured"
                     f" {measured.target_text(base)}: different servers, so every figure differs for that reason alone")
    if bc["host"] != nc["host"]:
        notes.append(f"{who} ran on the {nc['host']} host, BASE on the {bc['host']} host: they measure different"
                     " processes, so memory figures differ for that reason alone")
    b_conns, n_conns = bc.get("connections_by_scenario", {}), nc.get("connections_by_scenario", {})
    for scenario in SCENARIO_ORDER:
        if scenario in b_conns and scenario in n_conns and b_conns[scenario] != n_conns[scenario]:
            notes.append(f"{who} used {n_conns[scenario]} connections in the {scenario} scenario"
                         f" (BASE: {b_conns[scenario]}): per-connection figures depend on the count")
    for key, what in (("messages", "messages"), ("message_size", "message size"),
                      ("duration_s", "stability duration"), ("interval_ms", "sampling interval")):
        if bc.get(key) != nc.get(key):
            notes.append(f"{who} asked for a different {what}: {nc.get(key)} (BASE: {bc.get(key)})")
    bp, np_ = base["platform"], rec["platform"]
    for key in ("system", "machine", "python", "implementation"):
        if bp.get(key) != np_.get(key):
            notes.append(f"{who} ran on {key} {np_.get(key)} (BASE: {bp.get(key)})")
    if not rec["completed"]:
        notes.append(f"{who} did not complete ({rec.get('stop_reason') or 'stopped before the end'}):"
                     " figures it could not measure are n/a")
    return notes


def compare(records: Sequence[Record], names: Sequence[str] | None = None,
            threshold_percent: float = DEFAULT_THRESHOLD_PERCENT) -> Comparison:
    """Diff records[1:] against records[0] (the base). `names` label them (paths or library IDs)."""
    if len(records) < 2:
        raise CompareError("compare needs at least two runs")
    threshold = check_threshold(threshold_percent)
    names = list(names) if names is not None else [f"run {i + 1}" for i in range(len(records))]
    base = records[0]
    infos = [run_info(r, n) for r, n in zip(records, names, strict=True)]
    notes: list[str] = []
    if not base["completed"]:
        notes.append(f"BASE did not complete ({base.get('stop_reason') or 'stopped before the end'})")
    same = [i for i, r in enumerate(records) if i > 0 and same_run(base, r)]
    for i in same:
        notes.append(f"{'NEW' if len(records) == 2 else names[i]} is the BASE run itself: nothing can have changed")
    shared = [s for s in SCENARIO_ORDER if all(s in r["scenarios"] for r in records)]
    for i, rec in enumerate(records[1:], start=1):
        who = "NEW" if len(records) == 2 else names[i]
        if rec["config"]["scenario"] != base["config"]["scenario"]:
            notes.append(f"{who} ran scenario {rec['config']['scenario']}, BASE ran {base['config']['scenario']}:"
                         " whole-run figures (summary) are shown but not compared")
        only_base = [s for s in SCENARIO_ORDER if s in base["scenarios"] and s not in rec["scenarios"]]
        only_new = [s for s in SCENARIO_ORDER if s in rec["scenarios"] and s not in base["scenarios"]]
        if only_base:
            notes.append(f"only BASE ran {', '.join(only_base)}: not compared with {who}")
        if only_new:
            notes.append(f"only {who} ran {', '.join(only_new)}: not compared")
        notes += _config_notes(base, rec, who)
    rows = []
    for fig in (f for f in FIGURES if f.compared):
        if not any(has_scope(r, fig.scope) for r in records):
            continue
        base_value = _value(base, fig)
        changes = []
        for rec in records[1:]:
            reason = None
            if fig.scope == SUMMARY and rec["config"]["scenario"] != base["config"]["scenario"]:
                reason = "different scenarios"
            elif not (has_scope(rec, fig.scope) and has_scope(base, fig.scope)):
                reason = "scenario not in both runs" if fig.scope != "load" else "load not in both runs"
            changes.append(_figure_change(fig, base, rec, base_value, threshold, reason))
        rows.append(Row(fig, base_value, tuple(changes)))
    return Comparison(runs=infos, threshold_percent=threshold, rows=rows, shared_scenarios=shared, notes=notes,
                      same_run=same, sites=sites.side_by_side(list(records)))


# ---- rendering -------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TableRow:
    """One line of the comparison table, worded as every view words it: a scope's title, or a figure's cells
    (its name, the BASE value, then for each other run its value, change, % and gate)."""

    cells: list[str]
    is_scope: bool = False
    regressed: frozenset[int] = frozenset()  # the other runs (0 = the first after BASE) whose change regressed
    notes: dict[int, str] = field(default_factory=dict)  # why a change is noise or n/a, by the same index


def table_header(cmp: Comparison) -> list[str]:
    """The table's column titles: figure, BASE, then value, change, % and gate for each other run."""
    multi = len(cmp.runs) > 2
    header = ["figure", "BASE"]
    for i in range(1, len(cmp.runs)):
        tag = f" {i + 1}" if multi else ""
        header += [f"NEW{tag}" if not multi else f"RUN{tag}", f"change{tag}", f"%{tag}", f"gate{tag}"]
    return header


def table_rows(cmp: Comparison, style: str = "text") -> list[TableRow]:
    """The table's rows, in `style`: "text" (the CLI's), "markdown", or "plain" (no markup, for a widget)."""
    width = 2 + 4 * (len(cmp.runs) - 1)
    rows = []
    scope = None
    for row in cmp.rows:
        if row.figure.scope != scope:
            scope = row.figure.scope
            title = SCOPE_TITLES[scope]
            title = {"markdown": f"**{title}**", "text": f"[{title}]"}.get(style, title)
            rows.append(TableRow([title] + [""] * (width - 1), is_scope=True))
        name = row.figure.title + (" (gated)" if row.figure.gated else "")
        cells = ["  " + name if style == "text" else name, _fmt(row.figure, row.base)]
        for c in row.changes:
            cells += _change_cells(row.figure, c, markdown=style == "markdown")
        rows.append(TableRow(cells, regressed=frozenset(i for i, c in enumerate(row.changes) if c.regressed),
                             notes={i: c.note for i, c in enumerate(row.changes) if c.note}))
    return rows


def _change_cells(fig: Figure, c: Change, markdown: bool) -> list[str]:
    if c.change is None:
        delta, pct = c.note or "", ""
    else:
        delta = _fmt(fig, c.change, signed=True) if c.change else "0"
        if fig.unit == "%":
            delta = f"{c.change:+.1f} pt" if c.change else "0"
            pct = ""
        else:
            pct = tables.percent(c.percent, signed=True) if c.percent is not None else "n/a (base 0)"
    gate = ""
    if c.regressed:
        gate = "**REGRESSED**" if markdown else "REGRESSED"
    elif c.change is not None and c.note:
        gate = "noise"
    return [_fmt(fig, c.value), delta, pct, gate]


def run_headings(cmp: Comparison) -> list[str]:
    """One line per run (role, name, label, scenario, host, start, completeness), and what they measured."""
    out = []
    for i, run in enumerate(cmp.runs):
        role = "BASE" if i == 0 else ("NEW" if len(cmp.runs) == 2 else f"RUN {i + 1}")
        label = f" \"{run.label}\"" if run.label else ""
        state = "" if run.completed else ", incomplete"
        out.append(shown(f"{role}: {run.name}{label} ({run.scenario} on the {run.host} host,"
                         f" {run.started_at}{state})"))
    measured = {run.target for run in cmp.runs}
    if len(measured) > 1:
        out.append("The runs measured DIFFERENT TARGETS: " + "; ".join(
            f"{'BASE' if i == 0 else ('NEW' if len(cmp.runs) == 2 else f'RUN {i + 1}')}: {run.target}"
            for i, run in enumerate(cmp.runs)))
    elif cmp.runs and cmp.runs[0].target != RunInfo.target:
        out.append(f"Target: {cmp.runs[0].target}")
    return out


def roles(cmp: Comparison) -> list[str]:
    """BASE, then NEW (two runs) or RUN 2, RUN 3, ..."""
    return ["BASE" if i == 0 else ("NEW" if len(cmp.runs) == 2 else f"RUN {i + 1}") for i in range(len(cmp.runs))]


def sites_table(cmp: Comparison) -> tuple[list[str], list[list[str]]] | None:
    """The runs' allocation sites side by side (header, rows), or None when no run traced allocations."""
    if not cmp.sites["rows"]:
        return None
    return sites.side_by_side_table(cmp.sites, roles(cmp))


SITES_TITLE = "Allocation sites side by side, matched by function and file:line"


def sites_more(cmp: Comparison) -> str | None:
    return f"{cmp.sites['more']:,} more site(s) not shown" if cmp.sites["more"] else None


def verdict_line(cmp: Comparison) -> str:
    """The comparison's verdict in one line: what regressed and by how much, or that nothing gated did."""
    if not cmp.regressed:
        return f"No gated figure regressed (threshold {cmp.threshold_percent:g} %)."
    parts = []
    for row, i, c in cmp.regressions:
        who = "" if len(cmp.runs) == 2 else f" in run {i + 1}"
        if row.figure.unit == "verdict":
            parts.append(f"{row.figure.title}{who}: {c.note}")
        else:
            pct = tables.percent(c.percent, signed=True) if c.percent is not None else "from a base of 0 or less"
            parts.append(f"{row.figure.title}{who}: {_fmt(row.figure, c.change, signed=True)} ({pct})")
    return f"REGRESSED (threshold {cmp.threshold_percent:g} %): " + "; ".join(parts)


def render_text(cmp: Comparison) -> str:
    out = ["netmem compare", *run_headings(cmp), ""]
    out += tables.text_table(table_header(cmp), [row.cells for row in table_rows(cmp, "text")])
    table = sites_table(cmp)
    if table is not None:
        out += ["", f"{SITES_TITLE}:", *tables.text_table(*table, align="ll" + "r" * (len(table[0]) - 2))]
        out += [sites_more(cmp)] if sites_more(cmp) else []
    if cmp.notes:
        out += ["", *[shown(f"Note: {n}") for n in cmp.notes]]
    out += ["", verdict_line(cmp)]
    return "\n".join(out)


def render_markdown(cmp: Comparison) -> str:
    icon = ":x:" if cmp.regressed else ":white_check_mark:"
    out = [f"### netmem compare {icon}", "", *[f"- {tables.md_escape(h)}" for h in run_headings(cmp)], ""]
    out += tables.markdown_table(table_header(cmp), [row.cells for row in table_rows(cmp, "markdown")])
    table = sites_table(cmp)
    if table is not None:
        out += ["", f"{SITES_TITLE}:", "", *tables.markdown_table(*table, align="ll" + "r" * (len(table[0]) - 2))]
        out += ["", sites_more(cmp)] if sites_more(cmp) else []
    if cmp.notes:
        out += ["", *[f"> {tables.md_escape(n)}" for n in cmp.notes]]
    out += ["", f"**{verdict_line(cmp)}**" if cmp.regressed else verdict_line(cmp)]
    return "\n".join(out)


def render_json(cmp: Comparison) -> str:
    return json.dumps(cmp.to_dict(), indent=1)


RENDERERS = {"text": render_text, "markdown": render_markdown, "json": render_json}


def render(cmp: Comparison, fmt: str = "text") -> str:
    return RENDERERS[fmt](cmp)


# ---- curves ----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Curve:
    """A run's RSS curve on a shared time axis. NaN entries break the line between phases (pyqtgraph:
    connect="finite"); `phase_starts` are (x, "scenario/phase") marks on that axis."""

    name: str
    t_s: np.ndarray
    rss_bytes: np.ndarray
    phase_starts: tuple[tuple[float, str], ...]


def _phase_keys(rec: Record) -> list[tuple[str, float]]:
    """("scenario/phase#n", start) of each phase in order; #n counts repeats so that keys are unique."""
    seen: dict[str, int] = {}
    out = []
    for p in rec["phases"]:
        name = f"{p['scenario']}/{p['phase']}"
        seen[name] = seen.get(name, 0) + 1
        out.append((f"{name}#{seen[name]}", float(p["t_s"])))
    return out


def align_curves(records: Sequence[Record], names: Sequence[str] | None = None, at: str = "start") -> list[Curve]:
    """Each record's RSS samples as float arrays on one time axis, for an overlay plot.

    at="start": time since each run began (as recorded).
    at="users": RSS against Locust's user count instead of time (the record's load series, --locust); a run
    without one gets empty arrays, so runs under the same load overlay whatever their timing.
    at="phases": each phase of a run is shifted to begin where the same phase began in the first record, keeping
    its own time scale; samples of a phase the first record doesn't have are dropped, and a NaN separates
    phases. at="scenario/phase" (for example "stability/cycles"): one shift per run so that this phase begins
    at 0 in every run; a run without that phase gets empty arrays.
    """
    names = list(names) if names is not None else [r.get("label") or r["started_at"] for r in records]
    curves = []
    anchors = dict(_phase_keys(records[0])) if records else {}
    for rec, name in zip(records, names, strict=True):
        t = np.asarray(rec["samples"]["t_s"], dtype=np.float64)
        rss = np.asarray(rec["samples"]["rss_bytes"], dtype=np.float64)
        keys = _phase_keys(rec)
        marks = tuple((start, key.split("#")[0]) for key, start in keys)
        if at == "start":
            curves.append(Curve(name, t, rss, marks))
        elif at == "users":
            series = (rec.get("load") or {}).get("series") or {"users": [], "rss_bytes": []}
            curves.append(Curve(name, np.asarray(series["users"], dtype=np.float64),
                                np.asarray(series["rss_bytes"], dtype=np.float64), ()))
        elif at == "phases":
            curves.append(_phase_aligned(name, t, rss, keys, anchors))
        else:
            own = dict(keys).get(f"{at}#1")
            if own is None:
                curves.append(Curve(name, np.empty(0), np.empty(0), ()))
            else:
                curves.append(Curve(name, t - own, rss, tuple((x - own, k) for x, k in marks)))
    return curves


def _phase_aligned(name: str, t: np.ndarray, rss: np.ndarray, keys: list[tuple[str, float]],
                   anchors: dict[str, float]) -> Curve:
    starts = np.array([s for _, s in keys], dtype=np.float64)
    # Segment of each sample: the last phase that began at or before it (-1: before the first phase).
    segment = np.searchsorted(starts, t, side="right") - 1 if starts.size else np.full(t.shape, -1)
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    marks = []
    for k in range(-1, len(keys)):
        mask = segment == k
        if k == -1:
            shift = 0.0
        else:
            key, own = keys[k]
            if key not in anchors:
                continue
            shift = anchors[key] - own
            marks.append((anchors[key], key.split("#")[0]))
        if not mask.any():
            continue
        if xs:
            xs.append(np.array([np.nan]))
            ys.append(np.array([np.nan]))
        xs.append(t[mask] + shift)
        ys.append(rss[mask])
    x = np.concatenate(xs) if xs else np.empty(0)
    y = np.concatenate(ys) if ys else np.empty(0)
    return Curve(name, x, y, tuple(marks))
