"""Locust users for redis, speaking RESP over a raw socket (no client library): SET then GET of one key per user.

    locust -f redis_user.py --host 127.0.0.1:6379

Each user writes only its own key, so the data set stays the same size however long the test runs: memory that
grows at steady load is then the server's, not the data's.
"""

from __future__ import annotations

import itertools

from locust import between, task
from tcp_client import TcpUser

VALUE = b"x" * 100
_numbers = itertools.count(1)


def command(*parts: bytes) -> bytes:
    return b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)


class RedisUser(TcpUser):
    wait_time = between(0.05, 0.2)

    def on_start(self) -> None:
        super().on_start()
        self.key = b"netmem:locust:%d" % next(_numbers)

    @task
    def set_and_get(self) -> None:
        self.exchange("redis", "SET", command(b"SET", self.key, VALUE), lambda: self.read_until(b"\r\n"),
                      lambda reply: reply == b"+OK\r\n")
        header = b"$%d\r\n" % len(VALUE)
        self.exchange("redis", "GET", command(b"GET", self.key),
                      lambda: self.read_exactly(len(header) + len(VALUE) + 2),
                      lambda reply: reply == header + VALUE + b"\r\n")
