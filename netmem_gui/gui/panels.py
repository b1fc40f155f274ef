"""The figure panels: live figures beside the plot, and the summary of a finished run."""

from __future__ import annotations

import html

from PySide6.QtGui import QFont, QFontDatabase
from PySide6.QtWidgets import QFormLayout, QGroupBox, QLabel, QTextBrowser, QWidget

from ..core.records.record import Record
from ..core.reports import figures, report
from . import live
from .live import LiveFigures

FIGURES = (
    ("rss_bytes", "Current RSS", "The measured process's resident memory now (the last sample); "
                                 "the final checkpoint for a finished run."),
    ("delta_bytes", figures.title("summary.delta_bytes"),
     "Current RSS minus the baseline (the run's first checkpoint)."),
    ("peak_bytes", figures.title("summary.peak_rss_bytes"), "Highest RSS seen so far, in checkpoints and samples."),
    ("open_connections", "Open connections", "Connections held open by the clients now."),
    ("messages_per_s", "Messages/s", "Echoed and checked messages per second (messages scenario); "
                                     "while sending, the rate since sending began."),
    ("per_connection_bytes", figures.title("connections.per_connection_bytes"),
     "Memory per connection so far: the least-squares slope of RSS over open connections across the "
     "connections scenario's checkpoints."),
    ("leak_verdict", figures.title("summary.verdict"),
     "The leak verdict from the trend: a robust (Theil-Sen) slope of memory against the cycle number over the "
     "steady-state cycles of the stability scenario (or of connections rounds), with a trend test. OK, "
     "POSSIBLE LEAK, or INCONCLUSIVE when there are too few cycles to tell; '–' when no scenario of the run "
     "repeats cycles. While the run goes on it is the verdict on the cycles so far."),
    ("leak_growth", "Growth per cycle",
     "The fitted slope of RSS per cycle in bytes, with its 95 % confidence interval; with allocation tracing, "
     "also the slope of tracemalloc's traced bytes (Python's own allocations, without allocator retention)."),
    ("baseline_rule", "Baseline rule",
     "The leak indicator of the C++ guide netmem is modelled on, kept for comparison: POSSIBLE LEAK when the "
     "final RSS is more than 1 MiB above the baseline. CPython keeps freed memory, so many clean runs trip it; "
     "shown when the run ends."),
)
FIGURE_TIPS = {key: tip for key, _, tip in FIGURES}
VERDICT_COLOURS = {"OK": "#1a7f37", "POSSIBLE LEAK": "#c0392b", "INCONCLUSIVE": "#8a6d00"}


# The record's figure each panel value is: written by the same formatter as the summary and `netmem compare`, so a
# figure reads the same (18.67 MB, not +19116 KB here and 18.67 MB there) wherever it is shown.
PANEL_FIGURES = {"rss_bytes": "summary.final_rss_bytes", "delta_bytes": "summary.delta_bytes",
                 "peak_bytes": "summary.peak_rss_bytes", "per_connection_bytes": "connections.per_connection_bytes",
                 "messages_per_s": "messages.messages_per_s"}
RULE_COLOUR = "#555"  # the baseline rule is shown for comparison, not as a verdict of netmem's: never red or green


def _format(key: str, value: object) -> str:
    if value is None:
        return "–"
    if key in PANEL_FIGURES:
        text = figures.text(figures.find(PANEL_FIGURES[key]), value, signed=key == "delta_bytes")
        return text.removesuffix(" msg/s")  # the caption says Messages/s
    return str(value)


