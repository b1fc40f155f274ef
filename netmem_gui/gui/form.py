"""The run settings form: one control per RunConfig field, with tooltips and persistence."""

from __future__ import annotations

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ..core import config as cfg
from ..core.config import RunConfig

DEFAULTS = RunConfig()
TIPS = {
    "scenario": "What to run: connections (open N connections, measure the memory each takes), messages "
                "(echo M messages and check each), stability (connect/send/close cycles for D seconds, "
                "to see drift), or all three in turn.",
    "connections": "Connections to open (connections scenario) or to send over (messages scenario). "
                   "'scenario default' means 200 for connections and 1 for messages.",
    "messages": "Messages to send in the messages scenario; each is counted only when its echo came back intact.",
    "message_size": "Bytes per message in the messages scenario.",
    "duration": "How long the stability scenario runs its connect/send/close cycles.",
    "host": "isolated: the echo server runs in its own child process and only it is measured (recommended). "
            "inapp: the workload runs inside this app, on a loop in a thread of its own, and the whole app "
            "is measured, GUI included, so expect a few MB of the app's own drift.",
    "interval": "How often the measured process's RSS and VMS are sampled (10 ms or more).",
    "label": "An optional name for the run, kept in its record and shown in the run list.",
    "advanced": "Options for testing the leak verdict and finding where memory goes. Tick to use them; "
                "unticked, runs use the defaults (no injected leak, no tracing, one round).",
    "inject_leak_bytes": "--inject-leak: makes the echo server keep this many bytes per connection cycle in live "
                         "Python objects, to see what a leak looks like (and to check the leak verdict). "
                         "0 = off.",
    "trace_allocations": "--trace-allocations: runs tracemalloc in the server's process, so the verdict also fits "
                         "Python's traced bytes and the allocation sites that grew most are listed. It slows "
                         "the workload noticeably.",
    "rounds": "--rounds: the connections scenario opens and closes all its connections this many times; with 15 "
              "or more rounds it gets a leak verdict from the memory after each round.",
}
QWIDGETSIZE_MAX = (1 << 24) - 1
ADVANCED_KEYS = ("rounds", "inject_leak_bytes", "trace_allocations")


def _tip(widget: QWidget, key: str) -> QWidget:
    widget.setToolTip(TIPS[key])
    widget.setWhatsThis(TIPS[key])
    return widget


def _boolean(raw: object) -> bool:
    text = str(raw).lower()
    if text not in ("true", "false"):
        raise ValueError(text)
    return text == "true"


