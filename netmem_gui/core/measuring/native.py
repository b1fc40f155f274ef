"""The allocation sites a spawned native server left: heaptrack's (with --trace-allocations), else LeakSanitizer's."""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

from . import heaptrack, lsan

HEAPTRACK_BASE = "heaptrack"


class NativeTrace:
    """A folder of a spawned command's tool output: heaptrack's file when traced, LeakSanitizer's reports always."""

    def __init__(self, traced: bool) -> None:
        self.traced = traced
        self.folder = tempfile.mkdtemp(prefix="netmem-native-")

    def wrapper(self) -> list[str] | None:
        return heaptrack.wrapper(os.path.join(self.folder, HEAPTRACK_BASE)) if self.traced else None

    def environment(self) -> dict[str, str]:
        return lsan.environment(self.folder)

    def read(self, note: str | None = None) -> dict[str, Any] | None:
        """{"tool", "sites", "reason", "complete"} once the server has exited, or None when no tool spoke.
        `note`: why the data may be incomplete (the server was killed). The folder is removed."""
        try:
            if self.traced:
                found = heaptrack.read(os.path.join(self.folder, HEAPTRACK_BASE))
                return {"tool": "heaptrack", **found, "complete": note is None and found["reason"] is None,
                        "reason": found["reason"] or note}
            sites = lsan.read(self.folder)
            if sites is None:
                return None
            return {"tool": "leaksanitizer", "sites": sites, "reason": note, "complete": note is None}
        finally:
            self.close()

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