class LivePanel(QGroupBox):
    """Current RSS, delta, peak, connections, msg/s, per-connection overhead and the leak verdicts."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Figures", parent)
        layout = QFormLayout(self)
        self.values: dict[str, QLabel] = {}
        bold = QFont()
        bold.setBold(True)
        for key, name, tip in FIGURES:
            value = QLabel("–")
            if key == "leak_growth":
                value.setWordWrap(True)  # the interval is long; the panel is narrow
            else:
                value.setFont(bold)
            value.setToolTip(tip)
            caption = QLabel(name)
            caption.setToolTip(tip)
            layout.addRow(caption, value)
            self.values[key] = value
        self._shown: LiveFigures | None = None

    def show_figures(self, figures: LiveFigures) -> None:
        if figures == self._shown:
            return  # called several times a second while a run goes on: change nothing that hasn't changed
        self._shown = figures
        for key, label in self.values.items():
            _set_text(label, _format(key, getattr(figures, key)))
        # The panel is narrow: the RSS slope with its interval on a second line; the traced one in the tooltip.
        growth = self.values["leak_growth"]
        full = figures.leak_growth
        rss = full.split("; traced")[0].removeprefix("RSS ") if full else ""
        _set_text(growth, rss.replace(" (", "\n").rstrip(")") if rss else "–")
        tip = f"{full}\n\n{FIGURE_TIPS['leak_growth']}" if full else FIGURE_TIPS["leak_growth"]
        if growth.toolTip() != tip:
            growth.setToolTip(tip)
        for key in ("leak_verdict", "baseline_rule"):
            colour = VERDICT_COLOURS.get(getattr(figures, key) or "", "")
            if key == "baseline_rule" and colour:
                colour = RULE_COLOUR
            sheet = f"color: {colour}" if colour else ""
            if self.values[key].styleSheet() != sheet:  # a new style sheet re-polishes the widget: costly
                self.values[key].setStyleSheet(sheet)


def _set_text(label: QLabel, text: str) -> None:
    if label.text() != text:
        label.setText(text)


def _verdict(verdict: str | None) -> str:
    colour = VERDICT_COLOURS.get(verdict or "", "#444")
    return f"<b style='color:{colour}'>{html.escape(verdict or 'n/a')}</b>"


def verdicts_html(rec: Record) -> str:
    """The trend verdict with its slope and interval, then the baseline rule, labelled as such."""
    summary = rec["summary"]
    verdict, growth = live.trend(rec["scenarios"], summary)
    found = live.deciding(rec["scenarios"], summary)
    where = f" ({html.escape(found[0])})" if found else ""
    if found and found[1].get("host_drift_included"):
        where += " <i>(in-app host: includes the app's own drift)</i>"
    reason = found[1]["rss"].get("reason") if found and found[1]["verdict"] != "OK" else None
    if reason and reason == growth:
        reason = None  # the growth is already the reason (no slope, or one the verdict did not judge)
    trend = (f"Leak verdict (growth per cycle in steady state): {_verdict(verdict)}{where}"
             + (f" &middot; {html.escape(growth)}" if growth else "")
             + (f"<br>&nbsp;&nbsp;why: {html.escape(reason)}" if reason else ""))
    if "leak_verdict" not in summary:
        trend = "Leak verdict (growth per cycle): not in this record (made before the trend verdict)"
    elif verdict is None:
        trend = "Leak verdict (growth per cycle): none &ndash; no scenario of this run repeats cycles"
    rule = summary["baseline_rule"]
    baseline = (f"Baseline rule ({html.escape(rule['rule'])}): "
                f"<b style='color:{RULE_COLOUR}'>{html.escape(rule['verdict'] or 'n/a')}</b>")
    if rule["verdict"] == "POSSIBLE LEAK" and verdict != "POSSIBLE LEAK":
        baseline += (" <i>(the C++ guide's rule, shown for comparison: CPython keeps memory it has freed, so clean "
                     "runs often trip it; the leak verdict above is netmem's)</i>")
    return f"<p>{trend}<br>{baseline}</p>"


def findings_html(rec: Record, mono: str = "monospace") -> str:
    """The run's findings, first in the summary: symptom and diagnosis, evidence, next steps with their commands."""
    if "findings" not in rec:
        return "<p><i>Findings: not in this record (made before findings existed).</i></p>"
    found = rec["findings"]
    if not found:
        why = html.escape(report.NOTHING_FOUND_WHY.capitalize())
        return f"<p><b style='color:{VERDICT_COLOURS['OK']}'>No findings</b><br>{why}</p>"
    code = f"font-family:\"{mono}\"; white-space: pre-wrap"
    parts = [f"<p style='margin-bottom:0'><b style='color:{VERDICT_COLOURS['POSSIBLE LEAK']}'>Findings"
             f" ({len(found)})</b></p><ol>"]
    for finding in found:
        evidence = "; ".join(html.escape(report.evidence_text(e)) for e in finding["evidence"])
        steps = "".join(
            f"<li>{html.escape(step['text'])}"
            + (f"<br><code style='{code}'>{html.escape(step['command'])}</code>" if step["command"] else "")
            + "</li>" for step in finding["next_steps"])
        parts.append(f"<li><b>{html.escape(finding['symptom'])}</b>"
                     f"{' (' + html.escape(finding['scenario']) + ')' if finding.get('scenario') else ''}:"
                     f" {html.escape(finding['diagnosis'])}<br><i>Evidence:</i> {evidence}"
                     f"<br><i>Next steps:</i><ul>{steps}</ul></li>")
    parts.append("</ol>")
    return "".join(parts)


