"""HTTP GETs for the services netmem reads (a Locust master, Prometheus): GETs and nothing else."""

from __future__ import annotations

import http.client
import urllib.error
import urllib.request

# Everything a GET can fail with, short of a bug: no answer (OSError, URLError), an answer that is not HTTP or is cut
# short (http.client's BadStatusLine, IncompleteRead...), a URL http.client refuses (InvalidURL, ValueError).
FAILURES = (urllib.error.URLError, OSError, http.client.HTTPException, ValueError)


def _opener() -> urllib.request.OpenerDirector:
    """HTTP(S) and nothing else: no proxy (the services are named by the user, on this machine or not), no redirects
    (a 3xx is an answer that is not the service's, never a hop to somewhere else), no ftp:, file: or data:."""
    opener = urllib.request.OpenerDirector()
    for handler in (urllib.request.ProxyHandler({}), urllib.request.HTTPHandler(), urllib.request.HTTPSHandler(),
                    urllib.request.HTTPDefaultErrorHandler(), urllib.request.HTTPErrorProcessor()):
        opener.add_handler(handler)
    return opener


OPENER = _opener()


def reason(exc: BaseException) -> str:
    """Why a GET failed, in a few words: the system's reason, or what kind of answer it was."""
    if isinstance(exc, http.client.InvalidURL):
        return "not a URL it can ask (spaces or control characters?)"
    if isinstance(exc, http.client.HTTPException):
        return f"its answer is not HTTP ({type(exc).__name__})"
    inner = getattr(exc, "reason", None) or exc
    return getattr(inner, "strerror", None) or str(inner) or type(inner).__name__
