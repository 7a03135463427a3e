"""analytics' Prometheus metrics: counted, stream lag, query latency; and who may read them."""
from __future__ import annotations

import os

import pytest
import requests
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.parser import text_string_to_metric_families

from analytics import client
from analytics.config import ConfigError, config_from_env
from analytics.metrics import LAG_NAME, StreamLag
from analytics.metrics_access import cidrs_parse
from analytics.metrics_server import metrics_serve
from analytics.tests.helpers import stream_publish
from loadtest.stack import analytics_start, free_port
from purchases.tests.helpers import wait_until


def scrape(url: str) -> dict[tuple[str, tuple], float]:
    response = requests.get(url, timeout=10)
    assert response.status_code == 200, response.text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.text) for s in family.samples}


def test_the_lag_is_the_stream_tail_minus_the_offset_counted():
    lag = StreamLag()
    assert list(lag.collect()) == []  # no source: the embedded broker has no offsets
    asked = []
    lag.source = (lambda: asked.append(1) or 120, lambda: 100)
    (family,) = lag.collect()
    assert (family.name, family.samples[0].value) == (LAG_NAME, 20)
    list(lag.collect())
    assert len(asked) == 1, "a second scrape within the cache time asks the broker no more"


def test_the_lag_is_left_out_while_the_broker_is_away_or_the_state_loads():
    def away() -> int:
        raise ConnectionRefusedError()

    lag = StreamLag()
    lag.source = (away, lambda: 5)
    assert list(lag.collect()) == []
    loading = StreamLag()
    loading.source = (lambda: 9, lambda: None)
    assert list(loading.collect()) == []


def test_describing_the_lag_asks_no_broker():
    lag = StreamLag()
    lag.source = (lambda: pytest.fail("the broker was asked"), lambda: 0)
    CollectorRegistry(auto_describe=True).register(lag)


@pytest.mark.parametrize(("allowed", "forwarded", "status"), [
    ("127.0.0.0/8", None, 200),
    ("10.0.0.0/8", None, 403),
    ("127.0.0.0/8", "203.0.113.5", 403),
])
def test_the_metrics_server_answers_only_allowed_clients(allowed, forwarded, status):
    registry = CollectorRegistry()
    Counter("tigle_probe_total", "a probe", registry=registry).inc()
    server = metrics_serve("127.0.0.1:0", cidrs_parse(allowed), registry)
    try:
        headers = {"X-Forwarded-For": forwarded} if forwarded else {}
        response = requests.get(f"http://127.0.0.1:{server.server_address[1]}/metrics",
                                headers=headers, timeout=5)
        assert response.status_code == status
        assert ("tigle_probe_total 1.0" in response.text) == (status == 200)
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(("name", "value"), [
    ("ANALYTICS_METRICS_LISTEN", "9102"),
    ("METRICS_ALLOWED_CIDRS", "10.0.0.0/8,10.300.0.0/16"),
])
def test_a_bad_metrics_setting_stops_analytics_naming_it(name, value):
    with pytest.raises(ConfigError, match=name):
        config_from_env({name: value})


def test_the_defaults_serve_on_loopback_to_the_private_ranges():
    config = config_from_env({})
    assert config.metrics_listen == "127.0.0.1:9102"
    assert [str(n) for n in config.metrics_allowed] == [
        "127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"]


@pytest.mark.slow
def test_a_running_analytics_counts_reports_no_lag_once_caught_up_and_times_queries(
        vhost_new, tmp_path, test_database_url):
    url, _ = vhost_new()
    stream_publish(url, 60)
    port = free_port()
    env = {**os.environ, "CELERY_BROKER_URL": url, "DATABASE_URL": test_database_url,
           "ANALYTICS_METRICS_LISTEN": f"127.0.0.1:{port}"}
    process, address = analytics_start(env, tmp_path / "logs", state_dir=tmp_path / "state")
    metrics = f"http://127.0.0.1:{port}/metrics"
    try:
        counted = ("tigle_analytics_purchases_counted_total", ())
        wait_until(lambda: scrape(metrics).get(counted) == 60, 30, "60 counted")
        wait_until(lambda: scrape(metrics).get((LAG_NAME, ())) == 0, 10, "no lag")
        stream_publish(url, 15)
        wait_until(lambda: scrape(metrics).get(counted) == 75, 30, "75 counted")
        client.top_items(address, 1)
        client.top_stores(address, 1)
        page = scrape(metrics)
        for method in ("TopItems", "TopStores"):
            assert page[("tigle_analytics_query_seconds_count", (("method", method),))] == 1
        assert ("process_cpu_seconds_total", ()) in page
    finally:
        process.stop()
