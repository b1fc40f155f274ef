"""The figure panels: live figures beside the plot, and the summary of a finished run."""

from __future__ import annotations

import html

from PySide6.QtGui import QFont, QFontDatabase
from PySide6.QtWidgets import QFormLayout, QGroupBox, QLabel, QTextBrowser, QWidget

from ..core import report
from ..core.record import Record
from .live import LiveFigures

FIGURES = (
    ("rss_bytes", "Current RSS", "The measured process's resident memory now (the last sample); "
                                 "the final checkpoint for a finished run."),
    ("delta_bytes", "Delta from baseline", "Current RSS minus the baseline (the run's first checkpoint)."),
    ("peak_bytes", "Peak RSS", "Highest RSS seen so far, in checkpoints and samples."),
    ("open_connections", "Open connections", "Connections held open by the clients now."),
    ("messages_per_s", "Messages/s", "Echoed and checked messages per second (messages scenario); "
                                     "while sending, the rate since sending began."),
    ("per_connection_bytes", "Per-connection overhead",
     "Memory per connection so far: the least-squares slope of RSS over open connections across the "
     "connections scenario's checkpoints."),
    ("leak_verdict", "Leak indicator", "The seed demo's rule: POSSIBLE LEAK when the final RSS is more than "
                                       "1 MiB above the baseline. CPython keeps freed memory, so many clean "
                                       "runs trip it; read it beside the drift and per-connection figures."),
)


def _format(key: str, value: object) -> str:
    if value is None:
        return "–"
    if key == "delta_bytes":
        sign = "+" if value >= 0 else "−"  # type: ignore[operator]
        return f"{sign}{report.kb(abs(value))}"  # type: ignore[arg-type]
    if key in ("rss_bytes", "peak_bytes"):
        return report.mb(value)  # type: ignore[arg-type]
    if key == "per_connection_bytes":
        return report.kb1(value)  # type: ignore[arg-type]
    if key == "messages_per_s":
        return f"{value:,.0f}"
    return str(value)


class LivePanel(QGroupBox):
    """Current RSS, delta, peak, connections, msg/s, per-connection overhead and the leak indicator."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Figures", parent)
        layout = QFormLayout(self)
        self.values: dict[str, QLabel] = {}
        bold = QFont()
        bold.setBold(True)
        for key, name, tip in FIGURES:
            value = QLabel("–")
            value.setFont(bold)
            value.setToolTip(tip)
            caption = QLabel(name)
            caption.setToolTip(tip)
            layout.addRow(caption, value)
            self.values[key] = value

    def show_figures(self, figures: LiveFigures) -> None:
        for key, label in self.values.items():
            label.setText(_format(key, getattr(figures, key)))
        verdict = figures.leak_verdict
        colour = {"OK": "#1a7f37", "POSSIBLE LEAK": "#b35900"}.get(verdict or "", "")
        self.values["leak_verdict"].setStyleSheet(f"color: {colour}" if colour else "")


class SummaryPanel(QTextBrowser):
    """A finished run's figures per scenario and the leak indicator, as the CLI reports them."""

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
        verdict = rec["summary"]["seed_leak_rule"]["verdict"] or "n/a"
        colour = {"OK": "#1a7f37", "POSSIBLE LEAK": "#b35900"}.get(verdict, "#444")
        state = ("completed" if rec["completed"]
                 else f"<span style='color:#b00'>incomplete: {html.escape(rec['stop_reason'] or 'stopped')}</span>")
        head = (f"<b>{html.escape(title)}</b> &middot; {state} &middot; "
                f"leak indicator: <b style='color:{colour}'>{html.escape(verdict)}</b>")
        # The report's own lines (the CLI's wording), most telling first: the run summary, each scenario's
        # figures, then the checkpoints behind them.
        summary_lines = report.render(rec).split("=== Summary ===", 1)[1].strip().splitlines()
        summary = "<br>".join(html.escape(line).replace("  ", " &middot; ") for line in summary_lines)
        parts = [f"<p>{head}</p>", f"<p>{summary}</p>"]
        for name, fig in rec["scenarios"].items():
            items = "".join(f"<li>{html.escape(line)}</li>" for line in report.scenario_lines(name, fig))
            parts.append(f"<p style='margin-bottom:0'><b>{html.escape(report.TITLES[name])}</b></p><ul>{items}</ul>")
        checkpoints = "\n".join(f"{cp['t_s']:8.2f} s  {report.checkpoint_line(cp)}" for cp in rec["checkpoints"])
        mono = f"font-family:\"{self._mono}\"; white-space: pre-wrap"
        parts.append(f"<p style='margin-bottom:0'><b>Checkpoints</b> ({len(rec['checkpoints'])})</p>"
                     f"<pre style='{mono}'>{html.escape(checkpoints)}</pre>")
        self.setHtml("".join(parts))

    def show_running(self, title: str) -> None:
        self.shown_record = None
        self.setHtml(f"<p><b>{html.escape(title)}</b> &middot; running… the summary appears when it ends.</p>")
