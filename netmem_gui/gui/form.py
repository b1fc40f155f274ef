"""The run settings form: one control per row of the core's settings table, with tooltips and persistence."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ..core import config as cfg
from ..core.config import RunConfig
from ..core.options import LABEL_HELP, SCENARIO_HELP, SETTINGS, Setting, changed, matters
from ..core.targets.external import guess_protocol
from ..core.targets.processes import Listener

DEFAULTS = RunConfig()
ADVANCED_HELP = ("Options for testing the leak verdict and finding where memory goes. Tick to use them; unticked, "
                 "runs use the defaults (no injected leak, no tracing, one round).")
QWIDGETSIZE_MAX = (1 << 24) - 1
FORM_SETTINGS = tuple(s for s in SETTINGS if s.form)
SETTING = {s.field: s for s in SETTINGS}
TARGET_KINDS = {"builtin": "netmem's built-in echo server", "attach": "a running process", "spawn": "a command"}
TARGET_UNUSED = {"attach": ("spawn", "start_timeout_s"), "spawn": ("attach_pid",)}  # rows greyed out for each
TARGET_HELP = ("What the run measures: netmem's own echo server; a server already running on this machine, by its "
               "PID (Pick… lists the listening ones; netmem never stops it); or a command netmem starts, measures "
               "and stops ({port} in it becomes a free port)")


def _tip(widget: QWidget, text: str) -> QWidget:
    text = text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")
    widget.setToolTip(text)
    widget.setWhatsThis(text)
    return widget


def _control(s: Setting) -> QWidget:
    """The widget that edits one setting, as its row in the table describes it."""
    if s.kind is bool:
        return QCheckBox(s.label)
    if s.choices:
        box = QComboBox()
        box.addItems(list(s.choices))
        return box
    if s.kind is str:
        edit = QLineEdit()
        edit.setPlaceholderText(s.none_text or "")
        return edit
    spin: QSpinBox | QDoubleSpinBox = QSpinBox() if s.kind is int else QDoubleSpinBox()
    if isinstance(spin, QDoubleSpinBox):
        spin.setDecimals(1)
    low = s.low if s.low is not None else 0
    # A setting that can be left unset (None) shows its "not set" text one step below its lowest real value.
    spin.setRange(low - 1 if s.default is None else low, s.high if s.high is not None else QWIDGETSIZE_MAX)
    spin.setSingleStep(s.step)
    if s.none_text:
        spin.setSpecialValueText(s.none_text)
    if s.unit:
        spin.setSuffix(f" {s.unit}")
    spin.setGroupSeparatorShown(s.kind is int and (s.high or 0) >= 10_000)
    spin.setCorrectionMode(QAbstractSpinBox.CorrectionMode.CorrectToNearestValue)
    return spin


def _value(s: Setting, widget: QWidget) -> Any:
    if isinstance(widget, QCheckBox):
        return widget.isChecked()
    if isinstance(widget, QComboBox):
        return widget.currentText()
    if isinstance(widget, QLineEdit):
        return widget.text().strip() or None
    assert isinstance(widget, (QSpinBox, QDoubleSpinBox))
    if s.default is None and widget.value() == widget.minimum():
        return None
    return float(widget.value()) if s.kind is float else int(widget.value())


def _show(s: Setting, widget: QWidget, value: Any) -> None:
    if isinstance(widget, QCheckBox):
        widget.setChecked(bool(value))
    elif isinstance(widget, QComboBox):
        widget.setCurrentText(str(value))
    elif isinstance(widget, QLineEdit):
        widget.setText("" if value is None else str(value))
    else:
        assert isinstance(widget, (QSpinBox, QDoubleSpinBox))
        widget.setValue(widget.minimum() if value is None else value)


def _parse(kind: type, raw: object) -> Any:
    """A value QSettings gave back (text in an INI file) as the setting's kind; ValueError if it isn't one."""
    if kind is bool:
        text = str(raw).lower()
        if text not in ("true", "false"):
            raise ValueError(text)
        return text == "true"
    return kind(raw)


class RunForm(QWidget):
    """The controls that make a RunConfig: the defaults, or the last-used values once saved.

    Each control is an attribute named after the RunConfig field it sets (`form.inject_leak_bytes`).
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controls: dict[str, QWidget] = {}
        self.scenario = QComboBox()
        self.scenario.addItems(cfg.SCENARIOS)
        self.label = QLineEdit()
        self.label.setPlaceholderText("optional")
        self.label.setClearButtonEnabled(True)
        self.advanced = QGroupBox("Advanced")
        self.advanced.setCheckable(True)
        self.advanced.setFlat(True)
        _tip(self.advanced, ADVANCED_HELP)
        # Collapsed while unticked: the form stays short, and what is hidden is not used.
        self._advanced_body = QWidget()
        advanced_form = QFormLayout(self._advanced_body)
        advanced_form.setContentsMargins(0, 0, 0, 0)
        self._advanced_layout = QVBoxLayout(self.advanced)
        self._advanced_layout.addWidget(self._advanced_body)
        self.advanced.toggled.connect(self.set_advanced)

        layout = QFormLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addRow("&Scenario", _tip(self.scenario, SCENARIO_HELP))
        # The Target section: what is measured (docs/targets.md). Its rows are the settings of group "target".
        self._target_rows: dict[str, int] = {}
        self.target_box = QGroupBox("Target")
        target_form = QFormLayout(self.target_box)
        self.target_kind = QComboBox()
        for kind, text in TARGET_KINDS.items():
            self.target_kind.addItem(text, kind)
        target_form.addRow("&What to measure", _tip(self.target_kind, TARGET_HELP))
        self.pick = QPushButton("Pic&k…")
        _tip(self.pick, "choose a listening process of this machine: fills in its PID, address and protocol")
        self.pick.clicked.connect(self.pick_listener)
        for s in FORM_SETTINGS:
            widget = _tip(_control(s), s.help)
            self.controls[s.field] = widget
            setattr(self, s.field, widget)
            rows = {"advanced": advanced_form, "target": target_form}.get(s.group, layout)
            if isinstance(widget, QCheckBox):
                rows.addRow("", widget)
            elif s.field == "attach_pid":
                line = QHBoxLayout()
                line.addWidget(widget, 1)
                line.addWidget(self.pick)
                label = QLabel(s.label)
                label.setBuddy(widget)  # a row of a layout, not a widget: its & shortcut needs the buddy set
                rows.addRow(label, line)
            else:
                rows.addRow(s.label, widget)
            if s.group == "target":
                self._target_rows[s.field] = target_form.rowCount() - 1
        self._target_form = target_form
        layout.addRow(self.target_box)
        layout.addRow("&Label", _tip(self.label, LABEL_HELP))
        layout.addRow(self.advanced)
        self.scenario.currentTextChanged.connect(self._enable_relevant)
        self.target_kind.currentIndexChanged.connect(lambda _: self._enable_relevant(self.scenario.currentText()))
        self.set_config(DEFAULTS)

    def kind(self) -> str:
        """builtin, attach or spawn: the Target section's choice."""
        return str(self.target_kind.currentData())

    def set_kind(self, kind: str) -> None:
        self.target_kind.setCurrentIndex(max(0, self.target_kind.findData(kind)))

    def pick_listener(self) -> None:
        """The Pick… dialog: a listening process of this machine becomes the target, attached to."""
        from .pick import PickDialog  # the dialog reads the machine's sockets: only when asked

        dialog = PickDialog(self)
        if dialog.exec() and dialog.chosen is not None:
            self.attach(dialog.chosen)

    def attach(self, listener: Listener) -> None:
        """Make a listening process the target: its PID, its address, the protocol its name suggests."""
        self.set_kind("attach")
        _show(SETTING["attach_pid"], self.controls["attach_pid"], listener.pid)
        _show(SETTING["address"], self.controls["address"], listener.address)
        _show(SETTING["protocol"], self.controls["protocol"], guess_protocol(listener.name))

    def _in_use(self, s: Setting) -> bool:
        """Whether a target setting applies to the Target section's choice (builtin: none of them)."""
        if s.group != "target":
            return True
        kind = self.kind()
        return kind != "builtin" and s.field not in TARGET_UNUSED[kind]

    def _enable_relevant(self, scenario: str) -> None:
        # Greyed out, not hidden: the value is kept in the record either way, but the user sees it won't matter.
        for s in FORM_SETTINGS:
            self.controls[s.field].setEnabled(matters(s, scenario) and self._in_use(s))
        # The Target section shows only what its choice asks for: the built-in server asks nothing more.
        for name, row in self._target_rows.items():
            self._target_form.setRowVisible(row, self._in_use(SETTING[name]))
        self.pick.setEnabled(self.kind() == "attach")

    def set_config(self, config: RunConfig, label: str | None = None) -> None:
        self.scenario.setCurrentText(config.scenario)
        self.set_kind(config.target_kind())
        self.label.setText(label or "")
        # A config that uses any advanced option opens the section, so nothing in use is hidden; one that uses
        # none just closes it, keeping the values there for when it is ticked again.
        uses_advanced = changed(config, "advanced")
        for s in FORM_SETTINGS:
            if s.group != "advanced" or uses_advanced:
                _show(s, self.controls[s.field], getattr(config, s.field))
        self.set_advanced(uses_advanced)
        self._enable_relevant(config.scenario)

    def set_advanced(self, on: bool) -> None:
        """Tick (and open) or untick (and collapse) the Advanced section."""
        self.advanced.setChecked(on)
        self._advanced_body.setVisible(on)
        # Collapsed, the box is its title line only: no empty frame below it.
        self._advanced_layout.setContentsMargins(*((9, 9, 9, 9) if on else (0, 0, 0, 0)))
        self.advanced.setMaximumHeight(QWIDGETSIZE_MAX if on else self.advanced.fontMetrics().height() + 8)

    def _values(self, with_advanced: bool) -> dict[str, Any]:
        return {s.field: _value(s, self.controls[s.field]) for s in FORM_SETTINGS
                if (s.group != "advanced" or with_advanced) and self._in_use(s)}

    def config(self) -> RunConfig:
        """The RunConfig the controls describe (ConfigError if it can't be run)."""
        return RunConfig(scenario=self.scenario.currentText(), **self._values(self.advanced.isChecked())).validate()

    def run_label(self) -> str | None:
        return self.label.text().strip() or None

    def save(self, settings: QSettings) -> None:
        self.config()  # an invalid form is not saved: the last good settings stay
        settings.beginGroup("run")
        settings.setValue("scenario", self.scenario.currentText())
        # The advanced values are kept even while unticked, so ticking the section again brings them back.
        for key, value in self._values(with_advanced=True).items():
            text = "" if value is None else str(value)
            settings.setValue(key, text.lower() if isinstance(value, bool) else text)
        settings.setValue("advanced", str(self.advanced.isChecked()).lower())
        settings.endGroup()

    def load(self, settings: QSettings) -> None:
        """Restore the last-used values; anything missing or unreadable keeps its default."""
        settings.beginGroup("run")
        values = {key: settings.value(key) for key in settings.childKeys()}
        settings.endGroup()
        fields: dict[str, Any] = {}
        for key, kind in [("scenario", str), *((s.field, s.kind) for s in FORM_SETTINGS)]:
            raw = values.get(key)
            if raw in (None, ""):
                continue
            try:
                fields[key] = _parse(kind, raw)
            except (TypeError, ValueError):
                continue
        try:
            config = RunConfig(**fields).validate()
        except (cfg.ConfigError, TypeError):
            config = DEFAULTS
        self.set_config(config)
        self.set_advanced(str(values.get("advanced", "")).lower() == "true")
