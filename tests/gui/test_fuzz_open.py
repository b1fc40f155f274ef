"""Property test (Hypothesis) of the app's open path: a mutated record opens and plots, or gives one error dialog
of one line; the window keeps working either way."""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("hypothesis")

from hypothesis import HealthCheck, given, settings

from netmem_gui.core.config import RunConfig
from tests.core.mutations import FUZZ, mutated_json

from .conftest import run_async

pytestmark = pytest.mark.qt




def test_open_loads_or_says_why_in_one_line(window, loop, tmp_path, dialogs):
    async def go():
        entry = window.start_run(RunConfig(scenario="messages", messages=200, interval_ms=20, host="inapp"))
        await window.wait_idle()
        await asyncio.sleep(0.05)
        return entry

    base = run_async(loop, go()).record()
    path = tmp_path / "run.json"

    @settings(FUZZ, max_examples=FUZZ.max_examples * 5 // 8,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(text=mutated_json(base))
    def open_one(text):
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        before, rows = len(dialogs), window.run_list.count()
        if window.open_record(str(path)):
            assert len(dialogs) == before and window.run_list.count() == rows + 1
            rec = window.current_entry().record()
            assert window.plot.sample_count() == len(rec["samples"]["t_s"])
            window.grab()  # paint it: a range Qt can't draw raises here
        else:
            assert len(dialogs) == before + 1 and window.run_list.count() == rows
            assert "\n" not in dialogs[-1][1] and "run.json" in dialogs[-1][1]
        assert window.start_button.isEnabled()

    open_one()
