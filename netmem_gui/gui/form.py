"""The run settings form: one control per row of the core's settings table, with tooltips and persistence."""

from __future__ import annotations

import shlex
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
from .prometheus_panel import PrometheusTest

DEFAULTS = RunConfig()
ADVANCED_HELP = ("Options for testing the leak verdict and finding where memory goes. Tick to use them; unticked, "
                 "runs use the defaults (no injected leak, no tracing, one round).")
QWIDGETSIZE_MAX = (1 << 24) - 1
FORM_SETTINGS = tuple(s for s in SETTINGS if s.form)
SETTING = {s.field: s for s in SETTINGS}
TARGET_KINDS = {"builtin": "netmem's built-in echo server", "attach": "a running process", "spawn": "a command",
                "prometheus": "a server through Prometheus"}
PROMETHEUS = ("prometheus_url", "memory_query", "connections_query")  # docs/remote.md
TARGET_UNUSED = {"attach": ("spawn", "start_timeout_s", *PROMETHEUS), "spawn": ("attach_pid", *PROMETHEUS),
                 "prometheus": tuple(s.field for s in SETTINGS if s.group == "target" and s.field not in PROMETHEUS)}
TARGET_HELP = ("What the run measures: netmem's own echo server; a server already running on this machine, by its "
               "PID (Pick… lists the listening ones; netmem never stops it); or a command netmem starts, measures "
               "and stops ({port} in it becomes a free port); or a server anywhere, its memory read from Prometheus "
               "(observe only; Test reads it once)")


