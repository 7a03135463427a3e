"""Workers that join or die mid-day: Locust re-spreads the users, stores are handed back and
taken up where they stopped, and the day still ends by itself."""
import signal
import subprocess
import time
from collections import Counter

import pytest

from loadtest.tests.recorder import recorder_start
from loadtest.tests.test_locust_day import LOCUST
from purchases.tests.helpers import wait_until
from loadtest.stack import ROOT, free_port

pytestmark = pytest.mark.slow
STORES, PER_HOUR = 6, 60


@pytest.fixture
def slow_recorder():
    server = recorder_start(delay=0.002)
    yield server
    server.close()


def run_with(recorder, tmp_path, change) -> tuple[subprocess.Popen, str]:
    port = free_port()
    master = subprocess.Popen(
        [*LOCUST, "--master", "--headless", "--expect-workers", "2", "--master-bind-port",
         str(port), "--host", recorder.url, "--max-stores", str(STORES), "--num-purchases",
         str(PER_HOUR), "--requests-csv", str(tmp_path / "requests.csv")],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    worker = [*LOCUST, "--worker", "--master-port", str(port)]
    workers = [subprocess.Popen(worker, cwd=ROOT, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
               for _ in range(2)]
    try:
        wait_until(lambda: len(recorder.received) > STORES * PER_HOUR, 60, "the day going")
        workers += change(workers, worker)
        output, _ = master.communicate(timeout=240)
    finally:
        for process in (master, *workers):
            if process.poll() is None:
                process.kill()
            process.wait(timeout=30)
    return master, output


def assert_every_store_ran_its_day(recorder, output: str, tmp_path) -> None:
    per_store = Counter(int(one.path.split("/")[2]) for one in recorder.received)
    assert sorted(per_store) == list(range(1, STORES + 1))
    # A user stopped in the middle of a request may have sent it unrecorded; its successor
    # sends that purchase again, so a store may see one more per interruption.
    for count in per_store.values():
        assert 9 * PER_HOUR <= count <= 9 * PER_HOUR + 3
    assert f"{STORES}/{STORES} stores closed" in output
    recorded = len((tmp_path / "requests.csv").read_text().splitlines()) - 1
    assert recorded >= STORES * 9 * PER_HOUR


def test_a_worker_joining_mid_day_takes_over_stores_without_a_hang(slow_recorder, tmp_path):
    def join(workers, worker):
        return [subprocess.Popen(worker, cwd=ROOT, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL, start_new_session=True)]

    master, output = run_with(slow_recorder, tmp_path, join)
    assert master.returncode == 0, output[-3000:]
    assert_every_store_ran_its_day(slow_recorder, output, tmp_path)


def test_a_worker_killed_mid_day_has_its_stores_resumed_elsewhere(slow_recorder, tmp_path):
    def kill(workers, worker):
        workers[0].send_signal(signal.SIGKILL)
        time.sleep(0.1)
        return []

    master, output = run_with(slow_recorder, tmp_path, kill)
    assert "its worker is gone" in output or "resumes after" in output, output[-3000:]
    per_store = Counter(int(one.path.split("/")[2]) for one in slow_recorder.received)
    # The killed worker's unfinished hours are sent again from their start.
    assert sorted(per_store) == list(range(1, STORES + 1))
    assert min(per_store.values()) >= 9 * PER_HOUR
    assert f"{STORES}/{STORES} stores closed" in output
