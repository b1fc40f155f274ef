"""Memory from Prometheus: its HTTP API read with GETs (standard library only), values checked where they enter.

netmem sends `GET /api/v1/query` (and `query_range` to fill a gap, `targets` for the scrape interval) to the
URL given, through an opener with no proxy and no redirects, like measuring/locust.py. The server may be another
machine's: Prometheus scrapes it there, netmem only reads what Prometheus holds. A bearer token is read from the
NETMEM_PROMETHEUS_TOKEN environment variable, never from the command line, and never kept in the record.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

from ..errors import NetmemError
from .gets import FAILURES, OPENER, reason

TOKEN_ENV = "NETMEM_PROMETHEUS_TOKEN"
TIMEOUT_S = 2.0  # an answer later than this is a gap in the series, not a stalled run
GONE_AFTER_S = 10.0  # Prometheus silent this long (or 3 scrape intervals, if longer) ends the run: exit 1
MAX_BYTES = 2.0**50  # 1 PiB: a memory reading past this is no process's, but a wrong query (a counter, say)
MAX_CONNECTIONS = 1e8
MAX_SERIES = 10_000  # more series than this summed is a query that matches far more than one server
MAX_FILL_POINTS = 10_000  # query_range answers at most 11,000 points per series; a longer gap is filled coarser
API = "/api/v1/"


class PrometheusError(NetmemError, ValueError):
    """A Prometheus URL or query that can't be read (no answer, not Prometheus, no series, bad values)."""




def check_url(url: str) -> str:
    """The API's base URL ("http://prom:9090", a path prefix kept), or PrometheusError when it is not one.

    Nothing is sent. Credentials in the URL are refused (they would be in the shell's history, `ps` and the
    record): a token goes in NETMEM_PROMETHEUS_TOKEN. A trailing /api/v1/..., /graph or query string, as copied
    from a browser, is dropped.
    """
    text = url.strip()
    if "://" not in text:
        text = "http://" + text
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise PrometheusError(f"--prometheus {url!r} is not a URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PrometheusError(f"--prometheus {url!r}: give Prometheus's address, such as http://127.0.0.1:9090")
    if parts.username is not None or parts.password is not None:
        raise PrometheusError(f"--prometheus: no credentials in the URL (they would be kept in shell history and"
                              f" shown by ps); put a bearer token in the {TOKEN_ENV} environment variable")
    path = parts.path.rstrip("/")
    for tail in ("/api/v1", "/graph"):
        if tail in path:
            path = path[: path.index(tail)]
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}{f':{port}' if port else ''}{path}"


def _headers() -> dict[str, str]:
    token = os.environ.get(TOKEN_ENV, "").strip()
    return {"Authorization": f"Bearer {token}"} if token else {}


def get(base: str, endpoint: str, params: dict[str, Any] | None = None, timeout_s: float = TIMEOUT_S) -> Any:
    """GET base/api/v1/endpoint?params; the `data` of a successful answer, else PrometheusError in one line."""
    url = f"{base}{API}{endpoint}" + (f"?{urlencode(params)}" if params else "")
    request = urllib.request.Request(url, headers=_headers(), method="GET")
    try:
        with OPENER.open(request, timeout=timeout_s) as reply:
            body = reply.read(32 * 1024 * 1024)
    except urllib.error.HTTPError as exc:
        body = exc.read(64 * 1024) if exc.code in (400, 422, 503) else b""  # the API's own error, in its JSON
        said = _error_of(body)
        if exc.code in (401, 403):
            said = f"not authorized ({exc.code}); set {TOKEN_ENV} to a bearer token it accepts"
        raise PrometheusError(f"{base}: {said or f'GET {API}{endpoint} answered {exc.code} {exc.reason}'}") from None
    except FAILURES as exc:
        raise PrometheusError(f"{base} does not answer: {reason(exc)}") from None
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise PrometheusError(f"{base} is not Prometheus: {API}{endpoint} is not JSON") from None
    if not isinstance(data, dict) or data.get("status") not in ("success", "error"):
        raise PrometheusError(f"{base} is not Prometheus: {API}{endpoint} has no status")
    if data["status"] == "error":
        raise PrometheusError(f"{base}: {_error_of(body) or 'the query failed'}")
    return data.get("data")


