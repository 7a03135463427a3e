"""The load client for real: Locust runs a store day against a server that records it."""
import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
import requests

from loadtest.report import CSV_COLUMNS
from loadtest.stores import phase_of
from loadtest.tests.recorder import Received, recorder_start
from purchases.tests.helpers import wait_until
from loadtest.stack import ROOT, free_port

pytestmark = pytest.mark.slow
LOCUST = [sys.executable, "-m", "locust", "-f", "loadtest/locustfile.py"]
STORES, PER_HOUR = 8, 6


def day_options(tmp_path: Path, stores: int = STORES) -> list[str]:
    return ["--max-stores", str(stores), "--num-purchases", str(PER_HOUR), "--num-customers", "40",
            "--max-item-id", "500", "--items-per-purchase", "3", "--date", "20210315",
            "--requests-csv", str(tmp_path / "requests.csv"), "--report", str(tmp_path / "report.json")]


def per_store(received: list[Received]) -> dict[int, list[Received]]:
    stores = defaultdict(list)
    for one in received:
        stores[int(one.path.split("/")[2])].append(one)
    return stores


def assert_phases_in_order(stores: dict[int, list[Received]], max_stores: int) -> None:
    """Central's first request after some store ended hour 3; West's after some ended hour 5."""
    def hour_end(h):  # a store's hour h ends with its (h * PER_HOUR)-th request
        return min(reqs[h * PER_HOUR - 1].at for reqs in stores.values())

    def first_of(phase):
        return min(reqs[0].at for s, reqs in stores.items() if phase_of(s, max_stores) == phase)

    assert first_of("East") < hour_end(3) < first_of("Central")
    assert hour_end(5) < first_of("West")


@pytest.fixture
def recorder():
    server = recorder_start()
    yield server
    server.close()


