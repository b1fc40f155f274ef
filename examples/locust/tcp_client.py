"""A Locust user that holds one TCP connection for its lifetime and reports each exchange as a Locust request."""

from __future__ import annotations

import socket
import time
from urllib.parse import urlsplit

from locust import User


class TcpUser(User):
    """Connects on start to --host (tcp://HOST:PORT or HOST:PORT) and keeps that connection until it stops.

    One user, one connection: netmem then reads the server's memory against users and connections alike.
    """

    abstract = True
    timeout_s = 5.0

    def on_start(self) -> None:
        host = self.host or "tcp://127.0.0.1:5555"
        parts = urlsplit(host if "://" in host else f"tcp://{host}")
        self.address = (parts.hostname or "127.0.0.1", parts.port or 5555)
        self.sock: socket.socket | None = None
        self.buffer = b""

    def on_stop(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def connected(self) -> socket.socket:
        if self.sock is None:
            self.sock = socket.create_connection(self.address, timeout=self.timeout_s)
            self.buffer = b""
        return self.sock

    def read_until(self, marker: bytes) -> bytes:
        """Bytes up to and including `marker`; what follows stays for the next read."""
        sock = self.connected()
        while marker not in self.buffer:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("the server closed the connection")
            self.buffer += chunk
        head, _, self.buffer = self.buffer.partition(marker)
        return head + marker

    def read_exactly(self, size: int) -> bytes:
        sock = self.connected()
        while len(self.buffer) < size:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("the server closed the connection")
            self.buffer += chunk
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def exchange(self, kind: str, name: str, request: bytes, read, check) -> None:
        """Send `request`, read the reply with `read()`, and fire Locust's request event (failure if `check` fails).

        A broken connection counts as a failed request and is opened again on the next one.
        """
        started = time.perf_counter()
        error: Exception | None = None
        reply = b""
        try:
            self.connected().sendall(request)
            reply = read()
            if not check(reply):
                error = ValueError(f"unexpected reply {reply[:40]!r}")
        except OSError as exc:
            error = exc
            self.on_stop()
        self.environment.events.request.fire(
            request_type=kind, name=name, response_time=(time.perf_counter() - started) * 1000,
            response_length=len(reply), exception=error, context={},
        )
