"""make soak's Locust users: purchases from every store at a steady total rate.

Each user sends at most rate / users purchases a second (Locust's constant_throughput), so
the whole client holds --soak-rate as long as answers come faster than that. FastHttpUser,
because the client shares the machine's cores with the stack it loads. On quitting it
writes how many purchases got 201 to --soak-report, for the loss count.
"""
from __future__ import annotations

import json
import random

from locust import FastHttpUser, constant_throughput, events, task

from loadtest.stores import DayParams, purchase_draw

STORES = 256
PARAMS = DayParams(max_stores=STORES)


@events.init_command_line_parser.add_listener
def _options(parser) -> None:
    parser.add_argument("--soak-rate", type=float, default=100.0,
                        help="purchases per second, all users together")
    parser.add_argument("--soak-report", default="", help="JSON written when the run ends")


class SteadyStore(FastHttpUser):
    def wait_time(self) -> float:
        options = self.environment.parsed_options
        per_user = options.soak_rate / max(1, options.num_users or 1)
        return constant_throughput(per_user)(self)

    def on_start(self) -> None:
        self.rng = random.Random()

    @task
    def purchase(self) -> None:
        store = self.rng.randrange(1, STORES + 1)
        customer, items = purchase_draw(store, PARAMS, self.rng)
        body = {"items": [{"ItemID": str(item), "numberOfItems": 1} for item in items]}
        self.client.post(f"/purchase/{store}/customer/{customer}/date/{PARAMS.date}",
                         data=json.dumps(body), headers={"Content-Type": "application/json"},
                         name="POST /purchase")


@events.quitting.add_listener
def _report(environment, **_) -> None:
    path = environment.parsed_options.soak_report
    if path:
        total = environment.stats.total
        with open(path, "w") as out:
            json.dump({"successful": total.num_requests - total.num_failures,
                       "failed": total.num_failures}, out)
