"""Tigle's load client: one Locust user per store, replaying the seed's day of purchases.

    locust -f loadtest/locustfile.py --headless --host http://127.0.0.1:8000 --max-stores 32

Runs alone, with --processes N, or as master + workers; the run ends by itself when the
last store closes and prints the seed's report (loadtest/report.py).
"""
from __future__ import annotations

import json
import logging
import random
import time
from pathlib import Path

from gevent.event import Event
from locust import FastHttpUser, LoadTestShape, events, task
from locust.runners import WorkerRunner

from loadtest.day import Day, params_from_options
from loadtest.report import Record, report_text, report_write
from loadtest.stores import phase_of, store_day

log = logging.getLogger("loadtest")


@events.init_command_line_parser.add_listener
def _options(parser) -> None:
    # On the parser itself: only its add_argument knows Locust's web UI keywords.
    group = parser
    group.add_argument("--max-stores", type=int, default=None, is_required=True,
                       help="stores, numbered 1..N; one user each (required)")
    group.add_argument("--num-customers", type=int, default=1000,
                       help="customers per store: custID in [storeID*1000, +N)")
    group.add_argument("--max-item-id", type=int, default=100_000,
                       help="ItemIDs are drawn from [1, N)")
    group.add_argument("--num-purchases", type=int, default=300,
                       help="purchases per store per hour (9 hours a day)")
    group.add_argument("--items-per-purchase", type=int, default=5, help="1..20")
    group.add_argument("--date", default="20210101", help="the day, YYYYMMDD")
    group.add_argument("--requests-csv", default="",
                       help="write one line per request here (start_time,request_type,"
                            "latency_ms,status,store_id,hour)")
    group.add_argument("--report", default="", help="write the JSON report here")
    group.add_argument("--charts-dir", default="",
                       help="write the PNG charts here (default: beside the CSV or report)")


@events.init.add_listener
def _init(environment, **_) -> None:
    if environment.runner is not None:
        environment.tigle_day = Day(environment)


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
    options = environment.parsed_options
    csv_path = Path(options.requests_csv) if options.requests_csv else None
    report_path = Path(options.report) if options.report else None
    charts = options.charts_dir or next(
        (str(p.parent) for p in (csv_path, report_path) if p is not None), "")
    started = time.perf_counter()
    report = report_write(day.records, report_path=None, csv_path=csv_path,
                          charts_dir=Path(charts) if charts else None,
                          stem=csv_path.stem if csv_path else "requests")
    report["output_s"] = round(time.perf_counter() - started, 3)
    # What keeping the records cost while the day ran, in the busiest process.
    spent = max(day.instrument_seconds.values(), default=0.0)
    report["instrumentation_pct"] = round(100 * spent / report["wall_time_s"], 3) \
        if report["wall_time_s"] else 0.0
    if report_path is not None:
        report_path.parent.mkdir(parents=True, exist_ok=True)
        report_path.write_text(json.dumps(report, indent=2) + "\n")
    closed, stores = len(day.schedule.closed), day.schedule.max_stores
    day.day_forget()
    print(f"\nTigle store day: {closed}/{stores} stores closed\n"
          f"{report_text(report)}\ninstrumentation: {report['instrumentation_pct']}% of wall time "
          f"while the day ran; writing the report and charts took {report['output_s']} s",
          flush=True)


class StoreUser(FastHttpUser):
    """One store for a whole day: its purchases, one after another, hour by hour."""

    def on_start(self) -> None:
        self.day: Day = self.environment.tigle_day
        self.store_id = self.day.store_claim()

    @task
    def store_open(self) -> None:
        if self.store_id is not None:
            self._day_run(self.store_id)
        Event().wait()  # closed (or no store left): idle until the run ends

    def _day_run(self, store_id: int) -> None:
        params = params_from_options(self.environment.parsed_options)
        self.day.phase_wait(phase_of(store_id, params.max_stores))
        rng = random.Random()
        records: list[Record] = []
        instrument = 0.0
        perf = time.perf_counter
        for number, (hour, customer, items) in enumerate(store_day(store_id, params, rng), 1):
            # The generated client of the seed sends this key, colon included.
            body = json.dumps({"items": [{"ItemID": str(i), "numberOfItems:": 1} for i in items]})
            url = f"/purchase/{store_id}/customer/{customer}/date/{params.date}"
            started, begin = time.time(), perf()
            with self.client.post(url, data=body, name="/purchase/[storeID]/customer/[custID]"
                                  "/date/[date]", headers={"Content-Type": "application/json"},
                                  catch_response=True) as response:
                latency = (perf() - begin) * 1000
                if response.status_code != 201:
                    response.failure(f"status {response.status_code}")
            noted = perf()
            records.append(Record(started, "POST", latency, response.status_code, store_id, hour))
            instrument += perf() - noted
            if number % params.num_purchases == 0:
                noted = perf()
                self.day.hour_done(store_id, hour, records, instrument)
                records = []
                instrument = perf() - noted  # the send's cost, counted with the next hour


class StoreDayShape(LoadTestShape):
    """Every store's user at once; the run ends when the last store has closed."""

    def tick(self):
        environment = self.runner.environment
        if isinstance(self.runner, WorkerRunner):
            return None
        day: Day | None = getattr(environment, "tigle_day", None)
        if day is not None and day.schedule is not None and day.schedule.day_over:
            return None
        try:
            stores = params_from_options(environment.parsed_options).max_stores
        except ValueError as exc:
            log.error("%s", exc)
            environment.process_exit_code = 2
            return None
        return stores, stores
