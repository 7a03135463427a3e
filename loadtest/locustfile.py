"""Tigle's load client: one Locust user per store, replaying the seed's day of purchases.

    locust -f loadtest/locustfile.py --headless --host http://127.0.0.1:8000 --max-stores 32

Runs alone, with --processes N, or as master + workers; the run ends by itself when the
last store closes and prints the seed's report (loadtest/report.py).
"""
from __future__ import annotations

import gc
import json
import logging
import random
import sys
import time
import uuid
from pathlib import Path

# Found from any working directory, as locust imports this file by path.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import gevent  # noqa: E402
from locust import FastHttpUser, LoadTestShape, events, task
from locust.runners import STATE_MISSING, MasterRunner, WorkerRunner

from loadtest.day import Day, params_from_options
from loadtest.report import Record, report_build, report_text, report_write
from loadtest.results import REPORT, REQUESTS_CSV, run_dir_new, run_info, run_title
from loadtest.start_page import start_page_add
from loadtest.stores import phase_of, store_day

log = logging.getLogger("loadtest")
CLAIM_AGAIN_SECONDS = 0.5


@events.init_command_line_parser.add_listener
def _options(parser) -> None:
    # On the parser itself: only its add_argument knows Locust's web UI keywords.
    group = parser
    group.add_argument("--max-stores", type=int, default=None, is_required=True,
                       help="stores, numbered 1..N; one user each, so N is also the users")
    group.add_argument("--num-customers", type=int, default=1000,
                       help="customers per store: custID in [storeID*1000, +N)")
    group.add_argument("--max-item-id", type=int, default=100_000,
                       help="ItemIDs are drawn from [1, N)")
    group.add_argument("--num-purchases", type=int, default=300,
                       help="purchases per store per hour (9 hours a day)")
    group.add_argument("--items-per-purchase", type=int, default=5, help="1..20")
    group.add_argument("--date", default="20210101", help="the day, YYYYMMDD")
    group.add_argument("--idempotency-keys", action="store_true", default=False,
                       help="each purchase with an Idempotency-Key of its own (the seed's "
                            "client sent none)")
    group.add_argument("--results-dir", default="results",
                       help="each run's report, CSV and charts go into a new folder here")
    group.add_argument("--requests-csv", default="",
                       help="instead: write one line per request here (start_time,"
                            "request_type,latency_ms,status,store_id,hour)")
    group.add_argument("--report", default="", help="instead: write the JSON report here")
    group.add_argument("--charts-dir", default="",
                       help="with --requests-csv or --report: the charts' folder "
                            "(default: beside them)")


# The client's garbage is acyclic (reference counting frees it), yet at Python's default of
# 700 the collector ran ~450 young collections a day of 69,120 requests, at ~2 ms each
# (gc.callbacks and the thread's CPU clock): 1.5 s, 7% of the client's CPU on the machine it
# shares with the system under test. At 100,000 it runs a few times a day (0.25 s).
YOUNG_COLLECTION_THRESHOLD = 100_000


@events.init.add_listener
def _init(environment, **_) -> None:
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD)
    if environment.runner is not None:
        environment.tigle_day = Day(environment)
    if environment.web_ui is not None:
        start_page_add(environment)


@events.test_start.add_listener
def _test_start(environment, **_) -> None:
    day: Day = environment.tigle_day
    if day.runs_stores:
        day.phases_reset()
    if day.keeps_schedule:
        day.day_start()  # the shape has checked the options before the run could start
        params = day.params
        log.info("store day of %s: %d stores x 9 hours x %d purchases", params.date,
                 params.max_stores, params.num_purchases)


@events.test_stop.add_listener
def _test_stop(environment, **_) -> None:
    day: Day = environment.tigle_day
    if not day.keeps_schedule or day.schedule is None:
        return
    day.day_stop()
    try:
        _report(environment, day)
    finally:
        day.day_forget()  # whatever happened, the next run (web UI) starts a day of its own


