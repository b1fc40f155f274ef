"""--server MODULE:ATTR: each kind of server on both hosts, errors in the user's code, bad input, the examples."""

from __future__ import annotations

import inspect
import re
import sys
from pathlib import Path

import pytest
from conftest import ROOT, run_to_end, small_config
from test_cli import assert_one_line_error, netmem

from netmem_gui.core.config import ConfigError, RunConfig
from netmem_gui.core.exits import Exit
from netmem_gui.core.load import userserver
from netmem_gui.core.records import record
from netmem_gui.core.reports import report
from netmem_gui.core.running import lifecycle

SERVERS = str(Path(__file__).parent / "user_servers")
EXAMPLES = str(ROOT / "examples")


def config(server: str, scenario: str = "all", host: str = "isolated", app_dir: str = SERVERS, **overrides):
    return small_config(scenario, host, server=server, app_dir=app_dir, **overrides)


@pytest.mark.parametrize(("server", "kind", "host"), [
    (server, kind, host) for server, kind in (("kinds:handle", "streams"), ("kinds:EchoProtocol", "protocol"),
                                              ("kinds:make", "factory")) for host in ("isolated", "inapp")
] + [("kinds:amake", "factory", "inapp")])
def test_each_kind_of_server_runs_every_scenario_on_both_hosts(server, kind, host):
    run = run_to_end(config(server, host=host, connections=20))
    assert run.completed, run.stop_reason
    rec = record.validate(run.record())
    module, attr = server.split(":")
    assert {k: rec["target"][k] for k in ("kind", "module", "attr", "file", "handler_kind")} == {
        "kind": "server", "module": module, "attr": attr, "file": str(Path(SERVERS) / f"{module}.py"),
        "handler_kind": kind}
    fig = rec["scenarios"]
    assert fig["connections"]["connections_created"] == 20 and fig["connections"]["connections_failed"] == 0
    assert fig["messages"]["messages_echoed"] == 300 and fig["messages"]["messages_mismatched"] == 0
    assert fig["stability"]["cycles_ok"] == fig["stability"]["cycles"] > 0
    # Checkpoints wait until the user's server holds what the clients hold: its connections are counted.
    held = [cp for cp in rec["checkpoints"] if cp["label"] == "After 20 connections"]
    assert held and held[0]["connections"] == 20
    assert "server_errors" not in rec
    assert f"Your server: {server}, " in report.render(rec)


def test_errors_in_the_users_handler_fail_their_connections_and_the_first_traceback_is_shown():
    run = run_to_end(config("kinds:flaky", "stability", duration_s=0.8))
    assert run.completed, run.stop_reason  # the user's bug is not netmem's: the run goes on
    rec = record.validate(run.record())
    stability = rec["scenarios"]["stability"]
    assert stability["cycles_failed"] == stability["cycles"] > 5 and stability["cycles_ok"] == 0
    errors = rec["server_errors"]
    assert errors["connections"] >= stability["cycles"] - 1  # the last may still be closing
    assert errors["first"].startswith("Traceback (most recent call last):")
    assert "kinds.py" in errors["first"] and errors["first"].endswith("ValueError: no pings here: b'ping'")
    assert "userserver.py" not in errors["first"]  # from the user's frame on
    text = report.render(rec)
    assert text.count("ValueError: no pings here") == 1
    assert "connection(s) ended by an exception (each closed, as asyncio does); the first:" in text


@pytest.mark.parametrize("host", ["isolated", "inapp"])
def test_a_protocol_whose_constructor_raises_is_the_servers_failure_not_a_clean_run(host):
    run = run_to_end(config("kinds:BrokenInit", "stability", host=host, duration_s=0.8))
    rec = record.validate(run.record())
    stability = rec["scenarios"]["stability"]
    assert stability["cycles_ok"] == 0 and stability["cycles_failed"] == stability["cycles"] > 5
    errors = rec["server_errors"]
    assert errors["connections"] >= stability["cycles"] - 1
    assert errors["first"].startswith("Traceback") and errors["first"].endswith("RuntimeError: no database")
    assert "connection(s) ended by an exception" in report.render(rec)


