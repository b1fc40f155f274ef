"""Targets against real servers: redis-server (attach, spawn, the redis protocol, killed mid-run) and a pre-fork
nginx (--include-children, http). They fail in CI when the servers are missing (see servers.need)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import psutil
import pytest
from conftest import run_to_end, small_config
from servers import need, nginx_command, nginx_server, redis_server

from netmem_gui.core import addresses
from netmem_gui.core.config import RunConfig
from netmem_gui.core.records import record
from netmem_gui.core.reports import report
from netmem_gui.core.running.execute import execute
from netmem_gui.core.running.lifecycle import prepare
from netmem_gui.core.runs.run import Run
from netmem_gui.core.targets import processes


def _cli(netmem_cmd, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([*netmem_cmd, "run", *args, "--no-save"], capture_output=True, text=True, timeout=timeout)


def _one_line_error(result: subprocess.CompletedProcess, status: int = 2) -> str:
    assert result.returncode == status, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def _processes_running(marker: str) -> list[int]:
    found = []
    for p in psutil.process_iter(["cmdline"]):
        if marker in " ".join(p.info["cmdline"] or []):
            found.append(p.pid)
    return found


# ---- attach ---------------------------------------------------------------------------------------------------

def test_attach_redis_connections_with_the_redis_protocol():
    with redis_server() as (proc, port):
        config = small_config("connections", "isolated", connections=60, attach_pid=proc.pid,
                              address=f"127.0.0.1:{port}", protocol="redis")
        prepare(config)
        run = run_to_end(config)
        rec = record.validate(run.record())
        assert proc.poll() is None  # netmem never stops a process it attached to
        assert rec["completed"], rec["stop_reason"]
        fig = rec["scenarios"]["connections"]
        assert fig["connections_created"] == 60 and fig["connections_failed"] == 0
        # redis keeps a client struct and query buffer per connection: a few KB to a few tens of KB each.
        assert 1024 < fig["per_connection_bytes"] < 64 * 1024
        assert rec["measured"] == {"pid": proc.pid, "role": "target"}
        target = rec["target"]
        assert target["kind"] == "attach" and target["name"] == "redis-server" and target["pid"] == proc.pid
        assert target["address"] == f"127.0.0.1:{port}" and target["protocol"] == "redis"
        # The server was not stopped: no "After server stop" checkpoint, cleanup measured after the clients closed.
        labels = [cp["label"] for cp in rec["checkpoints"]]
        assert "After server stop" not in labels and labels[-1] == "After closing clients"
        text = report.render(rec)
        assert f"measuring redis-server (pid {proc.pid})" in text and "attached" in text


def test_established_connections_are_counted_from_proc():
    with redis_server() as (proc, port):
        before = processes.established_connections([proc.pid])
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(25)]
        try:
            deadline = time.monotonic() + 5
            while processes.established_connections([proc.pid]) != before + 25 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert processes.established_connections([proc.pid]) == before + 25
        finally:
            for c in clients:
                c.close()


def test_attach_errors_are_one_line(netmem_cmd, tmp_path):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    line = _one_line_error(_cli(netmem_cmd, "connections", "--attach", str(gone.pid), "--address", "127.0.0.1:9"))
    assert line == f"netmem: error: --attach {gone.pid}: no such process"
    # A zombie: a child that exited and was not waited for.
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 10
    while psutil.Process(zombie.pid).status() != psutil.STATUS_ZOMBIE and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        line = _one_line_error(_cli(netmem_cmd, "connections", "--attach", str(zombie.pid), "--address",
                                    "127.0.0.1:9"))
        assert "zombie" in line
    finally:
        zombie.wait()
    line = _one_line_error(_cli(netmem_cmd, "connections", "--attach", "1", "--address", "8.8.8.8:53"))
    assert "8.8.8.8 is not this machine" in line


def test_attach_to_a_process_that_listens_elsewhere_names_who_listens(netmem_cmd):
    with redis_server() as (proc, port), socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        elsewhere = other.getsockname()[1]
        line = _one_line_error(_cli(netmem_cmd, "connections", "--attach", str(proc.pid), "--address",
                                    f"127.0.0.1:{elsewhere}", "--protocol", "redis"))
        assert f"process {proc.pid} (redis-server) does not listen on port {elsewhere}" in line
        assert f"these do: {os.getpid()} (" in line  # this test's process holds that listener
        line = _one_line_error(_cli(netmem_cmd, "connections", "--attach", str(os.getpid()), "--address",
                                    f"127.0.0.1:{port}"))
        assert f"these do: {proc.pid} (redis-server)" in line


@pytest.mark.skipif(sys.platform != "linux", reason="runs netmem as another user with setuid")
def test_attach_to_a_process_netmem_may_not_read(netmem_cmd):
    """As an unprivileged user, a root process's sockets are not readable: refused before the run."""
    need("redis-server")
    if os.getuid() == 0:
        # Root reads everything: run netmem itself as `nobody` against a process of root's (this one).
        with socket.socket() as listener:
            listener.bind(("127.0.0.1", 0))
            listener.listen()
            port = listener.getsockname()[1]
            env = {**os.environ, "HOME": "/tmp"}
            try:
                result = subprocess.run([*netmem_cmd, "run", "connections", "--attach", str(os.getpid()),
                                         "--address", f"127.0.0.1:{port}", "--no-save"], capture_output=True,
                                        text=True, timeout=60, user=65534, group=65534, env=env, cwd="/tmp")
            except PermissionError:
                pytest.skip("the unprivileged user can't run this Python")
    else:
        result = _cli(netmem_cmd, "connections", "--attach", "1", "--address", "127.0.0.1:9")
    if "No module named" in result.stderr or "Permission denied: '/" in result.stderr:
        pytest.skip("the unprivileged user can't read this checkout")
    line = _one_line_error(result)
    assert "permission denied" in line


