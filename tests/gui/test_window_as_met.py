"""Issue 26, headless: what a new user met in the window (stale labels, unticked compares, silent fallbacks...).

The real-window test (test_real_window.py) checks the points that need a real X window and mouse; these check
the same behaviour offscreen, fast, and the points that need no window manager.
"""

from __future__ import annotations

import copy

import pytest

pytest.importorskip("PySide6")

from netmem_gui.core.config import RunConfig
from netmem_gui.core.records import record
from netmem_gui.core.reports.tables import MIB

from .conftest import run_async
from .test_library_compare import _tiny_run

pytestmark = pytest.mark.qt


@pytest.fixture(scope="module")
def real() -> record.Record:
    return _tiny_run()


def _shifted(rec: record.Record, by_bytes: int) -> record.Record:
    """The same run with every memory figure `by_bytes` higher: another baseline."""
    out = copy.deepcopy(rec)
    out["samples"]["rss_bytes"] = [v + by_bytes for v in out["samples"]["rss_bytes"]]
    for cp in out["checkpoints"]:
        cp["rss_bytes"] += by_bytes
    for key in ("baseline_rss_bytes", "peak_rss_bytes", "final_rss_bytes"):
        out["summary"][key] += by_bytes
    return out


def test_the_baseline_label_follows_the_run_shown(window, real):
    from netmem_gui.gui.plot import RecordSource

    other = _shifted(real, 40 * MIB)
    for rec in (real, other, real):
        window.plot.show_source(RecordSource(rec))
        expected = f"baseline {rec['summary']['baseline_rss_bytes'] / MIB:.2f} MB"
        assert window.plot.baseline.label.toPlainText() == expected
        assert window.plot.baseline.value() == pytest.approx(rec["summary"]["baseline_rss_bytes"] / MIB)


def test_compare_from_the_library_ticks_this_sessions_runs(window, loop):
    async def two_runs():
        for _ in range(2):
            window.start_run(RunConfig(scenario="connections", connections=5, interval_ms=20))
            await window.wait_idle()

    run_async(loop, two_runs())
    ids = [e.library_id for e in window.entries]
    assert all(ids)
    dialog = window.show_library()
    dialog.select_ids(ids)
    assert dialog.compare_button.isEnabled()
    dialog.compare_button.click()
    view = window.compare_view
    assert view is not None and view.isVisible()
    assert sorted(view.chosen()) == sorted(e.title for e in window.entries)
    assert view.comparison is not None