def _error_of(body: bytes) -> str | None:
    try:
        data = json.loads(body)
        return f"{data['errorType']}: {str(data['error'])[:300]}"
    except (ValueError, RecursionError, KeyError, TypeError):
        return None


def value(raw: Any, what: str, high: float) -> float:
    """A sample's value (Prometheus sends it as text), checked where it enters: a number, finite, 0 to `high`."""
    try:
        number = float(raw)
    except (TypeError, ValueError):
        raise PrometheusError(f"the {what} query returned {str(raw)[:40]!r}, not a number") from None
    if math.isnan(number) or math.isinf(number):
        raise PrometheusError(f"the {what} query returned {raw}: not a measurement")
    if number < 0:
        raise PrometheusError(f"the {what} query returned {number:g}: negative")
    if number > high:
        raise PrometheusError(f"the {what} query returned {number:g}: more than {high:g}, no server's {what}"
                              " (a counter or a sum over the fleet?)")
    return number


@dataclass(frozen=True)
class Vector:
    """An instant query's answer: the sum of its series' values, how many series were summed, and their labels."""

    total: float
    series: int
    labels: list[dict[str, str]] = field(default_factory=list)


def parse_vector(data: Any, what: str, high: float) -> Vector:
    """A Vector from /api/v1/query's `data` (a vector, or a scalar); PrometheusError when it is not one."""
    if not isinstance(data, dict) or data.get("resultType") not in ("vector", "scalar"):
        kind = data.get("resultType") if isinstance(data, dict) else None
        raise PrometheusError(f"the {what} query gives a {kind or 'non-vector'} result: give an instant vector,"
                              " such as process_resident_memory_bytes{job=\"redis\"}")
    result = data.get("result")
    if data["resultType"] == "scalar":
        return Vector(value(_pair(result)[1], what, high), 1, [{}])
    if not isinstance(result, list):
        raise PrometheusError(f"the {what} query's answer is not Prometheus's (no result list)")
    if len(result) > MAX_SERIES:
        raise PrometheusError(f"the {what} query matches {len(result):,} series; narrow it (more than"
                              f" {MAX_SERIES:,} is not one server)")
    labels = [dict(s.get("metric") or {}) if isinstance(s, dict) else {} for s in result]
    values = [value(_pair(s.get("value") if isinstance(s, dict) else None)[1], what, high) for s in result]
    total = math.fsum(values)
    if total > high:
        value(total, what, high)  # the series are each sane, their sum is not
    return Vector(total, len(result), labels)


def _pair(raw: Any) -> tuple[float, Any]:
    if not isinstance(raw, list) or len(raw) != 2 or isinstance(raw[0], bool) or not isinstance(raw[0], int | float):
        raise PrometheusError("an answer's sample is not Prometheus's [time, value]")
    return float(raw[0]), raw[1]


def query(base: str, promql: str, what: str, high: float, timeout_s: float = TIMEOUT_S) -> Vector:
    """One instant query now, its series summed."""
    return parse_vector(get(base, "query", {"query": promql}, timeout_s), what, high)


def query_range(base: str, promql: str, what: str, high: float, start: float, end: float, step: float,
                timeout_s: float = TIMEOUT_S) -> list[tuple[float, float, int]]:
    """(time, sum, series) at each step from start to end (Unix seconds) where any series had a value."""
    step = max(step, (end - start) / MAX_FILL_POINTS, 0.001)
    data = get(base, "query_range", {"query": promql, "start": f"{start:.3f}", "end": f"{end:.3f}",
                                     "step": f"{step:.3f}"}, timeout_s)
    if not isinstance(data, dict) or data.get("resultType") != "matrix" or not isinstance(data.get("result"), list):
        raise PrometheusError(f"the {what} query's range answer is not a matrix")
    sums: dict[float, list[float]] = {}
    for s in data["result"][:MAX_SERIES]:
        for pair in (s.get("values") or []) if isinstance(s, dict) else []:
            t, raw = _pair(pair)
            sums.setdefault(t, []).append(value(raw, what, high))
    return [(t, math.fsum(v), len(v)) for t, v in sorted(sums.items())]


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")
_UNIT_S = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def duration_s(text: str) -> float | None:
    """A Prometheus duration ("15s", "1m30s", "500ms") in seconds; None when it is not one."""
    parts = _DURATION.findall(text or "")
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return sum(float(n) * _UNIT_S[u] for n, u in parts)


