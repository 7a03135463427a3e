"""The day's coordination inside Locust: store claims, phase gates and the records, carried
by Locust's messages between workers and the master (or straight through in one process).

The master (or the only process) keeps the Schedule and every record; a worker asks it for a
store, waits for its store's phase to open, and sends each finished hour with its records.
"""
from __future__ import annotations

import logging
import time
import uuid

import gevent
from gevent.event import AsyncResult, Event
from locust.env import Environment
from locust.runners import LocalRunner, MasterRunner, WorkerRunner

from loadtest.report import Record
from loadtest.stores import PHASES, DayParams, Schedule, phase_of

log = logging.getLogger(__name__)
PROGRESS_SECONDS = 2


def _whole(value) -> int | None:
    # The web UI hands its form fields over as strings.
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def params_from_options(options) -> DayParams:
    """The day's parameters from Locust's options; ValueError naming every bad one."""
    values = {name: _whole(getattr(options, name)) for name in (
        "max_stores", "num_customers", "max_item_id", "num_purchases", "items_per_purchase")}
    checks = {"max_stores": 1, "num_customers": 1, "max_item_id": 2, "num_purchases": 1,
              "items_per_purchase": 1}
    problems = [f"--{name.replace('_', '-')}" for name, low in checks.items()
                if values[name] is None or values[name] < low]
    if values["items_per_purchase"] is not None and values["items_per_purchase"] > 20:
        problems.append("--items-per-purchase")
    date = str(options.date)
    if len(date) != 8 or not date.isdigit():
        problems.append("--date")
    if problems:
        raise ValueError(f"bad value for {', '.join(problems)}")
    return DayParams(date=date, **values)


