"""Allocation sites of native servers: heaptrack (--trace-allocations with --spawn) and LeakSanitizer, against
the real tools and tests/native/echo_server.c, compiled here with the system's cc."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from servers import need

from netmem_gui.core.config import ConfigError, RunConfig, TargetError
from netmem_gui.core.measuring import heaptrack, lsan
from netmem_gui.core.reports import sites
from netmem_gui.core.targets import external

SOURCE = Path(__file__).parent.parent / "native" / "echo_server.c"
LEAK_BYTES = 2000 + 24  # remember_session: the scratch buffer and the session struct, per connection
NETMEM = [sys.executable, "-m", "netmem_gui.cli"]


def _compile(folder: Path, name: str, *flags: str) -> Path:
    need("cc")
    binary = folder / name
    subprocess.run(["cc", "-g", "-O0", *flags, "-o", str(binary), str(SOURCE)], check=True, capture_output=True)
    return binary


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Path:
    # A name of its own: whatever still runs it after a test is found by its path.
    return _compile(tmp_path_factory.mktemp("native"), f"echo_server_{os.getpid()}")


def _left_running(marker: str) -> list[str]:
    found = []
    for p in psutil.process_iter(["cmdline", "status"]):
        cmdline = " ".join(p.info["cmdline"] or [])
        if marker in cmdline and p.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(cmdline)
    return found


def _run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([*NETMEM, "run", *args, "--no-save"], capture_output=True, text=True, timeout=timeout)


def _one_line_error(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    return lines[0]


# ---- parsing and the naming rule (no tools needed) ---------------------------------------------------------------

PRINTED = """reading file "ht.zst" - please wait, this might take some time...
MEMORY LEAKS
200.00K leaked over 100 calls from
  remember_session
    at /src/echo_server.c:37
    in /tmp/echo_server
  main
    at /src/echo_server.c:91
    in /tmp/echo_server

4.10K leaked over 1 calls from
  __GI__IO_file_doallocate
    at ./libio/filedoalloc.c:101
    in /lib/x86_64-linux-gnu/libc.so.6
  __GI__IO_doallocbuf
    at ./libio/genops.c:342
  main
    at /src/echo_server.c:73
    in /tmp/echo_server


total runtime: 1.89s.
"""


def test_heaptrack_print_text_reads_as_sites_with_whole_stacks():
    found = heaptrack.parse(PRINTED)
    assert [(s["size_bytes"], s["count"]) for s in found] == [(200_000, 100), (4100, 1)]
    assert found[0]["stack"][0] == {"function": "remember_session", "file": "/src/echo_server.c", "line": 37,
                                    "module": "/tmp/echo_server"}
    assert found[1]["stack"][1]["module"] == "/lib/x86_64-linux-gnu/libc.so.6"  # inlined: its frame's module
    assert sites.named_frame(found[1]["stack"])["function"] == "main"  # libc's frames are skipped


def test_the_named_frame_skips_the_allocator_runtime_and_event_libraries():
    stack = [{"function": "operator new(unsigned long)", "module": "/usr/lib/libstdc++.so.6"},
             {"function": "std::make_shared<Session>", "module": "/srv/server"},
             {"function": "boost::asio::detail::reactive_socket_accept_op<...>::do_complete", "module": "/srv/server"},
             {"function": "Server::on_accept", "file": "server.cpp", "line": 42, "module": "/srv/server"},
             {"function": "event_base_loop", "module": "/usr/lib/libevent-2.1.so.7"}]
    assert sites.named_frame(stack)["function"] == "Server::on_accept"
    assert sites.named_frame(stack[:1])["function"] == "operator new(unsigned long)"  # nothing better: the first


def test_per_cycle_figures_and_the_leak_beside_rss_growth():
    found = {"sites": heaptrack.parse(PRINTED), "reason": None}
    block = sites.native_block("heaptrack", found, {"cycles": 100, "leak_verdict": {
        "rss": {"slope_bytes_per_cycle": 2048.0}}})
    top = block["sites"][0]
    assert (top["function"], top["bytes_per_cycle"], top["calls_per_cycle"], top["grows"]) == \
        ("remember_session", 2000.0, 1.0, True)
    assert not block["sites"][1]["grows"]  # one start-up buffer
    assert block["explains_rss_growth"] and block["growing_bytes_per_cycle"] == 2000.0
    assert "The leak: 1 site(s) growing with the cycles keep 2,000 B per cycle; RSS grows 2,048 B per cycle" in \
        sites.lines(block)


def test_a_leaksanitizer_report_reads_as_sites():
    text = """==9088==ERROR: LeakSanitizer: detected memory leaks

