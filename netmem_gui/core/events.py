"""Events: what the workload tells a run (phases, checkpoints, cycles, the end ...), one JSON object each."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Event = dict[str, Any]
Emit = Callable[[Event], None]
