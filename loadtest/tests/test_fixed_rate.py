"""loadtest/fixed_rate.py against a real local HTTP server that is slow while it warms up."""
from __future__ import annotations

import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from loadtest.fixed_rate import fixed_rate_run
from loadtest.report import csv_read
from loadtest.stack import ROOT, realtime_allowed
from loadtest.tests.recorder import recorder_start

COLD_SECONDS = 0.3
COLD_DELAY = 0.25


class _WarmingUp(BaseHTTPRequestHandler):
    # From the first request, not from the server's start: on a busy machine the client may
    # take longer than COLD_SECONDS to send it, and would never see the slow start.
    first_request: float | None = None
    lock = threading.Lock()

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        self.rfile.read(int(self.headers["Content-Length"]))
        with self.lock:
            if _WarmingUp.first_request is None:
                _WarmingUp.first_request = time.monotonic()
        if time.monotonic() - _WarmingUp.first_request < COLD_SECONDS:
            time.sleep(COLD_DELAY)  # a first request on a process that just started
        self.send_response(201)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args) -> None:
        pass


class _Server(ThreadingHTTPServer):
    request_queue_size = 1024  # the client opens a connection per store at once
    daemon_threads = True


@pytest.fixture
def warming_server():
    _WarmingUp.first_request = None
    server = _Server(("127.0.0.1", 0), _WarmingUp)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_the_warmup_is_counted_but_left_out_of_the_latencies(warming_server):
    report = fixed_rate_run(warming_server, rate=100, seconds=1.0, warmup=1.0)
    assert (report["successful"], report["failed"]) == (200, 0)
    assert report["warmup_s"] == 1.0
    # The slow first answers (and the queue behind them) are all in the warm-up second.
    assert report["max_ms"] < COLD_DELAY * 1000


def test_every_request_goes_in_the_csv_in_the_order_it_was_due(warming_server, tmp_path):
    fixed_rate_run(warming_server, rate=100, seconds=0.5, warmup=0.5,
                   csv_path=tmp_path / "requests.csv")
    records = csv_read(tmp_path / "requests.csv")
    assert len(records) == 100 and {r.status for r in records} == {201}
    starts = [r.start_time for r in records]
    assert starts == sorted(starts) and 0.9 <= starts[-1] - starts[0] <= 1.1
    # The slow answers of the first 0.3 s are there too.
    assert max(r.latency_ms for r in records) >= COLD_DELAY * 1000


def test_without_a_warmup_the_slow_start_is_in_the_latencies(warming_server):
    report = fixed_rate_run(warming_server, rate=100, seconds=1.0)
    assert report["successful"] == 100
    assert report["max_ms"] >= COLD_DELAY * 1000


@pytest.mark.skipif(not realtime_allowed(), reason="real-time priority needs root or CAP_SYS_NICE")
def test_the_realtime_client_runs_under_sched_rr(warming_server, tmp_path):
    code = ("import os, sys; from loadtest import fixed_rate; "
            "code = fixed_rate.main(sys.argv[1:]); "
            "print('policy', os.sched_getscheduler(0) == os.SCHED_RR); "
            "sys.exit(code)")
    result = subprocess.run([sys.executable, "-c", code, "--host", warming_server, "--rate", "50",
                             "--seconds", "0.5", "--warmup", "0.5", "--realtime"],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "policy True" in result.stdout


@pytest.mark.parametrize("keyed", [False, True])
def test_each_purchase_carries_an_idempotency_key_of_its_own_when_asked(keyed):
    recorder = recorder_start()
    try:
        report = fixed_rate_run(recorder.url, rate=100, seconds=0.5, connections=4,
                                idempotency_keys=keyed)
    finally:
        recorder.close()
    keys = [one.idempotency_key for one in recorder.received]
    assert report["successful"] == len(keys) == 50
    if keyed:
        assert None not in keys and len(set(keys)) == len(keys)
    else:
        assert set(keys) == {None}
