"""The Locust watch's checks and readings: URLs refused before any socket, answers that aren't Locust's."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from netmem_gui.core.measuring import locust
from netmem_gui.core.measuring.locust import LocustError, check_url, read_status
from netmem_gui.core.reports import load

OWN = {"127.0.0.1", "::1", "192.0.2.10"}  # as if 192.0.2.10 were this machine's own interface


@pytest.mark.parametrize(("url", "base"), [
    ("http://127.0.0.1:8089", "http://127.0.0.1:8089"),
    ("127.0.0.1:8089/", "http://127.0.0.1:8089"),
    ("http://localhost:8089/stats/requests", "http://127.0.0.1:8089"),
    ("http://[::1]:8089", "http://[::1]:8089"),
    ("http://192.0.2.10:8089/locust", "http://192.0.2.10:8089/locust"),
])
def test_this_machines_urls_are_accepted(url, base):
    assert check_url(url, OWN) == base


@pytest.mark.parametrize(("url", "words"), [
    ("http://10.1.2.3:8089", "not this machine"),
    ("http://192.0.2.11:8089", "not this machine"),
    ("http://locust.example.com:8089", "not an IP address"),
    ("ftp://127.0.0.1:8089", "web UI address"),
    ("http://127.0.0.1:99999", "not a URL"),
])
def test_other_machines_and_non_urls_are_refused_without_a_socket(url, words, monkeypatch):
    def no_socket(*args, **kwargs):
        raise AssertionError("a socket was opened")

    monkeypatch.setattr(locust.OPENER, "open", no_socket)
    with pytest.raises(LocustError, match=words):
        check_url(url, OWN)


class _Server:
    """A loopback HTTP server that answers /stats/requests with whatever the test sets."""

    def __init__(self) -> None:
        self.status, self.body = 200, b"{}"
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(owner.status)
                self.end_headers()
                self.wfile.write(owner.body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def server():
    s = _Server()
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()


def test_a_server_that_is_not_locust_is_refused_in_one_line(server):
    server.status, server.body = 404, b"no such page"
    with pytest.raises(LocustError, match=r"is not a Locust master: GET /stats/requests answered 404"):
        read_status(server.url)
    server.status, server.body = 200, b"<html>hello</html>"
    with pytest.raises(LocustError, match="not JSON"):
        read_status(server.url)
    server.body = json.dumps({"state": "running"}).encode()
    with pytest.raises(LocustError, match="no state, user_count and stats"):
        read_status(server.url)


def test_a_port_nobody_listens_on_does_not_answer():
    from tests.core.locust_cluster import free_port

    with pytest.raises(LocustError, match="does not answer"):
        read_status(f"http://127.0.0.1:{free_port()}", timeout_s=0.5)


def test_a_masters_answer_is_read(server):
    server.body = json.dumps({
        "state": "running", "user_count": 12, "current_rps": 40.5, "total_rps": 38.0, "fail_ratio": 0.25,
        "workers": [{"id": "a"}, {"id": "b"}], "worker_count": 2,
        "stats": [{"name": "GET", "num_requests": 90, "num_failures": 20},
                  {"name": "Aggregated", "num_requests": 100, "num_failures": 25}],
    }).encode()
    status = read_status(server.url)
    assert status == locust.Status(state="running", users=12, rps=40.5, requests=100, failures=25, fail_ratio=0.25,
                                   workers=2)


def test_a_master_that_stops_answering_is_a_gap_and_the_watch_goes_on(server):
    server.body = json.dumps({"state": "running", "user_count": 3, "stats": [], "current_rps": 1.0}).encode()
    marks = []
    watch = locust.LocustWatch(server.url, 0.01, 0.0, lambda: (1000, 2000), lambda: 3,
                               lambda label, t: marks.append(label))
    assert watch.poll_once() is not None
    server.status = 500
    assert watch.poll_once() is None and watch.poll_once() is None
    server.status = 200
    assert watch.poll_once() is not None
    series = watch.series.to_dict()
    assert series["users"] == [3, 3] and series["connections"] == [3, 3] and series["state"] == ["running"] * 2
    assert len(watch.series.gaps) == 1 and watch.series.gaps[0]["to_s"] is not None
    assert marks == ["Locust running 3 users"]


def test_states_become_checkpoints_once_each(server):
    marks, stopped = [], []
    watch = locust.LocustWatch(server.url, 0.01, 0.0, lambda: (1000, 2000), lambda: None,
                               lambda label, t: marks.append(label), on_stopped=lambda: stopped.append(True))
    for state, users in [("ready", 0), ("spawning", 2), ("spawning", 4), ("running", 4), ("running", 4),
                         ("running", 6), ("stopped", 0), ("stopped", 0)]:
        server.body = json.dumps({"state": state, "user_count": users, "stats": []}).encode()
        watch.poll_once()
    assert marks == ["Locust spawning", "Locust running 4 users", "Locust running 6 users", "Locust stopped"]
    assert stopped == [True]


def test_load_figures_fit_the_ramp_and_judge_the_steady_part():
    # A server that takes 10 KB per user, then holds steady at 20 users while serving requests.
    ramp = list(range(0, 21, 2))
    t = [i * 0.5 for i in range(len(ramp) + 30)]
    users = ramp + [20] * 30
    rss = [50_000_000 + 10_240 * u for u in users]
    series = {"t_s": t, "users": users, "rps": [10.0] * len(t), "requests": [i * 5 for i in range(len(t))],
              "failures": [0] * len(t), "connections": users, "rss_bytes": rss,
              "state": ["spawning"] * len(ramp) + ["running"] * 30}
    fig = load.load_figures(series)
    assert fig["per_user_bytes"] == pytest.approx(10_240)
    assert fig["per_connection_bytes"] == pytest.approx(10_240)
    assert [p["users"] for p in fig["plateaus"]] == [20]
    assert fig["steady"]["drift_bytes"] == 0 and fig["steady"]["leak_verdict"]["verdict"] == "OK"
    assert fig["users_max"] == 20 and fig["requests"] == series["requests"][-1]


def test_memory_that_grows_with_requests_at_steady_load_is_a_possible_leak():
    n = 60
    requests = [i * 50 for i in range(n)]
    series = {"t_s": [i * 0.5 for i in range(n)], "users": [10] * n, "rps": [100.0] * n, "requests": requests,
              "failures": [0] * n, "connections": [10] * n,
              "rss_bytes": [40_000_000 + 1024 * r for r in requests], "state": ["running"] * n}
    steady = load.load_figures(series)["steady"]
    assert steady["leak_verdict"]["verdict"] == "POSSIBLE LEAK"
    assert steady["leak_verdict"]["slope_bytes_per_cycle"] == pytest.approx(1024)
    assert steady["drift_bytes"] == 1024 * requests[-1]


GOOD = {"state": "running", "user_count": 3, "current_rps": 1.0, "fail_ratio": 0.0,
        "stats": [{"name": "Aggregated", "num_requests": 10, "num_failures": 0}]}


@pytest.mark.parametrize(("change", "words"), [
    ({"current_rps": float("nan")}, "current_rps is nan, not a number"),
    ({"user_count": -7}, "user_count is -7: not a whole number from 0"),
    ({"user_count": 2**63}, "user_count is 9223372036854775808: not a whole number from 0"),
    ({"stats": [{"name": "Aggregated", "num_requests": float("inf"), "num_failures": 0}]}, "num_requests is inf"),
    ({"stats": [{"name": "Aggregated", "num_requests": 1.5, "num_failures": 0}]}, "num_requests is 1.5: not a whole"),
    ({"fail_ratio": 3}, "fail_ratio is 3: not from 0 to 1"),
    ({"stats": ["x"]}, "its stats are not objects"),
])
def test_numbers_no_locust_reports_are_refused_where_they_enter(server, change, words):
    """NaN made the save fail at the end, -7 was saved and refused by compare later, 2**63 killed the polling thread."""
    server.body = json.dumps({**GOOD, **change}).encode()  # json.dumps writes NaN and Infinity as Python reads them
    with pytest.raises(LocustError, match=words):
        read_status(server.url)
    marks: list = []
    watch = locust.LocustWatch(server.url, 0.01, 0.0, lambda: (1000, 2000), lambda: 3, lambda *a: marks.append(a))
    assert watch.poll_once() is None and len(watch.series) == 0 and watch.series.gaps  # a gap; the watch goes on


def test_json_nested_past_the_parser_is_not_locust(server):
    server.body = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(LocustError, match="is not JSON"):
        read_status(server.url)


def test_a_redirect_is_an_answer_not_a_hop(server):
    """The client followed redirects (and kept an FTP handler) without checking where they led."""
    hops = []
    owner = server

    class Redirecting(owner.httpd.RequestHandlerClass):  # type: ignore[name-defined, misc]
        def do_GET(self):
            hops.append(self.path)
            self.send_response(302)
            self.send_header("Location", "ftp://127.0.0.1:21/stats" if len(hops) == 1 else "/elsewhere")
            self.end_headers()

    server.httpd.RequestHandlerClass = Redirecting
    with pytest.raises(LocustError, match="answered 302"):
        read_status(server.url)
    assert hops == ["/stats/requests"]  # one request, not followed