Direct leak of 1176 byte(s) in 49 object(s) allocated from:
    #0 0x7f0f804b89cf in __interceptor_malloc ../../../../src/libsanitizer/asan/asan_malloc_linux.cpp:69
    #1 0x5620e9b99385 in remember_session /src/echo_server.c:34
    #2 0x5620e9b99cd7 in main /src/echo_server.c:91:7
    #3 0x7f0f80245249  (/lib/x86_64-linux-gnu/libc.so.6+0x27249)

Indirect leak of 98000 byte(s) in 49 object(s) allocated from:
    #0 0x7f0f804b89cf in __interceptor_malloc ../../../../src/libsanitizer/asan/asan_malloc_linux.cpp:69
    #1 0x5620e9b993fe in remember_session /src/echo_server.c:37

SUMMARY: AddressSanitizer: 99176 byte(s) leaked in 98 allocation(s).
"""
    found = lsan.parse(text)
    assert [(s["kind"], s["size_bytes"], s["count"]) for s in found] == [("indirect", 98000, 49),
                                                                         ("direct", 1176, 49)]
    assert found[1]["stack"][2] == {"function": "main", "file": "/src/echo_server.c", "line": 91, "module": None}
    assert found[1]["stack"][3]["module"] == "/lib/x86_64-linux-gnu/libc.so.6"
    assert sites.named_frame(found[0]["stack"])["line"] == 37
    assert lsan.parse("no report here") is None


def test_an_empty_or_corrupt_heaptrack_file_gives_no_sites_and_says_why(tmp_path):
    need("heaptrack_print")
    base = tmp_path / "ht"
    assert "wrote no file" in heaptrack.read(str(base))["reason"]
    (tmp_path / "ht.zst").write_bytes(b"")
    assert "empty" in heaptrack.read(str(base))["reason"]
    (tmp_path / "ht.zst").write_bytes(b"\x28\xb5\x2f\xfd garbage, not heaptrack's")
    found = heaptrack.read(str(base))
    assert found["sites"] == [] and "does not read" in found["reason"]


# ---- bad input ----------------------------------------------------------------------------------------------------

def test_trace_allocations_on_attach_is_refused_naming_spawn():
    line = _one_line_error(_run("stability", "--attach", str(os.getpid()), "--address", "127.0.0.1:9",
                                "--trace-allocations"))
    assert line == ("netmem: error: --trace-allocations needs a server netmem starts (heaptrack writes its sites only"
                    " when the server exits): run it with --spawn COMMAND")
    with pytest.raises(ConfigError, match="--spawn COMMAND"):
        RunConfig(scenario="observe", attach_pid=os.getpid(), trace_allocations=True).validate()


def test_missing_heaptrack_is_one_line_naming_the_package_before_anything_starts(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None if name.startswith("heaptrack") else "/bin/x")
    with pytest.raises(TargetError, match="heaptrack is not installed \\(apt-get install heaptrack"):
        external.check_target(RunConfig(scenario="stability", spawn="/bin/true {port}", trace_allocations=True))
    marker = tmp_path / "started"
    done = subprocess.run([*NETMEM, "run", "stability", "--no-save", "--trace-allocations", "--spawn",
                           f"/bin/sh -c 'touch {marker}; sleep 30' {{port}}"], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "PATH": str(tmp_path)})
    assert "heaptrack is not installed (apt-get install heaptrack" in _one_line_error(done)
    assert not marker.exists()


# ---- real heaptrack and the C server ---------------------------------------------------------------------------

def _traced_run(tmp_path: Path, binary: Path, mode: str, seconds: str = "4") -> tuple[dict, str]:
    need("heaptrack")
    out = tmp_path / f"{mode}.json"
    done = _run("stability", "--duration", seconds, "--trace-allocations", "--spawn", f"{binary} {{port}} {mode}",
                "--json", str(out))
    assert done.returncode == 0, done.stderr
    assert _left_running(str(binary)) == []
    return json.loads(out.read_text()), done.stdout


@pytest.fixture(scope="module")
def traced(tmp_path_factory, server) -> dict[str, tuple[dict, str, Path]]:
    """The leak and its clean twin, each run once under heaptrack for the tests below: {mode: (record, report,
    the record's file)}."""
    folder = tmp_path_factory.mktemp("traced")
    out = {}
    for mode in ("leak", "clean"):
        rec, report = _traced_run(folder, server, mode)
        out[mode] = (rec, report, folder / f"{mode}.json")
    return out


@pytest.mark.slow
def test_heaptrack_names_the_leaking_function_and_its_bytes_per_cycle(traced):
    rec, report, _ = traced["leak"]
    alloc = rec["allocations"]["stability"]
    assert alloc["tool"] == "heaptrack" and alloc["complete"] and alloc["reason"] is None
    growing = [s for s in alloc["sites"] if s["grows"]]
    assert growing[0]["function"] == "remember_session" and growing[0]["file"].endswith("echo_server.c")
    assert growing[0]["stack"][-1]["function"] in ("main", "__libc_start_call_main", "__libc_start_main")
    in_function = sum(s["bytes_per_cycle"] for s in growing if s["function"] == "remember_session")
    assert LEAK_BYTES * 0.75 <= in_function <= LEAK_BYTES * 1.25, in_function
    assert alloc["explains_rss_growth"], alloc
    assert rec["summary"]["leak_verdict"]["verdict"] == "POSSIBLE LEAK"
    assert "Allocation sites still allocated at the server's exit (heaptrack" in report
    assert "The leak: " in report
    grows = next(f for f in rec["findings"] if f["scenario"] == "stability" and "grows" in f["symptom"].lower())
    assert "remember_session (echo_server.c:37)" in grows["next_steps"][0]["text"]


@pytest.mark.slow
def test_the_clean_twin_names_no_growing_site(traced):
    rec, report, _ = traced["clean"]
    alloc = rec["allocations"]["stability"]
    assert alloc["tool"] == "heaptrack" and alloc["reason"] is None
    assert [s for s in alloc["sites"] if s["grows"]] == []
    assert "No allocation site grows with the cycles" in report


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["text", "markdown", "json"])
def test_compare_sets_the_leak_site_beside_the_fixed_run(traced, fmt):
    """`netmem compare LEAK CLEAN`: the leaking function's bytes per cycle in BASE, nothing left there in NEW."""
    leak, clean = traced["leak"], traced["clean"]
    done = subprocess.run([*NETMEM, "compare", str(leak[2]), str(clean[2]), "--format", fmt], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr  # the fix regressed nothing
    top = next(s for s in leak[0]["allocations"]["stability"]["sites"] if s["grows"])
    assert top["function"] == "remember_session"
    per_cycle = f"{sites.size(top['bytes_per_cycle'])}/cycle, grows"
    if fmt == "json":
        table = json.loads(done.stdout)["allocation_sites"]
        assert table["tools"] == ["heaptrack", "heaptrack"]
        row = table["rows"][0]
        assert row["site"] == "remember_session (echo_server.c:37)" and row["scenario"] == "stability"
        assert row["runs"][0]["bytes_per_cycle"] == top["bytes_per_cycle"] and row["runs"][1] is None
        # A site of both runs (start-up's buffer in main) is matched, not listed twice.
        both = [r for r in table["rows"] if all(r["runs"])]
        assert both and all(r["site"].startswith("main (") for r in both)
        assert len({r["site"] for r in table["rows"]}) == len(table["rows"])
        return
    lines = done.stdout.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("Allocation sites side by side"))
    row = next(line for line in lines[head:] if "remember_session (echo_server.c:37)" in line)
    if fmt == "markdown":
        assert "| scenario | site | BASE (heaptrack) | NEW (heaptrack) |" in lines[head + 2]
        assert row == f"| stability | remember_session (echo_server.c:37) | {per_cycle} | none left |"
    else:
        assert lines[head + 1].split() == ["scenario", "site", "BASE", "(heaptrack)", "NEW", "(heaptrack)"]
        assert row.split()[0] == "stability" and re.search(rf"  {re.escape(per_cycle)} +none left$", row), row


def test_sites_are_matched_by_function_and_file_line_else_by_the_frame_named():
    at = {"function": "f", "file": "/a/src/x.c", "line": 3, "module": "/a/bin"}
    assert sites.site_key("stability", at) == sites.site_key("stability", {**at, "file": "/b/src/x.c"})
    assert sites.site_key("stability", at) != sites.site_key("stability", {**at, "line": 4})
    no_debug = {"function": "f", "file": None, "line": None, "module": "/opt/lib/libx.so"}
    assert sites.site_key("stability", no_debug) == ("stability", "f", "libx.so")
    base = {"allocations": {"stability": {"tool": "heaptrack", "sites": [
        {**at, "bytes_per_cycle": 10.0, "calls_per_cycle": 1.0, "grows": True, "size_bytes": 100, "count": 10},
        {**at, "bytes_per_cycle": 5.0, "calls_per_cycle": 0.5, "grows": False, "size_bytes": 50, "count": 5}]}}}
    table = sites.side_by_side([base, {"allocations": {}}])
    assert table["tools"] == ["heaptrack", None] and len(table["rows"]) == 1  # two stacks to one line: one site
    assert table["rows"][0]["runs"][0] | {} == {"bytes_per_cycle": 15.0, "calls_per_cycle": 1.5, "grows": True,
                                                 "size_bytes": 150, "count": 15, "size_diff_bytes": None}
    _, rows = sites.side_by_side_table(table, ["BASE", "NEW"])
    assert rows == [["stability", "f (x.c:3)", "15 B/cycle, grows", "not traced"]]


@pytest.mark.slow
def test_heaptrack_killed_mid_run_keeps_the_run_without_sites(tmp_path, server):
    need("heaptrack")
    out = tmp_path / "killed.json"
    proc = subprocess.Popen([*NETMEM, "run", "stability", "--duration", "5", "--trace-allocations", "--no-save",
                             "--spawn", f"{server} {{port}} leak", "--json", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    killed = False
    while not killed and time.monotonic() < deadline:
        time.sleep(0.3)
        for p in psutil.Process(proc.pid).children(recursive=True):
            try:
                if p.name().startswith("heaptrack_inte"):
                    p.kill()
                    killed = True
            except psutil.Error:
                pass
    assert killed
    stdout, _ = proc.communicate(timeout=120)
    rec = json.loads(out.read_text())
    alloc = rec["allocations"]["stability"]
    assert alloc["sites"] == [] and alloc["reason"], alloc
    assert "none read: heaptrack" in stdout
    assert _left_running(str(server)) == []


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_nothing_outlives_netmem_stopped_mid_run(tmp_path, server, sig):
    need("heaptrack")
    proc = subprocess.Popen([*NETMEM, "run", "stability", "--duration", "60", "--trace-allocations", "--no-save",
                             "--spawn", f"{server} {{port}} leak"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not any("leak" in c and "heaptrack" not in c
                                                   for c in _left_running(str(server))):
        time.sleep(0.2)
    time.sleep(1.0)
    proc.send_signal(sig)
    proc.communicate(timeout=120)
    deadline = time.monotonic() + 10
    while _left_running(str(server)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _left_running(str(server)) == []
    assert not [p for p in psutil.process_iter(["name", "ppid"]) if (p.info["name"] or "").startswith("heaptrack")
                and p.info["ppid"] == proc.pid]


# ---- LeakSanitizer ---------------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_an_asan_build_reports_its_leak_as_sites_with_no_flag(tmp_path):
    try:
        binary = _compile(tmp_path, f"echo_asan_{os.getpid()}", "-fsanitize=address", "-fno-omit-frame-pointer")
    except subprocess.CalledProcessError as exc:
        pytest.skip(f"cc here does not build with -fsanitize=address: {exc.stderr.decode()[-200:]}")
    out = tmp_path / "asan.json"
    done = _run("stability", "--duration", "3", "--spawn", f"{binary} {{port}} leak", "--json", str(out))
    assert done.returncode == 0, done.stderr
    alloc = json.loads(out.read_text())["allocations"]["stability"]
    assert alloc["tool"] == "leaksanitizer"
    top = alloc["sites"][0]
    assert (top["function"], top["kind"], top["grows"]) == ("remember_session", "indirect", True)
    assert 2000 * 0.75 <= top["bytes_per_cycle"] <= 2000 * 1.25
    assert "LeakSanitizer" in done.stdout
    assert _left_running(str(binary)) == []