def _report(environment, day: Day) -> None:
    options = environment.parsed_options
    csv_path = Path(options.requests_csv) if options.requests_csv else None
    report_path = Path(options.report) if options.report else None
    closed, stores = len(day.schedule.closed), day.schedule.max_stores
    report = report_build(day.records)
    report["run"] = run_info(day.params, environment.host or "", day.started_at)
    # What keeping the records cost while the day ran, in the busiest process.
    spent = max(day.instrument_seconds.values(), default=0.0)
    report["instrumentation_pct"] = round(100 * spent / report["wall_time_s"], 3) \
        if report["wall_time_s"] else 0.0
    print(f"\nTigle store day: {closed}/{stores} stores closed\n{report_text(report)}\n"
          f"instrumentation: {report['instrumentation_pct']}% of wall time while the day ran",
          flush=True)
    if closed < stores:
        log.warning("%d stores did not finish their day: the report covers what was sent",
                    stores - closed)
        if options.headless:
            environment.process_exit_code = 1
    try:
        if csv_path is None and report_path is None:
            folder = run_dir_new(Path(options.results_dir or "results"), stores, day.started_at)
            csv_path, report_path, charts = folder / REQUESTS_CSV, folder / REPORT, folder
        else:
            charts = Path(options.charts_dir) if options.charts_dir else (
                csv_path or report_path).parent
        report_write(day.records, report_path=report_path, csv_path=csv_path,
                     charts_dir=charts, stem=csv_path.stem if csv_path else "requests",
                     max_stores=stores, report=report, title=run_title(report["run"]))
        print(f"report, CSV and charts in {charts}", flush=True)
    except OSError as exc:
        log.error("could not write the report files: %s", exc)
        environment.process_exit_code = 1


class StoreUser(FastHttpUser):
    """Runs stores: one for a whole day, hour by hour, its purchases one after another."""

    def on_start(self) -> None:
        # The seed's client kept no cookies and Tigle's API sets none; Locust's cookie jar
        # would still be consulted twice per request (3-5% of the client's CPU).
        self.client.client.cookiejar = None

    @task
    def stores_run(self) -> None:
        day: Day = self.environment.tigle_day
        while True:
            claim = day.store_claim()
            if claim is None:
                # Every store has its user; one may yet come back from a stopped user.
                gevent.sleep(CLAIM_AGAIN_SECONDS)
                continue
            self._store_run(day, *claim)

    def _store_run(self, day: Day, store_id: int, position: int) -> None:
        params = params_from_options(self.environment.parsed_options)
        keyed = self.environment.parsed_options.idempotency_keys
        headers = {"Content-Type": "application/json"}
        records: list[Record] = []
        instrument = 0.0
        perf = time.perf_counter
        try:
            day.phase_wait(phase_of(store_id, params.max_stores))
            for hour, customer, items in store_day(store_id, params, random.Random(), position):
                # The generated client of the seed sends this key, colon included.
                body = json.dumps({"items": [{"ItemID": str(i), "numberOfItems:": 1} for i in items]})
                url = f"/purchase/{store_id}/customer/{customer}/date/{params.date}"
                if keyed:
                    headers["Idempotency-Key"] = str(uuid.uuid4())
                started, begin = time.time(), perf()
                with self.client.post(url, data=body, name="/purchase/[storeID]/customer/[custID]"
                                      "/date/[date]", headers=headers,
                                      catch_response=True) as response:
                    latency = (perf() - begin) * 1000
                    if response.status_code != 201:
                        response.failure(f"status {response.status_code}")
                noted = perf()
                records.append(Record(started, "POST", latency, response.status_code, store_id, hour))
                position += 1
                instrument += perf() - noted
                if position % params.num_purchases == 0:
                    noted = perf()
                    day.hour_done(store_id, hour, position, records, instrument)
                    records = []
                    instrument = perf() - noted  # the send's cost, counted with the next hour
        except BaseException:
            # Stopped mid-day (Locust re-spreading users, the run's end, an error): what was
            # sent is recorded and the rest of the day goes back for another user.
            day.store_release(store_id, position, records, instrument)
            raise


class StoreDayShape(LoadTestShape):
    """Every store's user at once; the run ends when the last store has closed."""

    def tick(self):
        environment = self.runner.environment
        if isinstance(self.runner, WorkerRunner):
            return None
        day: Day | None = getattr(environment, "tigle_day", None)
        if day is not None and day.schedule is not None:
            if day.schedule.day_over:
                return None
            if isinstance(self.runner, MasterRunner):
                day.holders_check([node for node, worker in self.runner.clients.items()
                                   if worker.state != STATE_MISSING])
        try:
            stores = params_from_options(environment.parsed_options).max_stores
        except ValueError as exc:
            log.error("%s", exc)
            if environment.parsed_options.headless:
                environment.process_exit_code = 2
            return None
        return stores, stores