def test_a_run_where_no_cycle_succeeded_judges_no_leak_and_fails():
    """Memory read after failed cycles says nothing of a leak: INCONCLUSIVE, and the run's status is a failure,
    --fail-on-leak or not (it used to say "Leak verdict: OK" and exit 0, passing a CI gate)."""
    run = run_to_end(config("kinds:flaky", "stability", duration_s=0.8))
    outcome = lifecycle.finish(run, keep=False, fail_on_leak=True)
    verdict = outcome.record["scenarios"]["stability"]["leak_verdict"]
    assert verdict["verdict"] == "INCONCLUSIVE" and "none of" in verdict["rss"]["reason"]
    assert outcome.record["summary"]["leak_verdict"]["verdict"] == "INCONCLUSIVE"
    assert outcome.status == Exit.FAILED
    assert "stability: none of" in outcome.verdict and "cycles succeeded" in outcome.verdict
    done = netmem("run", "stability", "--duration", "0.8", "--server", "kinds:flaky", "--app-dir", SERVERS,
                  "--fail-on-leak", "--no-save")
    assert done.returncode == 1 and "the run failed: stability: none of" in done.stderr, done.stderr


def test_a_protocols_errors_are_caught_too_on_the_inapp_host():
    run = run_to_end(config("kinds:EchoProtocol", "messages", host="inapp", messages=50))
    assert run.completed and "server_errors" not in run.record()


def test_what_the_users_server_prints_does_not_break_the_run():
    run = run_to_end(config("kinds:chatty", "connections", connections=10))
    assert run.completed, run.stop_reason
    assert run.record()["scenarios"]["connections"]["connections_created"] == 10


def test_a_factory_returning_something_else_fails_the_run_in_one_line():
    run = run_to_end(config("kinds:factory_of_nothing", "connections", connections=5))
    assert not run.completed
    assert run.stop_reason == ("what the factory --server kinds:factory_of_nothing returned is a int value, not"
                               " callable; expected " + userserver.EXPECTED)


def test_inject_leak_works_on_a_users_server():
    run = run_to_end(config("kinds:handle", "stability", duration_s=1.5, inject_leak_bytes=64 * 1024))
    rec = record.validate(run.record())
    assert rec["scenarios"]["stability"]["leak_verdict"]["verdict"] == "POSSIBLE LEAK"


def test_classification_never_calls_the_object():
    calls = []

    def factory():
        calls.append(1)
        return None

    assert userserver.classify(factory, "x") == userserver.FACTORY
    assert calls == []


# ---- bad input: one line, exit 2, before the run ------------------------------------------------------------------

@pytest.mark.parametrize(("spec", "words"), [
    ("kinds", "--server must be MODULE:ATTR (for example chat:handle), not 'kinds'"),
    ("kinds:9lives", "--server must be MODULE:ATTR (for example chat:handle or app.server:make), not 'kinds:9lives'"),
    ("nowhere_to_be_found:app", "--server nowhere_to_be_found:app: no module named 'nowhere_to_be_found' in any"
                                " folder of the search path (--app-dir, then sys.path: " + SERVERS + ", "),
    ("kinds:handel", "kinds (" + SERVERS + "/kinds.py) has no attribute 'handel'; did you mean handle?"),
    ("wrong:wsgi_app", "is a WSGI application (environ, start_response), an HTTP framework's entry point"),
    ("wrong:asgi_app", "is an ASGI application (scope, receive, send), an HTTP framework's entry point"),
    ("wrong:NUMBER", "--server wrong:NUMBER is a int value, not callable; expected a streams handler"),
    ("wrong:asyncio", "--server wrong:asyncio is a module, not a server object"),
    ("wrong:sync_handler", "is a plain function taking (reader, writer); a streams handler must be a coroutine"
                           " function: async def sync_handler(reader, writer)"),
    ("wrong:one_argument", "is a coroutine function taking (connection); a streams handler takes (reader, writer)"),
    ("wrong:NeedsArguments", "is an asyncio.Protocol subclass whose constructor takes (room); netmem creates one per"
                             " connection with no arguments"),
    ("wrong:Datagrams", "is Datagrams, an asyncio protocol for datagrams or subprocesses"),
    ("missing_dependency:app", "importing missing_dependency failed: No module named"
                               " 'a_module_that_is_not_installed_anywhere' ("),
    ("raises_on_import:app", "importing raises_on_import raised RuntimeError: DATABASE_URL is not set ("),
    ("exits_on_import:app", "importing exits_on_import called sys.exit(3) ("),
    ("interrupts_on_import:app", "importing interrupts_on_import raised KeyboardInterrupt ("),
])
def test_bad_server_is_refused_before_the_run_in_one_line(spec, words):
    with pytest.raises(ConfigError) as refused:
        lifecycle.prepare(RunConfig(scenario="connections", server=spec, app_dir=SERVERS))
    assert words in str(refused.value) and "\n" not in str(refused.value)


