"""The Allocation sites tab and the compare view on native runs: tests/native/echo_server.c run under the real
heaptrack (tests/core/test_native.py's helpers), its leak and its clean twin, once for this module."""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core"))
from test_native import _compile, _traced_run

from netmem_gui.core.records import record
from netmem_gui.core.reports import sites
from netmem_gui.core.runs import library

pytestmark = pytest.mark.slow  # two runs under heaptrack, about 15 s


@pytest.fixture(scope="module")
def native(tmp_path_factory) -> dict[str, Path]:
    """The leak and the clean twin's records, written by `netmem run --trace-allocations --spawn`."""
    folder = tmp_path_factory.mktemp("native-gui")
    binary = _compile(folder, "echo_server_gui")
    for mode in ("leak", "clean"):
        _traced_run(folder, binary, mode)  # writes folder/MODE.json, and checks nothing of the run is left
    return {mode: folder / f"{mode}.json" for mode in ("leak", "clean")}


def _top_level(tree) -> list:
    return [tree.topLevelItem(i) for i in range(tree.topLevelItemCount())]


def test_the_tab_shows_heaptracks_sites_per_cycle_with_their_stacks(window, native):
    rec = record.load(native["leak"])
    block = rec["allocations"]["stability"]
    assert window.open_record(str(native["leak"]))
    tab = window.details.indexOf(window.allocations)
    assert window.details.isTabEnabled(tab)
    assert window.details.tabText(tab) == f"Allocation sites ({len(block['sites'])})"
    assert "heaptrack" in window.details.tabToolTip(tab)
    view = window.allocations.native
    assert window.allocations.currentWidget() is view and window.allocations.rowCount() == len(block["sites"])

    # Which tool, over how many cycles, and the leak beside RSS growth: the record's words.
    head = view.head.text()
    assert head.startswith("<b>heaptrack</b> · stability") and f"per cycle over {block['cycles']:,} cycles" in head
    assert sites.leak_sentence(block).startswith("The leak: ") and sites.leak_sentence(block) in head
    assert "incomplete" not in head

    # One row per site, the most bytes per cycle first, its figures as the record holds them.
    items = _top_level(view.tree)
    keys = [item.data(2, 256) for item in items]
    assert keys == sorted(keys, reverse=True) and len(items) == len(block["sites"])
    top, site = items[0], block["sites"][0]
    assert (top.text(0), top.text(1)) == ("remember_session", f"echo_server.c:{site['line']}")
    assert top.text(2) == sites.size(site["bytes_per_cycle"]) and top.text(3) == f"{site['calls_per_cycle']:.2f}"
    assert top.text(4) == "yes" and top.text(6) == f"{site['count']:,}"
    assert top.font(0).bold()  # it grows
    assert view.tree.isColumnHidden(7)  # heaptrack says no kind of leak (LeakSanitizer does)

    # The whole stack, innermost first, below the site; the frame it is named after in bold.
    frames = [top.child(j) for j in range(top.childCount())]
    assert [f.text(0) for f in frames] == [f"#{j} {frame['function']}" for j, frame in enumerate(site["stack"])]
    assert frames[0].text(1) == f"echo_server.c:{site['stack'][0]['line']}" and frames[0].font(0).bold()
    assert not top.isExpanded()
    top.setExpanded(True)
    assert view.tree.visualItemRect(frames[-1]).height() > 0

    # Sorting by another column sorts by its numbers, not its text ("4,100 B" against "912.1 KB").
    from PySide6.QtCore import Qt

    view.tree.sortByColumn(5, Qt.SortOrder.AscendingOrder)
    sizes = [item.data(5, 256) for item in _top_level(view.tree)]
    assert sizes == sorted(sizes) and len(set(sizes)) > 2


def test_an_incomplete_run_says_why_and_a_tracemalloc_run_gets_its_table_back(window, native, tmp_path):
    rec = record.load(native["leak"])
    # As a server that ignored SIGTERM leaves it: killed, the sites read but marked incomplete.
    block = rec["allocations"]["stability"]
    block["complete"], block["reason"] = False, "the server did not exit on SIGTERM within 5 s: killed"
    path = tmp_path / "incomplete.json"
    record.save(rec, str(path))
    assert window.open_record(str(path))
    head = window.allocations.native.head.text()
    assert "<span style='color:#b00'>incomplete: the server did not exit on SIGTERM within 5 s: killed</span>" in head

    # Then a tracemalloc record: tracemalloc's table again, as before native sites.
    traced = copy.deepcopy(rec)
    traced["allocations"] = {"stability": {"from": "cycle 10", "to": "cycle 80", "sites": [
        {"file": "/x/mod.py", "line": 7, "size_bytes": 4096, "size_diff_bytes": 2048, "count": 2, "count_diff": 1}]}}
    path = tmp_path / "tracemalloc.json"
    record.save(traced, str(path))
    assert window.open_record(str(path))
    assert window.allocations.currentWidget() is window.allocations.table
    assert window.allocations.rowCount() == 1 and window.allocations.item(0, 1).text() == "/x/mod.py:7"
    assert window.allocations.native.tree.topLevelItemCount() == 0
    assert "tracemalloc" in window.details.tabToolTip(window.details.indexOf(window.allocations))


def test_the_compare_view_sets_the_leak_site_beside_the_fixed_run(window, native):
    leak, clean = library.save_run(record.load(native["leak"])), library.save_run(record.load(native["clean"]))
    view = window.show_compare([leak.id, clean.id])
    assert view.ordered() == [leak.id, clean.id]
    assert view.sites.isVisibleTo(view) and view.sites_title.isVisibleTo(view)
    header = [view.sites.horizontalHeaderItem(c).text() for c in range(view.sites.columnCount())]
    assert header == ["scenario", "site", "BASE (heaptrack)", "NEW (heaptrack)"]
    top = next(s for s in record.load(native["leak"])["allocations"]["stability"]["sites"] if s["grows"])
    row = [view.sites.item(0, c).text() for c in range(4)]
    assert row == ["stability", "remember_session (echo_server.c:37)",
                   f"{sites.size(top['bytes_per_cycle'])}/cycle, grows", "none left"]

    # Runs without traced allocations: no sites table.
    view.choose([])
    assert not view.sites.isVisibleTo(view)
