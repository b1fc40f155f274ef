"""This window's session: its runs (started here, or opened from a file), and how far a live one has got."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from ..core.records.record import Record
from ..core.running import lifecycle
from ..core.runs.run import Run

# The progress bar moves in percent: QProgressBar repaints at once on every new value, and finer steps on a bar a
# few hundred pixels wide were repaints nobody could see.
PROGRESS_STEPS = 100


@dataclass
class SessionRun:
    """One entry of the run list: a run started in this window, or a record opened from a file."""

    title: str
    run: Run | None = None
    rec: Record | None = None
    task: asyncio.Task | None = None
    stop: asyncio.Event | None = None
    error: str | None = None
    export: str | None = None  # a file to write the record to when the run ends (the scripted mode's --export)
    outcome: lifecycle.Outcome | None = None  # how the run ended, once it has
    library_id: str | None = None  # the run's ID in the run library, once saved there
    number: int | None = None  # a run started here: its number in the session (#3)

    @property
    def live(self) -> bool:
        return self.run is not None and not self.run.ended

    def record(self) -> Record:
        if self.rec is not None:
            return self.rec
        assert self.run is not None
        return self.run.record()


def progress_value(run: Run) -> int:
    """How far a live run's current scenario has got, in PROGRESS_STEPS."""
    p = run.progress
    if not p or p["scenario"] != run.scenario or not p["total"]:
        return 0
    return int(PROGRESS_STEPS * min(1.0, p["done"] / p["total"]))


def progress_text(run: Run) -> str:
    """The progress bar's words: the scenario (and which of how many), its phase, and its count so far."""
    if not run.phases:
        return "starting…"
    scenarios = run.config.scenario_list()
    scenario, phase = run.phases[-1]["scenario"], run.phases[-1]["phase"]
    step = f" ({scenarios.index(scenario) + 1}/{len(scenarios)})" if len(scenarios) > 1 else ""
    text = f"{scenario}{step} · {phase}"
    p = run.progress
    if p and p["scenario"] == scenario:
        # Whole seconds: a tenth changing five times a second repainted the bar five times a second.
        text += f" · {int(p['done']):,}/{p['total']:,.0f} {p['unit']}"
    return text