def scrape_interval_s(base: str, labels: list[dict[str, str]], timeout_s: float = TIMEOUT_S) -> float | None:
    """How often Prometheus scrapes what the query reads: the longest scrape interval of the active targets whose
    job and instance the series carry (of all active targets when the series carry neither); None if unknown."""
    try:
        data = get(base, "targets", {"state": "active"}, timeout_s)
    except PrometheusError:
        return None
    active = data.get("activeTargets") if isinstance(data, dict) else None
    if not isinstance(active, list):
        return None
    wanted = {(lab.get("job"), lab.get("instance")) for lab in labels if "job" in lab or "instance" in lab}
    found = []
    for t in active:
        if not isinstance(t, dict):
            continue
        tl = t.get("labels") or {}
        if wanted and not any(job in (None, tl.get("job")) and inst in (None, tl.get("instance"))
                              for job, inst in wanted):
            continue
        seconds = duration_s(str(t.get("scrapeInterval") or (t.get("discoveredLabels") or {})
                                 .get("__scrape_interval__") or ""))
        if seconds:
            found.append(seconds)
    return max(found) if found else None


@dataclass(frozen=True)
class Source:
    """A checked source: the base URL, the queries, and what they return now."""

    base: str
    memory_query: str
    connections_query: str | None
    memory: Vector
    connections: Vector | None
    scrape_interval_s: float | None


def check_source(url: str, memory_query: str, connections_query: str | None = None,
                 timeout_s: float = TIMEOUT_S) -> Source:
    """Before a run (and the app's Test button): the URL answers Prometheus's API and each query returns at least
    one series of sane values; PrometheusError in one line otherwise."""
    base = check_url(url)
    for flag, q in (("--memory-query", memory_query), ("--connections-query", connections_query)):
        if q is not None and (not isinstance(q, str) or not q.strip()):
            raise PrometheusError(f"{flag} needs a PromQL query")
    get(base, "status/buildinfo", None, timeout_s)  # Prometheus's API answers here, before any query is judged
    memory = _checked("--memory-query", base, memory_query, "memory", MAX_BYTES, timeout_s)
    conns = None
    if connections_query is not None:
        conns = _checked("--connections-query", base, connections_query, "connections", MAX_CONNECTIONS, timeout_s)
    return Source(base, memory_query, connections_query, memory, conns, scrape_interval_s(base, memory.labels,
                                                                                           timeout_s))


def _checked(flag: str, base: str, promql: str, what: str, high: float, timeout_s: float) -> Vector:
    try:
        found = query(base, promql, what, high, timeout_s)
    except PrometheusError as exc:
        raise PrometheusError(f"{flag} {promql!r}: {str(exc).removeprefix(base + ': ')}") from None
    if not found.series:
        raise PrometheusError(f"{flag} {promql!r} returns no series at {base} (yet?): check its labels on"
                              " Prometheus's Graph page")
    return found


def wall_to_monotonic(ts: float) -> float:
    """A Prometheus timestamp (Unix seconds) on this process's monotonic clock, as every series of the run is."""
    return time.monotonic() - (time.time() - ts)


def record_block(described: dict[str, Any], observed: dict[str, Any] | None, t0: float) -> dict[str, Any]:
    """The record's target.prometheus: the source as checked at the start, with the run's series count and gaps
    (their times in seconds since the run began, as every series of the record)."""
    seen = dict((observed or {}).get("prometheus") or {})
    gaps = [{**g, "from_s": round(g["from"] - t0, 4), "to_s": None if g.get("to") is None else round(g["to"] - t0, 4)}
            for g in seen.pop("gaps", [])]
    for g in gaps:
        g.pop("from", None)
        g.pop("to", None)
    return {**described, "series_min": None, "series_max": None, **seen, "gaps": gaps}