@pytest.mark.parametrize(("spec", "words"), [
    ("nowhere_to_be_found:app", "no module named 'nowhere_to_be_found' in any folder of the search path"),
    ("kinds:handel", "has no attribute 'handel'"),
    ("wrong:wsgi_app", "is a WSGI application"),
    ("wrong:one_argument", "a streams handler takes (reader, writer)"),
    ("exits_on_import:app", "called sys.exit(3)"),  # not netmem's exit status 3, and not silence
    ("interrupts_on_import:app", "raised KeyboardInterrupt"),  # not a traceback
])
def test_bad_server_on_the_command_line_is_one_line_and_status_2(spec, words):
    assert_one_line_error(netmem("run", "connections", "--server", spec, "--app-dir", SERVERS), words)


def test_bad_app_dir_and_syntax_errors_are_one_line(tmp_path):
    assert_one_line_error(netmem("run", "connections", "--server", "kinds:handle", "--app-dir",
                                 str(tmp_path / "none")), "--app-dir " + str(tmp_path / "none") + ": no such folder")
    assert_one_line_error(netmem("run", "connections", "--app-dir", SERVERS), "give --server too")
    (tmp_path / "typo.py").write_text("async def handle(reader, writer)\n    pass\n", encoding="utf-8")
    assert_one_line_error(netmem("run", "connections", "--server", "typo:handle", "--app-dir", str(tmp_path)),
                          f"--server typo:handle: {tmp_path / 'typo.py'} line 1: expected ':'")


def test_app_dir_defaults_to_the_current_folder():
    done = netmem("run", "connections", "--connections", "5", "--server", "kinds:handle", "--interval", "20",
                  "--no-save", cwd=SERVERS)
    assert done.returncode == 0, done.stderr
    assert f"Your server: kinds:handle, a streams handler (reader, writer) from {SERVERS}/kinds.py" in done.stdout


def test_the_isolated_servers_process_loads_none_of_netmems_lazy_modules(tmp_path):
    """The measured process is the user's server: numpy and jsonschema in it put 18 MB of netmem's in its baseline."""
    seen = tmp_path / "seen.txt"
    (tmp_path / "lean.py").write_text(
        "import asyncio, sys\n"
        "async def handle(reader, writer):\n"
        f"    open({str(seen)!r}, 'w').write(' '.join(m for m in ('numpy', 'jsonschema', 'urllib.request')"
        " if m in sys.modules))\n"
        "    writer.close()\n", encoding="utf-8")
    done = netmem("run", "connections", "--connections", "3", "--host", "isolated", "--server", "lean:handle",
                  "--app-dir", str(tmp_path), "--no-save")
    assert done.returncode == 0, done.stderr
    assert seen.read_text(encoding="utf-8") == ""


