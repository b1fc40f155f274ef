"""--prometheus's checks as functions (no socket is opened): URLs, values where they enter, answers that are not
Prometheus's, scrape intervals, and the options that fit together."""

from __future__ import annotations

import pytest

from netmem_gui.core.config import ConfigError, RunConfig
from netmem_gui.core.measuring import locust
from netmem_gui.core.measuring import prometheus as prom


def test_urls_keep_scheme_host_port_and_prefix_and_refuse_credentials():
    assert prom.check_url("prom.example:9090") == "http://prom.example:9090"
    assert prom.check_url("https://10.1.2.3:9090/prometheus/graph?g0.expr=up") == "https://10.1.2.3:9090/prometheus"
    assert prom.check_url("http://[::1]:9090/api/v1/query") == "http://[::1]:9090"
    for bad in ("ftp://h:21", "http://", "http://h:99999"):
        with pytest.raises(prom.PrometheusError):
            prom.check_url(bad)
    with pytest.raises(prom.PrometheusError, match=prom.TOKEN_ENV):
        prom.check_url("http://user:pw@h:9090")


def test_a_token_comes_from_the_environment_only(monkeypatch):
    monkeypatch.delenv(prom.TOKEN_ENV, raising=False)
    assert prom._headers() == {}
    monkeypatch.setenv(prom.TOKEN_ENV, " abc ")
    assert prom._headers() == {"Authorization": "Bearer abc"}


@pytest.mark.parametrize(("raw", "said"), [("NaN", "not a measurement"), ("+Inf", "not a measurement"),
                                           ("-1", "negative"), ("1e16", "no server's"), ("x", "not a number"),
                                           (None, "not a number")])
def test_values_are_checked_where_they_enter(raw, said):
    with pytest.raises(prom.PrometheusError, match=said):
        prom.value(raw, "memory", prom.MAX_BYTES)


def test_a_vector_is_summed_and_its_series_counted():
    data = {"resultType": "vector", "result": [{"metric": {"job": "a"}, "value": [1.5, "100"]},
                                               {"metric": {"job": "b"}, "value": [1.5, "23"]}]}
    v = prom.parse_vector(data, "memory", prom.MAX_BYTES)
    assert (v.total, v.series, v.labels) == (123, 2, [{"job": "a"}, {"job": "b"}])
    assert prom.parse_vector({"resultType": "scalar", "result": [1, "7"]}, "memory", 1e9).total == 7
    for bad in ({"resultType": "matrix", "result": []}, {"resultType": "vector"}, [],
                {"resultType": "vector", "result": [{"value": ["t", "1"]}]}):
        with pytest.raises(prom.PrometheusError):
            prom.parse_vector(bad, "memory", 1e9)
    sane = [{"value": [1, str(prom.MAX_BYTES * 0.6)]}] * 2  # each sane, their sum past the bound
    with pytest.raises(prom.PrometheusError, match="no server's"):
        prom.parse_vector({"resultType": "vector", "result": sane}, "memory", prom.MAX_BYTES)


def test_durations():
    assert prom.duration_s("15s") == 15 and prom.duration_s("1m30s") == 90 and prom.duration_s("500ms") == 0.5
    assert prom.duration_s("soon") is None and prom.duration_s("") is None


def test_the_options_fit_together():
    q = "process_resident_memory_bytes"
    ok = RunConfig(scenario="observe", prometheus_url="http://h:9090", memory_query=q).validate()
    assert ok.target_kind() == "prometheus" and ok.is_external
    for fields, said in (({"scenario": "all"}, "observe scenario"), ({"memory_query": None}, "--memory-query"),
                         ({"attach_pid": 1}, "give one target"), ({"address": "127.0.0.1:1"}, "--address"),
                         ({"memory": "uss"}, "--memory"), ({"memory_query": " "}, "one line")):
        with pytest.raises(ConfigError, match=said):
            RunConfig(**{"scenario": "observe", "prometheus_url": "http://h:9090", "memory_query": q, **fields}
                      ).validate()
    with pytest.raises(ConfigError, match="are for --prometheus"):
        RunConfig(scenario="observe", attach_pid=1, connections_query=q).validate()


def test_a_locust_master_may_be_another_machine_only_beside_prometheus():
    with pytest.raises(locust.LocustError, match="not this machine"):
        locust.check_url("http://10.9.8.7:8089", own={"127.0.0.1"})
    assert locust.check_url("http://10.9.8.7:8089/stats/requests", remote=True) == "http://10.9.8.7:8089"
    assert locust.check_url("master.example:8089", remote=True) == "http://master.example:8089"


def test_the_record_block_keeps_times_from_the_run_start():
    block = prom.record_block({"url": "http://h:9090"}, {"prometheus": {"series_min": 1, "series_max": 2, "gaps": [
        {"from": 105.0, "to": 107.5, "reason": "timed out", "filled": 2}]}}, t0=100.0)
    assert block["gaps"] == [{"reason": "timed out", "filled": 2, "from_s": 5.0, "to_s": 7.5}]
    assert (block["series_min"], block["series_max"]) == (1, 2)


def test_an_answer_that_is_not_http_or_a_url_it_cant_ask_is_one_line():
    """A redis port given as Prometheus gave a BadStatusLine traceback; a URL with a space, InvalidURL."""
    import socket
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)

    def answer_like_redis() -> None:
        for _ in range(2):
            conn, _ = listener.accept()
            conn.recv(4096)
            conn.sendall(b"-ERR wrong number of arguments\r\n")
            conn.close()

    threading.Thread(target=answer_like_redis, daemon=True).start()
    base = f"http://127.0.0.1:{listener.getsockname()[1]}"
    with pytest.raises(prom.PrometheusError, match="its answer is not HTTP"):
        prom.get(base, "query", {"query": "up"}, timeout_s=2)
    with pytest.raises(locust.LocustError, match="its answer is not HTTP"):
        locust.read_status(base, timeout_s=2)
    with pytest.raises(prom.PrometheusError, match="not a URL it can ask"):
        prom.get("http://127.0.0.1:9/a b", "query", timeout_s=2)
    listener.close()
