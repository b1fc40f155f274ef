"""Locust users that churn connections on a raw TCP echo server: each task connects, sends 64 bytes, checks the
echo and closes. A server that keeps something per connection grows with every task.

    locust -f tcp_churn.py --host tcp://127.0.0.1:5555
"""

from __future__ import annotations

from locust import between, task
from tcp_client import TcpUser

PAYLOAD = bytes(range(64))


class ChurnUser(TcpUser):
    wait_time = between(0.05, 0.2)

    @task
    def connect_echo_close(self) -> None:
        self.exchange("tcp", "connect, echo 64 B, close", PAYLOAD, lambda: self.read_exactly(len(PAYLOAD)),
                      lambda reply: reply == PAYLOAD)
        self.on_stop()