class SummaryPanel(QTextBrowser):
    """A finished run's figures per scenario and the leak verdicts, as the CLI reports them."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setOpenLinks(False)
        self.setPlaceholderText("The summary of a run appears here when it ends. Start one with Ctrl+R, "
                                "or open a saved run record with Ctrl+O.")
        self._mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont).family()
        self.shown_record: Record | None = None

    def show_record(self, rec: Record | None, title: str = "") -> None:
        self.shown_record = rec
        if rec is None:
            self.clear()
            return
        state = ("completed" if rec["completed"]
                 else f"<span style='color:#b00'>incomplete: {html.escape(rec['stop_reason'] or 'stopped')}</span>")
        head = f"<b>{html.escape(title)}</b> &middot; {state}"
        # Most telling first: the verdicts (with their figures), the run's summary figures, each scenario's
        # figures, then the checkpoints behind them.
        summary_lines = [f"{fig.title}: {text}" for fig, text in figures.rows(rec, figures.SUMMARY)
                         if fig.memory and fig.unit != "verdict"]  # the verdicts are shown first
        summary_lines += [f"Samples: {len(rec['samples']['t_s']):,}", *report.cost_lines(rec)]
        summary = "<br>".join(html.escape(line) for line in summary_lines)
        parts = [f"<p>{head}</p>", findings_html(rec, self._mono), verdicts_html(rec), f"<p>{summary}</p>"]
        for name, fig in rec["scenarios"].items():
            lines = report.scenario_lines(name, fig) + report.verdict_lines(fig.get("leak_verdict"))
            sites = (rec.get("allocations") or {}).get(name)
            if sites:
                lines.append(f"Allocation sites that grew: {len(sites['sites'])} (see the Allocation sites tab)")
            items = "".join(f"<li>{html.escape(line)}</li>" for line in lines)
            heading = html.escape(figures.SCOPE_TITLES[name])
            parts.append(f"<p style='margin-bottom:0'><b>{heading}</b></p><ul>{items}</ul>")
        if rec.get("load"):
            items = "".join(f"<li>{html.escape(line)}</li>" for line in report.load_lines(rec))
            heading = html.escape(figures.SCOPE_TITLES[figures.LOAD])
            parts.append(f"<p style='margin-bottom:0'><b>{heading}</b></p><ul>{items}</ul>")
        checkpoints = "\n".join(f"{cp['t_s']:8.2f} s  {report.checkpoint_line(cp)}" for cp in rec["checkpoints"])
        mono = f"font-family:\"{self._mono}\"; white-space: pre-wrap"
        parts.append(f"<p style='margin-bottom:0'><b>Checkpoints</b> ({len(rec['checkpoints'])})</p>"
                     f"<pre style='{mono}'>{html.escape(checkpoints)}</pre>")
        self.setHtml("".join(parts))

    def show_running(self, title: str) -> None:
        self.shown_record = None
        self.setHtml(f"<p><b>{html.escape(title)}</b> &middot; running… the summary appears when it ends.</p>")