class Day:
    """One per Locust process; what it does depends on the runner it serves."""

    def __init__(self, environment: Environment) -> None:
        self.environment = environment
        runner = environment.runner
        self.keeps_schedule = isinstance(runner, (MasterRunner, LocalRunner))
        self.runs_stores = isinstance(runner, (WorkerRunner, LocalRunner))
        self.schedule: Schedule | None = None
        self.records: list[Record] = []
        self.started_at = 0.0
        # Seconds spent keeping records, per process: the instrumentation's cost.
        self.instrument_seconds: dict[str, float] = {}
        self._phases = {phase: Event() for phase in PHASES}
        self._claims: dict[str, AsyncResult] = {}
        self._progress: gevent.Greenlet | None = None
        if self.keeps_schedule:
            runner.register_message("tigle_claim", self._on_claim)
            runner.register_message("tigle_hour", self._on_hour)
            runner.register_message("tigle_release", self._on_release)
        if self.runs_stores:
            runner.register_message("tigle_store", self._on_store)
            runner.register_message("tigle_phase", self._on_phase)

    @property
    def params(self) -> DayParams:
        return params_from_options(self.environment.parsed_options)

    # --- the master's side --------------------------------------------------------------

    def day_start(self) -> None:
        self.schedule = Schedule(self.params.max_stores)
        self.records = []
        self.instrument_seconds = {}
        self.started_at = time.time()
        self.schedule.start(self.started_at)
        if self.environment.parsed_options.headless:
            self._progress = gevent.spawn(self._progress_loop)

    def day_stop(self) -> None:
        if self._progress is not None:
            self._progress.kill(block=False)
            self._progress = None

    def day_forget(self) -> None:
        """After the report: the next run (from the web UI) starts a day of its own."""
        self.schedule = None
        self.records = []

    def _on_claim(self, environment: Environment, msg) -> None:
        claim = self.schedule.claim(msg.node_id) if self.schedule else None
        store, position = claim if claim else (None, 0)
        if claim and position:
            log.info("store %d resumes after %d purchases", store, position)
        self.environment.runner.send_message(
            "tigle_store", {"token": msg.data["token"], "store": store, "position": position,
                            "open": list(self.schedule.open_phases) if self.schedule else []},
            client_id=msg.node_id)

    def _records_add(self, node: str, data: dict) -> None:
        self.records.extend(Record(*fields) for fields in data["records"])
        self.instrument_seconds[node] = self.instrument_seconds.get(node, 0.0) + data["instrument_s"]

    def _on_hour(self, environment: Environment, msg) -> None:
        self._records_add(msg.node_id, msg.data)
        if self.schedule is None:
            return
        data = msg.data
        opened = self.schedule.hour_done(data["store"], data["hour"], data["position"], time.time())
        if opened:
            log.info("store %d finished hour %d: %s open", data["store"], data["hour"],
                     " and ".join(opened))
            self.environment.runner.send_message("tigle_phase", {"open": opened})

    def _on_release(self, environment: Environment, msg) -> None:
        self._records_add(msg.node_id, msg.data)
        if self.schedule is not None and not self.schedule.day_over:
            self.schedule.store_release(msg.data["store"], msg.data["position"])

    def holders_check(self, alive: list[str]) -> None:
        """Give back the stores of workers that are gone (killed, or lost to the network)."""
        if self.schedule is not None:
            for store in self.schedule.holders_lost(alive):
                log.warning("store %d: its worker is gone; it resumes at purchase %d", store,
                            self.schedule.progress.get(store, 0))

    def _progress_loop(self) -> None:
        previous, previous_at, failed = 0, time.time(), 0
        while True:
            gevent.sleep(PROGRESS_SECONDS)
            sent, now = len(self.records), time.time()
            # Only what came in since the last line: rescanning a day's records every 2 s
            # grew with the day (1% of the client's CPU at 256 stores).
            failed += sum(1 for r in self.records[previous:sent] if r.status != 201)
            schedule = self.schedule
            running = sum(1 for store in range(1, schedule.next_store)
                          if phase_of(store, schedule.max_stores) in schedule.open_phases
                          and store not in schedule.closed)
            log.info("stores open %d/%d (%s), closed %d; purchases sent %d (failed %d); %.0f/s",
                     running, schedule.max_stores,
                     ", ".join(schedule.open_phases), len(schedule.closed), sent, failed,
                     (sent - previous) / (now - previous_at))
            previous, previous_at = sent, now

    # --- a store's side -----------------------------------------------------------------

    def store_claim(self) -> tuple[int, int] | None:
        """(store, purchases it already made) for the calling user; None when none is free."""
        token = uuid.uuid4().hex
        self._claims[token] = reply = AsyncResult()
        try:
            self.environment.runner.send_message("tigle_claim", {"token": token})
            return reply.get()
        finally:
            self._claims.pop(token, None)

    def _on_store(self, environment: Environment, msg) -> None:
        self._open(msg.data["open"])
        claim = self._claims.get(msg.data["token"])
        store = msg.data["store"]
        if claim is not None:
            claim.set(None if store is None else (store, msg.data["position"]))
        elif store is not None:  # the user that asked is gone: the store goes straight back
            self.store_release(store, msg.data["position"], [], 0.0)

    def _on_phase(self, environment: Environment, msg) -> None:
        self._open(msg.data["open"])

    def _open(self, phases: list[str]) -> None:
        for phase in phases:
            self._phases[phase].set()

    def phase_wait(self, phase: str) -> None:
        self._phases[phase].wait()

    def phases_reset(self) -> None:
        for event in self._phases.values():
            event.clear()

    def hour_done(self, store: int, hour: int, position: int, records: list[Record],
                  instrument_s: float) -> None:
        self.environment.runner.send_message("tigle_hour", {
            "store": store, "hour": hour, "position": position,
            "records": [list(r) for r in records], "instrument_s": instrument_s,
        })

    def store_release(self, store: int, position: int, records: list[Record],
                      instrument_s: float) -> None:
        self.environment.runner.send_message("tigle_release", {
            "store": store, "position": position, "records": [list(r) for r in records],
            "instrument_s": instrument_s,
        })
