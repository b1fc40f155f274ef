"""Locust users for a raw TCP echo server (netmem's own, or yours): each sends 64 bytes and checks the echo.

    locust -f tcp_echo.py --host tcp://127.0.0.1:5555
"""

from __future__ import annotations

from locust import between, task
from tcp_client import TcpUser

PAYLOAD = bytes(range(64))


class EchoUser(TcpUser):
    wait_time = between(0.05, 0.2)

    @task
    def echo(self) -> None:
        self.exchange("tcp", "echo 64 B", PAYLOAD, lambda: self.read_exactly(len(PAYLOAD)),
                      lambda reply: reply == PAYLOAD)