@pytest.mark.parametrize("host", ["isolated", "inapp"])
def test_a_handler_that_blocks_its_event_loop_ends_the_run_saying_where(tmp_path, host):
    """It hung netmem with no message until killed, then blamed 'the workload process failed: exit status -9'."""
    (tmp_path / "blocker.py").write_text("import time\n\nasync def handle(reader, writer):\n"
                                         "    await reader.read(100)\n    time.sleep(1000)\n", encoding="utf-8")
    done = netmem("run", "connections", "--connections", "5", "--host", host, "--server", "blocker:handle",
                  "--app-dir", str(tmp_path), "--no-save", timeout=60)
    assert done.returncode == 1, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert re.fullmatch(
        r"netmem: the run failed: your server's event loop was blocked for 1\d s at " + re.escape(
            f"{tmp_path / 'blocker.py'}:5 in handle (`time.sleep(1000)`): a blocking call in an async handler stalls"
            " every connection; await it, or run it in a thread (asyncio.to_thread)"), last), last


# ---- the examples -------------------------------------------------------------------------------------------------

def _session_buffer_line() -> int:
    sys.path.insert(0, EXAMPLES)
    try:
        import chat
    finally:
        sys.path.remove(EXAMPLES)
    lines, first = inspect.getsourcelines(chat.Session)
    return first + next(i for i, text in enumerate(lines) if "bytearray(" in text)


def test_the_leaky_chat_example_says_possible_leak_and_exits_3():
    done = netmem("run", "stability", "--server", "chat:leaky_room", "--app-dir", EXAMPLES, "--duration", "2",
                  "--fail-on-leak", "--no-save")
    assert done.returncode == 3, done.stderr
    assert "Leak verdict (growth per cycle in steady state): POSSIBLE LEAK (stability)" in done.stdout
    assert "1. Memory grows over time (stability)" in done.stdout


def test_tracing_the_leaky_chat_example_names_its_session_buffer_line(tmp_path):
    out = tmp_path / "chat.json"
    done = netmem("run", "stability", "--server", "chat:leaky_room", "--app-dir", EXAMPLES, "--duration", "2",
                  "--trace-allocations", "--json", str(out), "--no-save")
    assert done.returncode == 0, done.stderr
    rec = record.load(out)
    top = rec["allocations"]["stability"]["sites"][0]
    assert (top["file"], top["line"]) == (str(Path(EXAMPLES) / "chat.py"), _session_buffer_line())
    finding = next(f for f in rec["findings"] if f["id"] == "memory-grows")
    assert f"chat.py:{_session_buffer_line()} +" in finding["next_steps"][0]["text"]


def test_the_fixed_chat_example_exits_0_without_a_leak():
    done = netmem("run", "stability", "--server", "chat:room", "--app-dir", EXAMPLES, "--duration", "2",
                  "--fail-on-leak", "--no-save")
    assert done.returncode == 0, done.stderr
    verdict = next(line for line in done.stdout.splitlines() if line.startswith("Leak verdict (growth per cycle"))
    assert "POSSIBLE LEAK" not in verdict  # OK, or INCONCLUSIVE when 2 s on a busy machine can't tell
    assert "Memory grows over time" not in done.stdout


def test_the_queue_example_runs_every_scenario():
    run = run_to_end(config("queue_server:QueuedEcho", app_dir=EXAMPLES, connections=20, messages=2000,
                            message_size=64 * 1024))
    assert run.completed, run.stop_reason
    rec = run.record()
    assert rec["scenarios"]["messages"]["messages_echoed"] == 2000
    assert rec["target"]["handler_kind"] == "protocol"


def test_a_module_of_the_users_named_like_one_of_netmems_does_not_stand_in_for_it(tmp_path):
    """--app-dir goes first on sys.path: an orjson.py there broke netmem's own record writing with a traceback."""
    (tmp_path / "orjson.py").write_text("raise RuntimeError('not the orjson netmem needs')\n", encoding="utf-8")
    (tmp_path / "numpy.py").write_text("raise RuntimeError('not numpy')\n", encoding="utf-8")
    (tmp_path / "app.py").write_text((Path(SERVERS) / "kinds.py").read_text(encoding="utf-8"), encoding="utf-8")
    out = tmp_path / "run.json"
    for host in ("isolated", "inapp"):
        done = netmem("run", "connections", "--connections", "5", "--host", host, "--server", "app:handle",
                      "--app-dir", str(tmp_path), "--json", str(out), "--no-save")
        assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
        assert record.load(out)["scenarios"]["connections"]["connections_created"] == 5
