"""HTTP GETs for the services netmem reads (a Locust master, Prometheus): GETs and nothing else."""

from __future__ import annotations

import urllib.request


def _opener() -> urllib.request.OpenerDirector:
    """HTTP(S) and nothing else: no proxy (the services are named by the user, on this machine or not), no redirects
    (a 3xx is an answer that is not the service's, never a hop to somewhere else), no ftp:, file: or data:."""
    opener = urllib.request.OpenerDirector()
    for handler in (urllib.request.ProxyHandler({}), urllib.request.HTTPHandler(), urllib.request.HTTPSHandler(),
                    urllib.request.HTTPDefaultErrorHandler(), urllib.request.HTTPErrorProcessor()):
        opener.add_handler(handler)
    return opener


OPENER = _opener()