def test_it_runs_the_seeds_day_store_by_store_with_its_phases(recorder, tmp_path):
    result = subprocess.run([*LOCUST, "--headless", "--host", recorder.url, *day_options(tmp_path)],
                            cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    received = sorted(recorder.received, key=lambda one: one.at)  # per store, in order
    assert len(received) == STORES * 9 * PER_HOUR
    stores = per_store(received)
    assert sorted(stores) == list(range(1, STORES + 1))
    for store, reqs in stores.items():
        assert len(reqs) == 9 * PER_HOUR
        for one in reqs:
            _, _, _, _, customer, _, date = one.path.split("/")
            assert store * 1000 <= int(customer) < store * 1000 + 40 and date == "20210315"
            assert len(one.body["items"]) == 3
            assert all(1 <= int(i["ItemID"]) < 500 and i["numberOfItems:"] == 1
                       for i in one.body["items"])
    assert_phases_in_order(stores, STORES)
    assert [one.cookie for one in received if one.cookie] == []  # set on every answer
    assert {one.idempotency_key for one in received} == {None}  # the seed's client sent none
    # The seed's report, from the raw records, and the CSV, one line per request.
    assert "successful requests: 432" in result.stdout
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["successful"] == 432 and report["failed"] == 0
    assert set(report) >= {"wall_time_s", "throughput_rps", "mean_ms", "median_ms", "p99_ms",
                           "max_ms", "instrumentation_pct"}
    lines = (tmp_path / "requests.csv").read_text().splitlines()
    assert lines[0] == ",".join(CSV_COLUMNS) and len(lines) == 1 + 432
    assert (tmp_path / "requests_throughput.png").exists()
    assert (tmp_path / "requests_latency.png").exists()


def test_with_idempotency_keys_every_purchase_carries_one_of_its_own(recorder, tmp_path):
    result = subprocess.run([*LOCUST, "--headless", "--host", recorder.url,
                             *day_options(tmp_path, stores=2), "--idempotency-keys"],
                            cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    keys = [one.idempotency_key for one in recorder.received]
    assert len(keys) == 2 * 9 * PER_HOUR and None not in keys
    assert len(set(keys)) == len(keys)


def test_it_refuses_bad_options(recorder, tmp_path):
    result = subprocess.run([*LOCUST, "--headless", "--host", recorder.url,
                             *day_options(tmp_path), "--items-per-purchase", "21"],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "--items-per-purchase" in result.stderr
    assert recorder.received == []


def test_master_and_two_workers_run_every_store_exactly_once(recorder, tmp_path):
    port = free_port()
    master = subprocess.Popen(
        [*LOCUST, "--master", "--headless", "--expect-workers", "2", "--master-bind-port",
         str(port), "--host", recorder.url, *day_options(tmp_path, stores=12)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    workers = [subprocess.Popen([*LOCUST, "--worker", "--master-port", str(port)], cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
               for _ in range(2)]
    try:
        output, _ = master.communicate(timeout=180)
    finally:
        for process in (master, *workers):
            if process.poll() is None:
                process.kill()
        for worker in workers:
            worker.wait(timeout=30)
    assert master.returncode == 0, output[-3000:]
    stores = per_store(recorder.received)
    assert sorted(stores) == list(range(1, 13))
    assert {len(reqs) for reqs in stores.values()} == {9 * PER_HOUR}
    for reqs in stores.values():
        reqs.sort(key=lambda one: one.at)
    assert_phases_in_order(stores, 12)
    assert "12/12 stores closed" in output and f"successful requests: {12 * 9 * PER_HOUR}" in output
    lines = (tmp_path / "requests.csv").read_text().splitlines()
    assert len(lines) == 1 + 12 * 9 * PER_HOUR


def test_a_run_writes_report_csv_and_charts_into_a_folder_of_its_own(recorder, tmp_path):
    results = tmp_path / "results"
    day = ["--max-stores", "4", "--num-purchases", "2", "--date", "20210315"]
    for _ in (1, 2):
        result = subprocess.run([*LOCUST, "--headless", "--host", recorder.url, *day,
                                 "--results-dir", str(results)],
                                cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr[-3000:]
    first, second = sorted(results.iterdir())  # the second run did not overwrite the first
    assert all("-4stores" in folder.name for folder in (first, second))
    for folder in (first, second):
        assert sorted(p.name for p in folder.iterdir()) == [
            "report.json", "requests.csv", "requests_latency.png", "requests_throughput.png"]
        report = json.loads((folder / "report.json").read_text())
        assert report["successful"] == 4 * 9 * 2
        assert report["run"]["params"]["max_stores"] == 4 and report["run"]["host"] == recorder.url
    assert f"report, CSV and charts in {second}" in result.stdout


def test_the_web_ui_starts_on_the_store_day_and_runs_a_day_twice(recorder, tmp_path):
    port = free_port()
    results = tmp_path / "results"
    ui = subprocess.Popen([*LOCUST, "--web-host", "127.0.0.1", "--web-port", str(port),
                           "--host", recorder.url, "--results-dir", str(results)], cwd=ROOT,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _answers(base), 30, "the web UI")
        start = requests.get(base, timeout=10)
        assert start.url == f"{base}/day"  # while nothing runs, the store day comes first
        page = start.text
        positions = [page.index(f'name="{option}"') for option in (
            "max_stores", "num_purchases", "items_per_purchase", "num_customers", "max_item_id",
            "date", "host")]
        assert positions == sorted(positions)
        assert "user_count" not in page.split("<script>")[0]  # no users to set by hand
        assert "Users and ramp-up follow from the day" in page
        # Locust's own page, with the same options, stays one query away.
        locust_page = requests.get(f"{base}/?stats", timeout=10).text
        for option in ("max_stores", "num_customers", "max_item_id", "num_purchases",
                       "items_per_purchase", "date", "results_dir"):
            assert f'"{option}"' in locust_page
        # What the start page's script sends.
        form = {"user_count": 3, "spawn_rate": 3, "host": recorder.url, "max_stores": "3",
                "num_purchases": "2", "num_customers": "1000", "max_item_id": "100000",
                "items_per_purchase": "5", "date": "20210101"}
        for day in (1, 2):  # a second day from the same UI starts afresh
            assert requests.post(f"{base}/swarm", data=form, timeout=10).json()["success"]
            wait_until(lambda: len(recorder.received) == day * 3 * 9 * 2, 60, f"day {day}")
            wait_until(lambda: len(list(results.glob("*/requests_latency.png"))) == day, 30,
                       f"day {day}'s report")
        folders = sorted(p.name for p in results.iterdir())
        assert len(folders) == 2
        page = requests.get(f"{base}/day", timeout=10).text
        assert all(name in page for name in folders) and "3 stores x 9 h x 2 purchases/h" in page
        chart = requests.get(f"{base}/day/results/{folders[1]}/requests_throughput.png", timeout=10)
        assert chart.status_code == 200 and chart.content[:4] == b"\x89PNG"
        assert requests.get(f"{base}/day/results/..%2F..%2Fetc/passwd", timeout=10).status_code == 404
    finally:
        ui.terminate()
        ui.wait(timeout=30)


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False
