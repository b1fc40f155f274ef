"""The app's Target section for a server read through Prometheus: its rows, its errors, and the Test button
against a real Prometheus scraping a real process-exporter watching a real redis-server (127.0.0.1 only)."""

from __future__ import annotations

import sys
from pathlib import Path

import psutil
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")
pytest.importorskip("qasync")

from PySide6.QtCore import Qt

from netmem_gui.core.config import ConfigError

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.core.prometheus_stack import prometheus_stack
from tests.core.servers import redis_server

pytestmark = pytest.mark.qt
QUERY = 'namedprocess_namegroup_memory_bytes{groupname="redis",memtype="resident"}'


def test_the_prometheus_choice_asks_for_its_url_and_query_and_observe(qtbot):
    from netmem_gui.gui.form import RunForm

    form = RunForm()
    qtbot.addWidget(form)
    form.show()
    form.set_kind("prometheus")
    assert form.controls["prometheus_url"].isVisible() and form.prometheus_test.button.isVisible()
    assert not form.controls["attach_pid"].isVisible() and not form.controls["spawn"].isVisible()
    form.scenario.setCurrentText("observe")
    with pytest.raises(ConfigError, match="'Prometheus URL'") as missing:
        form.config()
    assert missing.value.field == "prometheus_url"
    form.controls["prometheus_url"].setText("http://127.0.0.1:9090")
    with pytest.raises(ConfigError, match="'Memory query'"):
        form.config()
    form.controls["memory_query"].setText(QUERY)
    config = form.config()
    assert (config.target_kind(), config.memory_query, config.connections_query) == ("prometheus", QUERY, None)
    form.scenario.setCurrentText("connections")
    with pytest.raises(ConfigError, match="observe") as wrong:
        form.config()
    assert wrong.value.field == "scenario"
    form.set_kind("attach")
    assert not form.prometheus_test.button.isVisible()
    form.set_config(config)
    assert form.kind() == "prometheus" and form.controls["memory_query"].text() == QUERY


@pytest.mark.slow
def test_test_shows_the_value_now_and_the_series_summed(qtbot, tmp_path):
    from netmem_gui.gui.form import RunForm

    form = RunForm()
    qtbot.addWidget(form)
    form.set_kind("prometheus")
    with redis_server() as (redis, port), prometheus_stack(tmp_path, "redis", f"redis-server.*:{port}") as url:
        form.controls["prometheus_url"].setText(url)
        form.controls["memory_query"].setText(QUERY)
        qtbot.mouseClick(form.prometheus_test.button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: form.prometheus_test.result.text().startswith("Now:"), timeout=10_000)
        rss = psutil.Process(redis.pid).memory_info().rss
        text = form.prometheus_test.result.text()
        assert "the sum of 1 series" in text and "scraped every 1 s" in text, text
        shown = float(text.split("memory ")[1].split(" MB")[0].replace(",", "")) * 1024**2
        assert abs(shown - rss) <= 0.1 * rss, (text, rss)
        form.controls["memory_query"].setText("nosuch_metric_netmem")
        qtbot.mouseClick(form.prometheus_test.button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: "returns no series" in form.prometheus_test.result.text(), timeout=10_000)
        assert form.prometheus_test.result.text().startswith("Not usable: --memory-query")
