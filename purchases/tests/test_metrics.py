"""Prometheus metrics of the web (/metrics, every gunicorn process summed) and the worker."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import requests
from django.core.exceptions import ImproperlyConfigured
from django.test import Client, override_settings
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from analytics.metrics_access import cidrs_parse
from loadtest.stack import ROOT, free_port
from purchases.tests.helpers import purchases_stream, wait_until
from tigle_project.env import env_cidrs

ACCEPTED = "tigle_purchases_accepted_total"
WRITTEN = "tigle_worker_purchases_written_total"


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted labels): value} of a Prometheus text page."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def scrape(url: str) -> dict[tuple[str, tuple], float]:
    response = requests.get(url, timeout=10)
    assert response.status_code == 200, response.text
    return samples(response.text)


def per_process_accepted(folder) -> dict[str, float]:
    """The accepted count of each web process, from its own multiprocess file alone."""
    counts = {}
    for path in folder.glob("counter_*.db"):
        alone = folder.parent / f"alone-{path.stem}"
        alone.mkdir()
        shutil.copy(path, alone / path.name)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(alone))
        counts[path.stem] = sum(s.value for m in registry.collect() for s in m.samples
                                if s.name == ACCEPTED)
        shutil.rmtree(alone)
    return counts


def test_it_sums_accepted_purchases_of_both_web_processes_and_counts_worker_writes(
        stack, tmp_path):
    folder = tmp_path / "web-metrics"
    folder.mkdir()
    (folder / "counter_999999.db").write_bytes(b"left by an earlier run")
    worker_port = free_port()
    stack.start_worker(WORKER_METRICS_LISTEN=f"127.0.0.1:{worker_port}")
    stack.start_web(PROMETHEUS_MULTIPROC_DIR=str(folder))
    assert not (folder / "counter_999999.db").exists(), "the master empties the folder first"

    sent = []
    # Until both processes took some: which one accepts a connection is the kernel's choice.
    while len([n for n in per_process_accepted(folder).values() if n > 0]) < 2:
        assert len(sent) < 2000, per_process_accepted(folder)
        sent += purchases_stream(stack.base, 100, threads=8, seed=len(sent))
    assert {one.status for one in sent} == {201}
    by_process = per_process_accepted(folder)
    page = scrape(f"{stack.base}/metrics")
    assert page[(ACCEPTED, (("mode", "queue"),))] == len(sent) == sum(by_process.values())
    assert page[("tigle_publish_seconds_count", ())] == len(sent)

    worker = f"http://127.0.0.1:{worker_port}/metrics"
    wait_until(lambda: scrape(worker).get((WRITTEN, ())) == len(sent), 60, "the worker's count")
    page = scrape(worker)
    assert page[("tigle_worker_batch_size_sum", ())] == len(sent)
    assert page[("tigle_worker_db_errors_total", ())] == 0
    assert page[("tigle_worker_queue_messages", (("queue", "purchases.db"),))] == 0
    # Each side shows its own: the web's page has none of the worker's, and the reverse.
    assert not [name for name, _ in scrape(f"{stack.base}/metrics") if "worker" in name]
    assert not [name for name, _ in page if name.startswith("tigle_purchases")]


def test_it_makes_its_own_folder_when_none_is_set_and_counts_a_rejected_purchase(stack):
    gone = subprocess.Popen(["true"])
    gone.wait()
    killed_masters = Path(tempfile.mkdtemp(prefix=f"tigle-web-metrics-{gone.pid}-"))
    stack.start_web()
    assert not killed_masters.exists(), "a SIGKILLed master's folder goes at the next start"
    bad = requests.post(f"{stack.base}/purchase/0/customer/1/date/20210101",
                        json={"items": [{"ItemID": "1", "numberOfItems": 1}]}, timeout=10)
    assert bad.status_code == 400
    page = scrape(f"{stack.base}/metrics")
    assert page[("tigle_purchases_rejected_total", (("status", "400"),))] == 1


def rejected_400() -> float:
    page = samples(Client().get("/metrics").content.decode())
    return page.get(("tigle_purchases_rejected_total", (("status", "400"),)), 0.0)


@pytest.mark.django_db
def test_a_rejected_purchase_counts_under_its_status(client):
    before = rejected_400()
    response = client.post("/purchase/1/customer/1/date/20211301",
                           data={"items": [{"ItemID": "1", "numberOfItems": 1}]},
                           content_type="application/json")
    assert response.status_code == 400
    assert rejected_400() == before + 1


@pytest.mark.parametrize(("remote", "forwarded", "status"), [
    ("127.0.0.1", None, 200),
    ("10.42.1.7", None, 200),
    ("::1", None, 200),
    ("203.0.113.5", None, 403),
    # Through the internet-facing load balancer: its address is private, its client is not.
    ("10.42.1.9", "203.0.113.5", 403),
    # A client writing a private address of its own: the balancer appends the real one.
    ("10.42.1.9", "10.0.0.1, 203.0.113.5", 403),
    ("10.42.1.9", "10.42.2.30", 200),
    # X-Forwarded-For never opens: the socket's address must be allowed first.
    ("203.0.113.5", "127.0.0.1", 403),
])
def test_it_answers_metrics_only_to_allowed_addresses(client, remote, forwarded, status):
    headers = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded else {}
    assert client.get("/metrics", REMOTE_ADDR=remote, **headers).status_code == status


@override_settings(METRICS_ALLOWED_CIDRS=cidrs_parse("10.0.0.0/8"))
def test_metrics_allowed_cidrs_decides_even_for_loopback(client):
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200


def test_metrics_are_only_read(client):
    for method in (client.post, client.options, client.delete):
        response = method("/metrics", REMOTE_ADDR="127.0.0.1")
        assert response.status_code == 405 and response["Allow"] == "GET, HEAD"
    assert client.head("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200


def test_a_bad_metrics_allowed_cidrs_stops_the_process_naming_it(monkeypatch):
    monkeypatch.setenv("METRICS_ALLOWED_CIDRS", "10.0.0.0/8, not-a-range")
    with pytest.raises(ImproperlyConfigured, match="METRICS_ALLOWED_CIDRS.*not-a-range"):
        env_cidrs("METRICS_ALLOWED_CIDRS")


def test_the_worker_metrics_refuse_an_address_outside_the_allowed_ranges(stack):
    port = free_port()
    stack.start_worker(WORKER_METRICS_LISTEN=f"127.0.0.1:{port}",
                       METRICS_ALLOWED_CIDRS="10.0.0.0/8")
    wait_until(lambda: requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
               .status_code == 403, 10, "a 403")


def defined_names() -> set[str]:
    """Every tigle_* metric the code defines."""
    return {name for module in ("purchases/metrics.py", "analytics/metrics.py")
            for name in re.findall(r'"(tigle_[a-z_]+)"', (ROOT / module).read_text())}


def metric_names() -> set[str]:
    """Every tigle_* sample name there can be (a histogram's as Prometheus stores it)."""
    return {one for name in defined_names()
            for one in (name, f"{name}_bucket", f"{name}_sum", f"{name}_count")}


def test_every_dashboard_panel_asks_for_metrics_the_code_defines():
    dashboard = json.loads((ROOT / "docs/grafana/tigle.json").read_text())
    known = metric_names()
    assert {"tigle_purchases_accepted_total", "tigle_analytics_query_seconds_bucket"} <= known
    for panel in dashboard["panels"]:
        exprs = [target["expr"] for target in panel["targets"]]
        used = {name for expr in exprs for name in re.findall(r"tigle_[a-z_]+", expr)}
        assert used, panel["title"]
        assert used <= known, (panel["title"], used - known)


def test_every_metric_of_design_md_is_defined_and_documented():
    design = {"tigle_purchases_accepted_total", "tigle_purchases_rejected_total",
              "tigle_publish_seconds", "tigle_worker_purchases_written_total",
              "tigle_worker_batch_size", "tigle_worker_db_errors_total",
              "tigle_analytics_purchases_counted_total", "tigle_analytics_stream_lag_messages",
              "tigle_analytics_query_seconds"}
    operations = (ROOT / "docs/operations.md").read_text()
    assert design <= defined_names()
    assert [name for name in sorted(defined_names()) if f"`{name}`" not in operations] == []


def test_loading_the_settings_leaves_prometheus_client_unimported():
    """gunicorn's master loads them (its start-up check) before its processes fork; had that
    imported prometheus_client, every process would count alone, invisible to /metrics."""
    code = ("import os, sys; os.environ['DJANGO_SETTINGS_MODULE'] = 'tigle_project.settings'\n"
            "from django.conf import settings; settings.METRICS_ALLOWED_CIDRS\n"
            "print('prometheus_client' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=60, check=True)
    assert result.stdout.strip() == "False"


@override_settings(ANALYTICS_ADDRESS=["127.0.0.1:9"], TIGLE_ANALYTICS_TIMEOUT=0.3)
def test_a_ranking_answer_counts_under_its_ranking_and_status(client):
    def count(ranking: str, status: str) -> float:
        page = samples(Client().get("/metrics").content.decode())
        return page.get(("tigle_rankings_total", (("ranking", ranking), ("status", status))), 0.0)

    before = {key: count(*key) for key in [("top_items", "503"), ("top_stores", "400")]}
    assert client.get("/items/store/3").status_code == 503  # nothing listens on port 9
    assert client.get("/items/top5/0").status_code == 400
    assert count("top_items", "503") == before[("top_items", "503")] + 1
    assert count("top_stores", "400") == before[("top_stores", "400")] + 1
