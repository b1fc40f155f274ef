"""Locust users for an HTTP server (nginx, gunicorn, yours): keep-alive GETs of one path with FastHttpUser.

    locust -f http_user.py --host http://127.0.0.1:8080
"""

from __future__ import annotations

import os

from locust import FastHttpUser, between, task

PATH = os.environ.get("NETMEM_HTTP_PATH", "/")


class WebUser(FastHttpUser):
    wait_time = between(0.05, 0.2)

    @task
    def get(self) -> None:
        self.client.get(PATH)
