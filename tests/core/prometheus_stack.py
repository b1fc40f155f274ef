"""A real Prometheus on loopback for the tests: prometheus-process-exporter watching one command line, and a
Prometheus scraping it every second (both from Debian's packages; .ci/run installs them)."""

from __future__ import annotations

import json
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.core.locust_cluster import answers, free_port, wait_for
from tests.core.servers import need, stop

EXPORTER_CONFIG = """process_names:
  - name: "{name}"
    cmdline:
    - '{pattern}'
"""
PROMETHEUS_CONFIG = """global:
  scrape_interval: {scrape}
scrape_configs:
  - job_name: processes
    static_configs:
      - targets: ['127.0.0.1:{exporter}']
"""


def instant(url: str, promql: str) -> list:
    """An instant query's result list, read straight (no proxy), for the tests' own checks."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"{url}/api/v1/query?{urllib.parse.urlencode({'query': promql})}", timeout=2) as reply:
        return json.load(reply)["data"]["result"]


@contextmanager
def prometheus_stack(tmp: Path, name: str, pattern: str, scrape: str = "1s") -> Iterator[str]:
    """Prometheus's URL once it holds the process group `name` (command lines matching `pattern`)."""
    exporter_bin, prometheus_bin = need("prometheus-process-exporter"), need("prometheus")
    exporter_port, web_port = free_port(), free_port()
    (tmp / "exporter.yml").write_text(EXPORTER_CONFIG.format(name=name, pattern=pattern))
    (tmp / "prometheus.yml").write_text(PROMETHEUS_CONFIG.format(scrape=scrape, exporter=exporter_port))
    procs = []
    with open(tmp / "exporter.log", "wb") as exporter_log, open(tmp / "prometheus.log", "wb") as prometheus_log:
        try:
            procs.append(subprocess.Popen([exporter_bin, "-config.path", str(tmp / "exporter.yml"),
                                           "-web.listen-address", f"127.0.0.1:{exporter_port}", "-threads=false",
                                           "-gather-smaps=false"], stdout=exporter_log, stderr=subprocess.STDOUT))
            procs.append(subprocess.Popen([prometheus_bin, f"--config.file={tmp / 'prometheus.yml'}",
                                           f"--web.listen-address=127.0.0.1:{web_port}",
                                           f"--storage.tsdb.path={tmp / 'tsdb'}"],
                                          stdout=prometheus_log, stderr=subprocess.STDOUT))
            url = f"http://127.0.0.1:{web_port}"
            wait_for(lambda: answers(url + "/-/ready"), 30, "Prometheus")
            wait_for(lambda: bool(instant(url, f'namedprocess_namegroup_num_procs{{groupname="{name}"}}')), 30,
                     f"Prometheus to hold the process group {name}")
            yield url
        finally:
            for proc in procs:
                stop(proc)