class RunForm(QWidget):
    """The controls that make a RunConfig; the seed's defaults, the last-used values once saved."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.scenario = QComboBox()
        self.scenario.addItems(cfg.SCENARIOS)
        self.connections = QSpinBox()
        self.connections.setRange(0, cfg.MAX_CONNECTIONS)
        self.connections.setSpecialValueText("scenario default")
        self.connections.setSingleStep(50)
        self.messages = QSpinBox()
        self.messages.setRange(1, cfg.MAX_MESSAGES)
        self.messages.setSingleStep(1000)
        self.messages.setGroupSeparatorShown(True)
        self.message_size = QSpinBox()
        self.message_size.setRange(1, cfg.MAX_MESSAGE_SIZE)
        self.message_size.setSuffix(" bytes")
        self.message_size.setGroupSeparatorShown(True)
        self.duration = QDoubleSpinBox()
        self.duration.setRange(0.1, cfg.MAX_DURATION_S)
        self.duration.setDecimals(1)
        self.duration.setSuffix(" s")
        self.host = QComboBox()
        self.host.addItems(cfg.HOSTS)
        self.interval = QSpinBox()
        self.interval.setRange(cfg.MIN_INTERVAL_MS, cfg.MAX_INTERVAL_MS)
        self.interval.setSuffix(" ms")
        self.interval.setSingleStep(10)
        self.label = QLineEdit()
        self.label.setPlaceholderText("optional")
        self.label.setClearButtonEnabled(True)

        self.inject_leak = QSpinBox()
        self.inject_leak.setRange(0, cfg.MAX_INJECT_LEAK_BYTES)
        self.inject_leak.setSpecialValueText("off")
        self.inject_leak.setSuffix(" bytes/cycle")
        self.inject_leak.setSingleStep(1024)
        self.inject_leak.setGroupSeparatorShown(True)
        self.trace_allocations = QCheckBox("Trace allocations (slower)")
        self.rounds = QSpinBox()
        self.rounds.setRange(1, cfg.MAX_ROUNDS)
        self.rounds.setSuffix(" round(s)")
        self.advanced = QGroupBox("Advanced")
        self.advanced.setCheckable(True)
        self.advanced.setFlat(True)
        _tip(self.advanced, "advanced")
        # Collapsed while unticked: the form stays short, and what is hidden is not used.
        self._advanced_body = QWidget()
        advanced_form = QFormLayout(self._advanced_body)
        advanced_form.setContentsMargins(0, 0, 0, 0)
        advanced_form.addRow("Inject &leak", _tip(self.inject_leak, "inject_leak_bytes"))
        advanced_form.addRow("", _tip(self.trace_allocations, "trace_allocations"))
        advanced_form.addRow("R&ounds", _tip(self.rounds, "rounds"))
        self._advanced_layout = QVBoxLayout(self.advanced)
        self._advanced_layout.addWidget(self._advanced_body)
        self.advanced.toggled.connect(self.set_advanced)

        layout = QFormLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addRow("&Scenario", _tip(self.scenario, "scenario"))
        layout.addRow("&Connections", _tip(self.connections, "connections"))
        layout.addRow("&Messages", _tip(self.messages, "messages"))
        layout.addRow("Message si&ze", _tip(self.message_size, "message_size"))
        layout.addRow("&Duration", _tip(self.duration, "duration"))
        layout.addRow("&Host", _tip(self.host, "host"))
        layout.addRow("Sampling &interval", _tip(self.interval, "interval"))
        layout.addRow("&Label", _tip(self.label, "label"))
        layout.addRow(self.advanced)
        self.scenario.currentTextChanged.connect(self._enable_relevant)
        self.set_config(DEFAULTS)

    def _enable_relevant(self, scenario: str) -> None:
        # Greyed out, not hidden: the value is kept in the record either way, but the user sees it won't matter.
        uses = set(RunConfig(scenario=scenario).scenario_list())
        self.connections.setEnabled(bool(uses & {"connections", "messages"}))
        self.messages.setEnabled("messages" in uses)
        self.message_size.setEnabled("messages" in uses)
        self.duration.setEnabled("stability" in uses)
        self.rounds.setEnabled("connections" in uses)

    def set_config(self, config: RunConfig, label: str | None = None) -> None:
        self.scenario.setCurrentText(config.scenario)
        self.connections.setValue(config.connections or 0)
        self.messages.setValue(config.messages)
        self.message_size.setValue(config.message_size)
        self.duration.setValue(config.duration_s)
        self.host.setCurrentText(config.host)
        self.interval.setValue(config.interval_ms)
        self.label.setText(label or "")
        # A config that uses any advanced option opens the section, so nothing in use is hidden; one that uses
        # none just closes it, keeping the values there for when it is ticked again.
        uses_advanced = any(getattr(config, k) != getattr(DEFAULTS, k) for k in ADVANCED_KEYS)
        if uses_advanced:
            self.inject_leak.setValue(config.inject_leak_bytes)
            self.trace_allocations.setChecked(config.trace_allocations)
            self.rounds.setValue(config.rounds)
        self.set_advanced(uses_advanced)
        self._enable_relevant(config.scenario)

    def set_advanced(self, on: bool) -> None:
        """Tick (and open) or untick (and collapse) the Advanced section."""
        self.advanced.setChecked(on)
        self._advanced_body.setVisible(on)
        # Collapsed, the box is its title line only: no empty frame below it.
        self._advanced_layout.setContentsMargins(*((9, 9, 9, 9) if on else (0, 0, 0, 0)))
        self.advanced.setMaximumHeight(QWIDGETSIZE_MAX if on else self.advanced.fontMetrics().height() + 8)

    def config(self) -> RunConfig:
        """The RunConfig the controls describe (ConfigError if it can't be run)."""
        return RunConfig(
            scenario=self.scenario.currentText(), connections=self.connections.value() or None,
            messages=self.messages.value(), message_size=self.message_size.value(),
            duration_s=float(self.duration.value()), host=self.host.currentText(),
            interval_ms=self.interval.value(), **self._advanced_fields(),
        ).validate()

    def _advanced_fields(self) -> dict[str, object]:
        if not self.advanced.isChecked():
            return {}
        return {"inject_leak_bytes": self.inject_leak.value(), "trace_allocations": self.trace_allocations.isChecked(),
                "rounds": self.rounds.value()}

    def run_label(self) -> str | None:
        return self.label.text().strip() or None

    def save(self, settings: QSettings) -> None:
        config = self.config()
        settings.beginGroup("run")
        for key, value in config.to_dict().items():
            if key in ("scenario", "connections", "messages", "message_size", "duration_s", "host", "interval_ms"):
                settings.setValue(key, "" if value is None else str(value))
        # The advanced values are kept even while unticked, so ticking the section again brings them back.
        settings.setValue("advanced", str(self.advanced.isChecked()).lower())
        settings.setValue("inject_leak_bytes", str(self.inject_leak.value()))
        settings.setValue("trace_allocations", str(self.trace_allocations.isChecked()).lower())
        settings.setValue("rounds", str(self.rounds.value()))
        settings.endGroup()

    def load(self, settings: QSettings) -> None:
        """Restore the last-used values; anything missing or unreadable keeps the seed's default."""
        settings.beginGroup("run")
        values = {key: settings.value(key) for key in settings.childKeys()}
        settings.endGroup()
        kinds = {"scenario": str, "host": str, "messages": int, "message_size": int, "interval_ms": int,
                 "duration_s": float, "connections": int, "inject_leak_bytes": int, "rounds": int,
                 "trace_allocations": _boolean}
        fields = {}
        for key, kind in kinds.items():
            raw = values.get(key)
            if raw in (None, ""):
                continue
            try:
                fields[key] = kind(raw)
            except (TypeError, ValueError):
                continue
        try:
            config = RunConfig(**fields).validate()
        except (cfg.ConfigError, TypeError):
            config = DEFAULTS
        self.set_config(config)
        self.set_advanced(str(values.get("advanced", "")).lower() == "true")