def test_target_killed_mid_run_ends_the_run_with_its_partial_record(netmem_cmd, tmp_path):
    with redis_server() as (proc, port):
        out = tmp_path / "killed.json"
        cli = subprocess.Popen([*netmem_cmd, "run", "stability", "--duration", "60", "--attach", str(proc.pid),
                                "--address", f"127.0.0.1:{port}", "--protocol", "redis", "--interval", "20",
                                "--json", str(out), "--no-save"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            # Wait until the stability cycles have started (redis has counted some connections), then kill redis.
            deadline = time.monotonic() + 30
            probes = 0
            while time.monotonic() < deadline:
                with socket.create_connection(("127.0.0.1", port)) as probe:
                    probe.sendall(b"*2\r\n$4\r\nINFO\r\n$5\r\nstats\r\n")
                    info = probe.recv(65536).decode()
                probes += 1
                # Connections netmem made: all that redis received, less this loop's own probes.
                if int(info.split("total_connections_received:")[1].split()[0]) - probes > 20:
                    break
                time.sleep(0.05)
            proc.send_signal(signal.SIGKILL)
            killed = time.monotonic()
            _stdout, stderr = cli.communicate(timeout=30)
            took = time.monotonic() - killed
        finally:
            if cli.poll() is None:
                cli.kill()
                cli.wait()
        assert cli.returncode == 1, stderr
        assert took < 10, f"the run went on for {took:.1f} s after its target died"
        assert f"the target process {proc.pid} (redis-server) ended" in stderr
        rec = record.load(out)
        assert rec["completed"] is False and "ended" in rec["stop_reason"]
        assert rec["scenarios"]["stability"]["cycles"] > 0


# ---- spawn ----------------------------------------------------------------------------------------------------

def test_spawn_redis_stability_gives_a_verdict_and_leaves_nothing_running(netmem_cmd, tmp_path):
    need("redis-server")
    marker = f"--port {{port}} --save '' --appendonly no --dbfilename netmem-{os.getpid()}.rdb"
    out = tmp_path / "spawn.json"
    result = _cli(netmem_cmd, "stability", "--duration", "1.5", "--interval", "20", "--spawn",
                  f"redis-server {marker}", "--protocol", "redis", "--json", str(out))
    assert result.returncode == 0, result.stderr
    rec = record.load(out)
    assert rec["completed"] and rec["target"]["kind"] == "spawn"
    assert rec["summary"]["leak_verdict"]["verdict"] in ("OK", "INCONCLUSIVE", "POSSIBLE LEAK")
    assert rec["scenarios"]["stability"]["cycles_ok"] > 20 and rec["scenarios"]["stability"]["cycles_failed"] == 0
    assert rec["target"]["command"].startswith("redis-server --port ")
    assert rec["config"]["spawn"] == f"redis-server {marker}"
    assert not psutil.pid_exists(rec["target"]["pid"]) or \
        psutil.Process(rec["target"]["pid"]).status() == psutil.STATUS_ZOMBIE
    assert "started by netmem" in result.stdout


def test_spawn_that_exits_early_shows_its_output(netmem_cmd):
    need("redis-server")
    line = _one_line_error(_cli(netmem_cmd, "connections", "--spawn", "redis-server --port {port} --no-such-option",
                                "--protocol", "redis"))
    assert "redis-server exited with status 1 before it listened" in line
    assert "no-such-option" in line  # from its own output


def test_spawn_that_never_listens_is_stopped_within_the_timeout(netmem_cmd):
    marker = f"{os.getpid()}.123"
    started = time.monotonic()
    line = _one_line_error(_cli(netmem_cmd, "connections", "--spawn", f"sleep {marker}", "--address", "127.0.0.1:9",
                                "--start-timeout", "1"))
    assert time.monotonic() - started < 20
    assert line == "netmem: error: --spawn: sleep did not listen on 127.0.0.1:9 within 1 s (--start-timeout)"
    assert _processes_running(f"sleep {marker}") == []
    line = _one_line_error(_cli(netmem_cmd, "connections", "--spawn", "no-such-server-here {port}"))
    assert line == "netmem: error: --spawn: command 'no-such-server-here' not found"


def test_replies_in_another_protocol_stop_the_run_with_a_hint(netmem_cmd):
    with redis_server() as (proc, port):
        result = _cli(netmem_cmd, "stability", "--duration", "30", "--attach", str(proc.pid), "--address",
                      f"127.0.0.1:{port}")
        assert result.returncode == 1
        assert result.stderr.strip() == (f"netmem: the run failed: replies from 127.0.0.1:{port} do not look like"
                                         " echo; try --protocol redis")
        assert proc.poll() is None


# ---- pre-fork nginx: --include-children and http ----------------------------------------------------------------

def test_nginx_with_children_and_http(tmp_path):
    with nginx_server(tmp_path) as (proc, port):
        master = psutil.Process(proc.pid)
        workers = {c.pid for c in master.children()}
        assert len(workers) == 2
        config = small_config("all", "isolated", connections=40, messages=200, attach_pid=proc.pid,
                              address=f"127.0.0.1:{port}", protocol="http", include_children=True)
        prepare(config)
        rec = record.validate(run_to_end(config).record())
        assert rec["completed"], rec["stop_reason"]
        fig = rec["scenarios"]
        assert fig["connections"]["connections_created"] == 40
        assert fig["messages"]["messages_echoed"] == 200 and fig["messages"]["messages_mismatched"] == 0
        assert fig["stability"]["cycles_ok"] > 0 and fig["stability"]["cycles_failed"] == 0
        procs = rec["target"]["processes"]
        assert {p["pid"] for p in procs["list"]} == {proc.pid} | workers
        # The tree's memory is the sum of its processes' RSS at that checkpoint.
        at = next(cp for cp in rec["checkpoints"] if cp["label"] == procs["checkpoint"]
                  and cp["scenario"] == procs["scenario"])
        total = sum(p["rss_bytes"] for p in procs["list"])
        assert abs(at["rss_bytes"] - total) < 0.05 * total
        assert all(p["uss_bytes"] is not None and p["uss_bytes"] < p["rss_bytes"] for p in procs["list"])
        assert "Processes at [" in report.render(rec)


def test_nginx_http_errors_count_as_failed_and_uss(tmp_path):
    with nginx_server(tmp_path) as (proc, port):
        config = small_config("messages", "isolated", messages=50, attach_pid=proc.pid, address=f"127.0.0.1:{port}",
                              protocol="http", path="/missing", include_children=True, memory="uss")
        rec = record.validate(run_to_end(config).record())
        assert rec["completed"]
        assert rec["scenarios"]["messages"]["messages_mismatched"] == 50  # every GET got a 404
        rss_sum = sum(p["rss_bytes"] for p in rec["target"]["processes"]["list"])
        assert rec["target"]["memory"] == "uss" and rec["summary"]["peak_rss_bytes"] < rss_sum
        assert "GET requests answered 2xx/3xx: 0 of 50" in report.render(rec)


def test_attaching_to_the_wrong_process_names_nginx(tmp_path, netmem_cmd):
    """nginx's master and its workers all hold the listening socket: the refusal names them."""
    with nginx_server(tmp_path) as (proc, port):
        listening = processes.listeners(port)
        assert set(listening) == {proc.pid, *(c.pid for c in psutil.Process(proc.pid).children())}
        other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        try:
            wrong = _cli(netmem_cmd, "connections", "--attach", str(other.pid), "--address", f"127.0.0.1:{port}",
                         "--include-children")
        finally:
            other.kill()
            other.wait()
        line = _one_line_error(wrong)
        assert f"does not listen on port {port}; these do: {proc.pid} (nginx)" in line and line.count("(nginx)") == 3


def test_spawned_nginx_tree_is_gone_afterwards(tmp_path, netmem_cmd):
    port = addresses.free_port()
    command = " ".join(nginx_command(tmp_path, port))
    result = _cli(netmem_cmd, "connections", "--connections", "20", "--spawn", command, "--address",
                  f"127.0.0.1:{port}", "--protocol", "http", "--include-children", "--json", str(tmp_path / "n.json"))
    assert result.returncode == 0, result.stderr
    rec = record.load(tmp_path / "n.json")
    pids = [p["pid"] for p in rec["target"]["processes"]["list"]]
    assert len(pids) == 3
    assert [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE] == []


# ---- observe --------------------------------------------------------------------------------------------------

def test_observe_fits_connections_another_program_makes():
    with redis_server() as (proc, port):
        stop = threading.Event()
        end_run = asyncio.Event()
        loop_of_run: list[asyncio.AbstractEventLoop] = []

        def other_program() -> None:
            # Another program's load, as another process would make it: 0 to 150 connections in steps, each PINGed;
            # then it ends the observation (as Ctrl-C would) after a few more readings.
            held = []
            try:
                for _ in range(6):
                    for _ in range(25):
                        c = socket.create_connection(("127.0.0.1", port))
                        c.sendall(b"*1\r\n$4\r\nPING\r\n")
                        c.recv(16)
                        held.append(c)
                    if stop.wait(0.25):
                        return
                stop.wait(0.5)
                loop_of_run[0].call_soon_threadsafe(end_run.set)
                stop.wait(10)
            finally:
                for c in held:
                    c.close()

        loader = threading.Thread(target=other_program)
        config = RunConfig(scenario="observe", attach_pid=proc.pid, duration_s=60, interval_ms=20).validate()
        run = Run(config)
        # The other program starts once netmem watches (its load process takes a moment to start).
        run.subscribe(lambda e: e["type"] == "phase" and not loader.is_alive() and loader.start())

        async def observe() -> None:
            loop_of_run.append(asyncio.get_running_loop())
            await execute(run, end_run)

        try:
            asyncio.run(observe())
            rec = record.validate(run.record())
        finally:
            stop.set()
            if loader.is_alive():
                loader.join()
        assert rec["completed"]
        fig = rec["scenarios"]["observe"]
        seen = rec["observations"]["connections"]
        assert 150 <= fig["connections_max"] <= 180 and fig["connections_max"] - fig["connections_min"] >= 100, seen
        assert fig["readings"] == len(rec["observations"]["connections"]) > 20 and fig["stopped_by_user"]
        assert 1024 < fig["per_connection_bytes"] < 64 * 1024
        assert "Per-connection overhead" in report.render(rec)


def test_observe_without_connections_says_why_there_is_no_fit(netmem_cmd, tmp_path):
    with redis_server() as (proc, _port):
        result = _cli(netmem_cmd, "observe", "--attach", str(proc.pid), "--duration", "0.5", "--interval", "50",
                      "--json", str(tmp_path / "o.json"))
        assert result.returncode == 0, result.stderr
        fig = record.load(tmp_path / "o.json")["scenarios"]["observe"]
        assert fig["per_connection_bytes"] is None and "never changed" in fig["fit_reason"]


@pytest.mark.skipif(sys.platform == "win32", reason="Ctrl-C is SIGINT")
def test_observe_ends_with_ctrl_c_as_a_complete_run(netmem_cmd, tmp_path):
    with redis_server() as (proc, _port):
        out = tmp_path / "o.json"
        cli = subprocess.Popen([*netmem_cmd, "run", "observe", "--attach", str(proc.pid), "--duration", "120",
                                "--interval", "20", "--json", str(out), "--no-save"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            # Wait until the observation has begun: the load process is running and has read the target.
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not any(
                    "worker" in " ".join(c.cmdline()) for c in psutil.Process(cli.pid).children()):
                time.sleep(0.05)
            time.sleep(0.5)
            cli.send_signal(signal.SIGINT)
            stdout, stderr = cli.communicate(timeout=20)
        finally:
            if cli.poll() is None:
                cli.kill()
                cli.wait()
        assert cli.returncode == 0, stderr
        rec = record.load(out)
        assert rec["completed"] and rec["scenarios"]["observe"]["stopped_by_user"] is True
        assert "(ended by the user)" in stdout


def test_compare_across_targets_says_so(tmp_path, netmem_cmd):
    with redis_server() as (proc, port):
        redis_run = run_to_end(small_config("connections", "isolated", attach_pid=proc.pid,
                                            address=f"127.0.0.1:{port}", protocol="redis")).record()
    echo_run = run_to_end(small_config("connections", "isolated")).record()
    record.save(echo_run, tmp_path / "echo.json")
    record.save(redis_run, tmp_path / "redis.json")
    result = subprocess.run([*netmem_cmd, "compare", str(tmp_path / "echo.json"), str(tmp_path / "redis.json")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode in (0, 1), result.stderr
    head = result.stdout.split("\n\n")[0]
    assert "DIFFERENT TARGETS" in head and "redis-server, attached, protocol redis, RSS" in head
    assert "netmem's built-in echo server" in head
    assert "DIFFERENT TARGETS: NEW measured redis-server" in result.stdout
    # The gate still works: the same comparison with a zero threshold regresses on redis's higher memory.
    gated = subprocess.run([*netmem_cmd, "compare", str(tmp_path / "echo.json"), str(tmp_path / "redis.json"),
                            "--threshold", "0"], capture_output=True, text=True, timeout=60)
    assert gated.returncode in (0, 1) and ("REGRESSED" in gated.stdout or "regress" in gated.stdout.lower())


def test_schema_shows_the_target_block(netmem_cmd):
    result = subprocess.run([*netmem_cmd, "schema"], capture_output=True, text=True, timeout=60)
    schema = json.loads(result.stdout)
    assert {"kind", "pid", "protocol", "memory", "include_children"} <= set(
        schema["properties"]["target"]["properties"])
    assert "target" not in schema["required"]  # records from before targets still load


def _sleepers(marker: str) -> list[psutil.Process]:
    return [p for p in psutil.process_iter(["cmdline"]) if p.info["cmdline"] == ["sleep", marker]]


def test_spawn_refuses_a_port_another_process_listens_on(tmp_path):
    """The load would go to the other process while netmem measured the command (it used to exit 0 so)."""
    from test_cli import assert_one_line_error, netmem

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = netmem("run", "messages", "--spawn", "sleep 41", "--address", f"127.0.0.1:{port}", "--no-save",
                      env={**os.environ, "NETMEM_DATA_DIR": str(tmp_path)})
    assert_one_line_error(done, f"--spawn: port {port} is taken already by ")
    assert f"(pid {os.getpid()})" in done.stderr and not _sleepers("41")


@pytest.mark.parametrize(("sig", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_stop_while_a_spawned_command_starts_stops_both_at_once(tmp_path, sig, status):
    """SIGTERM (a CI job's timeout, systemd) used to wait out the whole --start-timeout."""
    port = addresses.free_port()
    env = {**os.environ, "NETMEM_DATA_DIR": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "netmem_gui.cli", "run", "stability", "--spawn", "sleep 43",
                             "--address", f"127.0.0.1:{port}", "--start-timeout", "60"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 30
        while not _sleepers("43") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _sleepers("43"), "the command never started"
        started = time.monotonic()
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
        assert time.monotonic() - started < 10  # not the 60 s of --start-timeout
    finally:
        proc.kill()
    assert proc.returncode == status and "the partial run was kept" in err, err
    assert not _sleepers("43")


def test_a_command_that_prints_a_flood_before_it_dies_is_quoted_in_a_short_line(tmp_path):
    """600 MB printed before listening cost 2.4 GB of netmem's memory and became a 600 MB 'one-line' error."""
    from test_cli import assert_one_line_error, netmem

    flood = f"{sys.executable} -c \"import sys; sys.stdout.write('x' * 50_000_000 + chr(10) + 'the end'); sys.exit(3)\""
    port = addresses.free_port()
    done = netmem("run", "stability", "--spawn", flood, "--address", f"127.0.0.1:{port}", "--no-save",
                  env={**os.environ, "NETMEM_DATA_DIR": str(tmp_path)})
    assert_one_line_error(done, "exited with status 3 before it listened")
    assert len(done.stderr) < 2000 and done.stderr.rstrip().endswith("the end"), done.stderr[:500]


def test_attach_refuses_an_address_the_process_does_not_listen_at(tmp_path):
    """Only the port was checked: attached at [::1] to a server on 127.0.0.1 only, every connection failed, and the
    run said 'Leak verdict: OK' and exited 0."""
    from test_cli import assert_one_line_error, netmem

    server = subprocess.Popen([sys.executable, "-c", "import socket, time; s = socket.socket();"
                               " s.bind(('127.0.0.1', 0)); s.listen(); print(s.getsockname()[1], flush=True);"
                               " time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    try:
        port = int(server.stdout.readline())
        done = netmem("run", "stability", "--duration", "1", "--attach", str(server.pid), "--address",
                      f"[::1]:{port}", "--protocol", "idle", "--no-save",
                      env={**os.environ, "NETMEM_DATA_DIR": str(tmp_path)})
        assert_one_line_error(done, f"listens on port {port} at 127.0.0.1 only, not at ::1: give --address"
                                    f" 127.0.0.1:{port}")
    finally:
        server.kill()
        server.wait()


def test_a_spawn_that_never_listens_keeps_no_empty_run(tmp_path):
    """It exited 2 and still left an empty, incomplete run in the library."""
    from test_cli import assert_one_line_error, netmem

    env = {**os.environ, "NETMEM_DATA_DIR": str(tmp_path)}
    done = netmem("run", "stability", "--spawn", "false", "--address", f"127.0.0.1:{addresses.free_port()}", env=env)
    assert_one_line_error(done, "exited with status 1 before it listened")
    runs = netmem("runs", "--format", "json", env=env)
    assert runs.returncode == 0 and json.loads(runs.stdout)["runs"] == [], runs.stdout


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="netmem adopts what a command leaves on Linux")
@pytest.mark.parametrize("how", ["daemonizes", "launcher exits"])
def test_a_server_that_leaves_the_commands_tree_is_measured_and_stopped(netmem_cmd, tmp_path, how):
    """`redis-server --daemonize yes` was 'exited before it listened' and kept running; a launcher that exited
    mid-run left its child running."""
    need("redis-server")
    options = f"--port {{port}} --save '' --appendonly no --dbfilename netmem-{os.getpid()}.rdb"
    command = (f"redis-server {options} --daemonize yes" if how == "daemonizes"
               else f"sh -c \"redis-server {options} & sleep 1\"")
    out = tmp_path / "left.json"
    result = _cli(netmem_cmd, "stability", "--duration", "2", "--interval", "20", "--spawn", command,
                  "--protocol", "redis", "--json", str(out))
    assert result.returncode == 0, result.stderr
    rec = record.load(out)
    assert rec["target"]["name"] == "redis-server" and rec["scenarios"]["stability"]["cycles_ok"] > 20
    port = rec["target"]["address"].rsplit(":", 1)[1]
    left = [p.pid for p in psutil.process_iter(["name", "cmdline"])
            if p.info["name"] == "redis-server" and f":{port}" in " ".join(p.info["cmdline"] or [])]
    assert left == []


def _redis_on(port: int) -> list[psutil.Process]:
    return [p for p in psutil.process_iter(["name", "cmdline"])
            if p.info["name"] == "redis-server" and f":{port}" in " ".join(p.info["cmdline"] or [])]


def _gone(proc: psutil.Process) -> bool:
    try:
        return proc.status() == psutil.STATUS_ZOMBIE  # a container's init may not reap it: it runs no more
    except psutil.NoSuchProcess:
        return True


@pytest.mark.skipif(sys.platform == "win32", reason="the guard stops process groups and orphans on POSIX")
@pytest.mark.parametrize("how", ["in its session", "daemonizes"])
def test_a_spawned_server_does_not_outlive_netmem_killed_with_sigkill(netmem_cmd, how):
    """SIGKILL gives netmem no chance to stop what it spawned: its guard (targets/guard.py) does."""
    need("redis-server")
    port = addresses.free_port()
    command = (f"redis-server --port {port} --bind 127.0.0.1 --save '' --appendonly no"
               + (" --daemonize yes" if how == "daemonizes" else ""))
    netmem = subprocess.Popen([*netmem_cmd, "run", "stability", "--duration", "60", "--spawn", command, "--address",
                               f"127.0.0.1:{port}", "--protocol", "redis", "--no-save"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while not _redis_on(port) and time.monotonic() < deadline and netmem.poll() is None:
            time.sleep(0.05)
        servers = _redis_on(port)
        assert servers and netmem.poll() is None, netmem.stderr.read().decode() if netmem.poll() is not None else ""
        time.sleep(1.5)  # the run is under way: the daemon has been found and handed to the guard
        netmem.kill()
        netmem.wait(timeout=10)
        deadline = time.monotonic() + 15
        while not all(_gone(p) for p in servers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert all(_gone(p) for p in servers), [p.pid for p in servers]
    finally:
        if netmem.poll() is None:
            netmem.kill()
        for p in _redis_on(port):
            p.kill()


NOISY_ECHO = """import socket, sys, threading
s = socket.socket()
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(64)

def serve(c):
    while data := c.recv(65536):
        c.sendall(data)

def accept():
    while True:
        threading.Thread(target=serve, args=(s.accept()[0],), daemon=True).start()

threading.Thread(target=accept, daemon=True).start()
line = b"x" * 1023 + b"\\n"
while True:
    sys.stdout.buffer.write(line * 64)
"""


def _open_file_bytes(pid: int) -> int:
    """The size of the regular files a process holds open (a temporary file deleted from its folder included)."""
    total = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            st = os.stat(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if st.st_mode & 0o170000 == 0o100000:
            total += st.st_size
    return total


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/PID/fd")
def test_a_spawned_command_that_prints_all_the_time_costs_netmem_no_growing_file_or_memory(netmem_cmd, tmp_path):
    """Its output went to a file kept whole for the run: it grew as long as the command printed."""
    (tmp_path / "noisy.py").write_text(NOISY_ECHO, encoding="utf-8")
    netmem = subprocess.Popen([*netmem_cmd, "run", "stability", "--duration", "4", "--spawn",
                               f"{sys.executable} {tmp_path / 'noisy.py'} {{port}}", "--no-save"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    held, rss = 0, 0
    while netmem.poll() is None:
        try:
            held = max(held, _open_file_bytes(netmem.pid))
            rss = max(rss, psutil.Process(netmem.pid).memory_info().rss)
        except (OSError, psutil.Error):
            pass
        time.sleep(0.2)
    _, stderr = netmem.communicate()
    assert netmem.returncode == 0, stderr
    assert held < 1024 * 1024, held  # the command printed hundreds of MB meanwhile
    assert rss < 200 * 1024 * 1024, rss


def test_a_run_stopped_by_a_wrong_protocol_says_what_it_did_and_what_the_server_speaks(netmem_cmd):
    """It said "Connections created: 0 of 0 (failed: 0)" and "try --protocol idle" of an HTTP server asked PING."""
    result = _cli(netmem_cmd, "connections", "--connections", "20", "--spawn",
                  f"{sys.executable} -m http.server {{port}} --bind 127.0.0.1", "--protocol", "redis")
    assert result.returncode == 1, result.stderr
    counted = re.search(r"Connections created: 0 of 20 \(failed: (\d+); not made: (\d+), the run stopped first\)",
                        result.stdout)
    assert counted and int(counted[1]) >= 1 and int(counted[1]) + int(counted[2]) == 20, result.stdout
    assert result.stderr.strip().endswith("do not look like redis; try --protocol http")
    assert "Per-connection overhead: n/a (too few checkpoints for a fit; end minus start: n/a)" in result.stdout


# ---- the load's event loop (--load-loop) -------------------------------------------------------------------------

def _redis_echo_calls(port: int) -> int:
    with socket.create_connection(("127.0.0.1", port)) as probe:
        probe.sendall(b"*2\r\n$4\r\nINFO\r\n$12\r\ncommandstats\r\n")
        time.sleep(0.1)
        info = probe.recv(65536).decode()
    found = re.search(r"cmdstat_echo:calls=(\d+)", info)
    return int(found.group(1)) if found else 0


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_the_redis_messages_load_sends_and_checks_every_request_on_either_loop(loop):
    """uvloop drives the isolated host's load faster (docs/scale.md); the load must stay the same: every ECHO
    sent (redis counts them), every reply checked, and the record says which loop ran."""
    if loop == "uvloop":
        pytest.importorskip("uvloop", reason="uvloop has no build for this platform")
    with redis_server() as (proc, port):
        config = small_config("messages", "isolated", connections=20, messages=4000, message_size=16,
                              attach_pid=proc.pid, address=f"127.0.0.1:{port}", protocol="redis", load_loop=loop)
        prepare(config)
        rec = record.validate(run_to_end(config).record())
        sent = _redis_echo_calls(port)
    got = rec["scenarios"]["messages"]
    assert rec["config"]["load_loop_used"] == loop
    assert (got["messages_echoed"], got["messages_mismatched"], got["broken_connections"]) == (4000, 0, 0)
    assert sent == 4000


def test_a_wrong_reply_is_counted_as_mismatched_on_uvloop():
    pytest.importorskip("uvloop", reason="uvloop has no build for this platform")

    async def wrong_echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while request := await reader.read(4096):
            for _ in range(request.count(b"ECHO")):
                writer.write(b"$5\r\nwrong\r\n")
            if b"PING" in request:
                writer.write(b"+PONG\r\n")
            await writer.drain()

    ready = threading.Event()
    box: dict = {}

    def serve() -> None:
        async def main() -> None:
            server = await asyncio.start_server(wrong_echo, "127.0.0.1", 0)
            box["port"], box["loop"], box["stop"] = server.sockets[0].getsockname()[1], asyncio.get_running_loop(), \
                asyncio.Event()
            ready.set()
            await box["stop"].wait()
            server.close()

        asyncio.run(main())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    ready.wait(10)
    try:
        config = small_config("messages", "isolated", connections=2, messages=300, message_size=5,
                              attach_pid=os.getpid(), address=f"127.0.0.1:{box['port']}", protocol="redis",
                              load_loop="uvloop")
        prepare(config)
        rec = record.validate(run_to_end(config).record())
    finally:
        box["loop"].call_soon_threadsafe(box["stop"].set)
        thread.join(10)
    got = rec["scenarios"]["messages"]
    assert (got["messages_echoed"], got["messages_mismatched"]) == (0, 300)