class FormError(cfg.ConfigError):
    """A form that can't be run, said in the form's words; `field` names the control to fix (a RunConfig field, or
    "scenario" / "target_kind")."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _name(field: str) -> str:
    """A setting's label as the form shows it, without its & shortcut: 'Process (PID)'."""
    return SETTING[field].label.replace("&", "")


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
            # A box that stops at its maximum says where that is.
            most = f"; at most {s.high:,g}{' ' + s.unit if s.unit else ''}" if s.high is not None else ""
            widget = _tip(_control(s), s.help + most)
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
        self.prometheus_test = PrometheusTest(*(self.controls[f] for f in PROMETHEUS), self)  # type: ignore[arg-type]
        target_form.addRow("", self.prometheus_test.row)
        self._test_row = target_form.rowCount() - 1
        layout.addRow(self.target_box)
        layout.addRow("&Label", _tip(self.label, LABEL_HELP))
        layout.addRow(self.advanced)
        self.scenario.currentTextChanged.connect(self._enable_relevant)
        spawn = self.controls["spawn"]
        assert isinstance(spawn, QLineEdit)
        spawn.textChanged.connect(lambda _: self._enable_relevant(self.scenario.currentText()))
        self.controls["attach_pid"].editingFinished.connect(self._pid_entered)  # type: ignore[attr-defined]
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
        """Whether a target setting applies to the Target section's choice (builtin: none of them; a command with
        {port} in it listens where netmem says, so its Address is not used)."""
        if s.group != "target":
            return True
        kind = self.kind()
        if kind == "spawn" and s.field == "address" and "{port}" in self.controls["spawn"].text():
            return False
        return kind != "builtin" and s.field not in TARGET_UNUSED[kind]

    def _pid_entered(self) -> None:
        """A PID typed in by hand: the address it listens on (and its likely protocol) come from its socket, as
        Pick… would fill them, unless an address was given already."""
        from .pick import listening_address  # reads the machine's sockets: only when asked

        pid = _value(SETTING["attach_pid"], self.controls["attach_pid"])
        address = self.controls["address"]
        if self.kind() != "attach" or pid is None or not isinstance(address, QLineEdit) or address.text().strip():
            return
        found = listening_address(pid)
        if found is not None:
            self.attach(found)

    def _enable_relevant(self, scenario: str) -> None:
        # Greyed out, not hidden: the value is kept in the record either way, but the user sees it won't matter.
        for s in FORM_SETTINGS:
            self.controls[s.field].setEnabled(matters(s, scenario) and self._in_use(s))
        # The Target section shows only what its choice asks for: the built-in server asks nothing more.
        for name, row in self._target_rows.items():
            self._target_form.setRowVisible(row, self._in_use(SETTING[name]) or (name == "address"
                                                                                and self.kind() == "spawn"))
        # A command with {port} listens where netmem says: its Address row stays in sight, empty and greyed, saying so.
        address = self.controls["address"]
        assert isinstance(address, QLineEdit)
        by_port = self.kind() == "spawn" and not self._in_use(SETTING["address"])
        if by_port:
            address.clear()
        address.setPlaceholderText("127.0.0.1 and the free port netmem picks for {port}" if by_port else "HOST:PORT")
        self.pick.setEnabled(self.kind() == "attach")
        self._target_form.setRowVisible(self._test_row, self.kind() == "prometheus")

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
        """The RunConfig the controls describe: FormError, naming the control, if the form can't be run as it is;
        ConfigError for what the core's own checks find."""
        values = self._values(self.advanced.isChecked())
        self._check(values)
        return RunConfig(scenario=self.scenario.currentText(), **values).validate()

    def _check(self, values: dict[str, Any]) -> None:
        """What the form itself can tell is missing or doesn't fit, in its own words (the core's checks speak in
        command-line options). A target chosen but not filled in is an error, never the built-in server."""
        kind, scenario = self.kind(), self.scenario.currentText()
        target = ("'What to measure' under Target: choose a running process or a command")
        if kind == "attach" and values.get("attach_pid") is None:
            raise FormError("attach_pid", f"Give the PID of the process to measure in '{_name('attach_pid')}', or "
                                          "press Pick… to choose one of this machine's listening servers.")
        if kind == "spawn" and not values.get("spawn"):
            raise FormError("spawn", f"Give the command that starts your server in '{_name('spawn')}' ({{port}} in "
                                     "it becomes a free port netmem picks).")
        if kind == "spawn":
            try:
                shlex.split(values["spawn"])
            except ValueError as exc:
                raise FormError("spawn", f"'{_name('spawn')}' can't be split into words as a shell would: {exc}.")\
                    from None
        if kind == "attach" and values.get("address") is None and scenario != "observe":
            raise FormError("address", f"Give the address the process listens on in '{_name('address')}' "
                                       "(HOST:PORT, for example 127.0.0.1:6379); Pick… fills it in.")
        if kind == "spawn" and "{port}" not in values["spawn"] and values.get("address") is None:
            raise FormError("spawn", f"Put {{port}} in '{_name('spawn')}' where the server takes its port (netmem "
                                     f"picks a free one), or give the address it listens on in '{_name('address')}'.")
        if kind == "prometheus":
            for field, what in (("prometheus_url", "Prometheus's address (http://HOST:9090)"),
                                ("memory_query", "the PromQL whose series, summed, are the server's memory")):
                if not values.get(field):
                    raise FormError(field, f"Give {what} in '{_name(field)}'.")
            if scenario != "observe":
                raise FormError("scenario", "A server read through Prometheus gets no load from netmem: choose the "
                                            "observe scenario.")
        if kind == "builtin" and scenario == "observe":
            raise FormError("target_kind", f"The observe scenario watches a server netmem does not load: in {target}.")
        server = values.get("server")
        if server is not None and ":" not in server:
            raise FormError("server", f"'{_name('server')}' is MODULE:ATTR (for example chat:handle), not {server!r}.")
        if values.get("app_dir") is not None and server is None:
            raise FormError("app_dir", f"'{_name('app_dir')}' is where '{_name('server')}' is imported from: "
                                       f"give '{_name('server')}' too, or leave it empty.")
        if server is not None and kind != "builtin":
            raise FormError("server", f"'{_name('server')}' runs your code in netmem's own server: leave it empty "
                                      "to measure the process or command under Target.")
        if kind != "builtin" and values.get("inject_leak_bytes"):
            raise FormError("inject_leak_bytes", f"'{_name('inject_leak_bytes')}' (Advanced) works on netmem's own "
                                                 "echo server only: set it to 0 to measure this target.")
        if kind not in ("builtin", "spawn") and values.get("trace_allocations"):
            raise FormError("trace_allocations", f"'{_name('trace_allocations')}' (Advanced) needs a server netmem "
                                                 "starts (heaptrack writes its sites when the server exits): untick "
                                                 "it, or start the server with a command.")
        if values.get("until_locust_stops") and values.get("locust_url") is None:
            raise FormError("locust_url", f"'{_name('until_locust_stops')}' needs the address of a Locust master in "
                                          f"'{_name('locust_url')}' (Advanced).")
        path = values.get("path")
        if "path" in values and (path is None or not path.startswith("/") or any(c in path for c in " \r\n")):
            raise FormError("path", f"'{_name('path')}' starts with / and holds no spaces, not {path!r}.")
        if values.get("protocol") == "idle" and scenario in ("messages", "all"):
            raise FormError("protocol", f"'{_name('protocol')}' idle sends nothing, so it has no messages scenario: "
                                        "choose the connections, stability or observe scenario, or another protocol.")

    def focus_field(self, field: str) -> None:
        """Put the focus on a setting's control (opening Advanced if it is there), to fix what an error named."""
        widget = {"scenario": self.scenario, "target_kind": self.target_kind}.get(field) or self.controls.get(field)
        if widget is None:
            return
        if field in SETTING and SETTING[field].group == "advanced" and not self.advanced.isChecked():
            self.set_advanced(True)
        widget.setFocus()
        if isinstance(widget, QLineEdit):
            widget.selectAll()

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
