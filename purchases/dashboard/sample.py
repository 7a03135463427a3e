"""One dashboard sample: every part's totals and health, read side by side under one deadline.

Totals, not rates: the browser keeps the previous sample and divides, because consecutive
polls may be answered by different web processes that share no memory.
"""
from __future__ import annotations

import time
from functools import partial

from django.conf import settings

from purchases.broker.publishing import broker_check
from purchases.events import DB_QUEUE
from purchases.dashboard.accepted import accepted_total
from purchases.dashboard.deadline import Outcome, reads_run
from purchases.dashboard.sources import (
    analytics_lag,
    analytics_read,
    broker_is_amqp,
    purchases_written,
    queues_read,
    top_items_read,
    top_stores_read,
)
from purchases.health import reads_health_report

# Under a second: with a part that hangs, the page still updates at least once a second.
DEADLINE_SECONDS = 0.8
METRICS_OFF = "PROMETHEUS_MULTIPROC_DIR is not set"


def _web_read() -> str | None:
    """Why this process cannot take purchases, as /healthz decides it; None when it can."""
    if settings.TIGLE_WRITE_MODE == "sync":
        return None  # the database part says whether sync-mode writes can go in
    return broker_check()


def _part(status: str, detail: str = "") -> dict:
    return {"status": status, "detail": detail}


def _timed(outcome: Outcome, what: str) -> dict:
    if not outcome.ok:
        return _part("down", outcome.error)
    return _part("ok", f"{what} in {outcome.seconds * 1000:.0f} ms")


def _health(out: dict[str, Outcome]) -> dict:
    sync = settings.TIGLE_WRITE_MODE == "sync"
    web = out["web"]
    if web.ok and web.value is not None:
        web = Outcome(error=web.value)
    parts = {
        "web": _part("ok", f"{settings.TIGLE_WRITE_MODE} mode, takes purchases") if web.ok
        else _part("down", web.error),
        "database": _timed(out["written"], "answered"),
        "broker": _timed(out["queues"], "answered"),
    }
    consumers = out["queues"].value["consumers"] if out["queues"].ok else None
    if not out["queues"].ok:
        parts["worker"] = _part("unknown", "the broker is not answering")
    elif consumers is None:
        parts["worker"] = _part("unknown", "the embedded broker does not count consumers")
    elif consumers:
        parts["worker"] = _part("ok", f"{consumers} consuming {DB_QUEUE}")
    else:
        parts["worker"] = _part("unused" if sync else "down", f"nothing consumes {DB_QUEUE}")
    parked = out["queues"].value.get("parked") if out["queues"].ok else None
    if parked:
        # The messages no worker could write wait for a person (docs/operations.md).
        worker = parts["worker"]
        parts["worker"] = _part("down" if worker["status"] == "down" else "attention",
                                f"{parked:,} parked: manage.py parked; {worker['detail']}")
    parts["analytics"] = _analytics_health(out["replicas"], out["analytics"])
    return parts


def _analytics_health(replicas: Outcome, stats: Outcome) -> dict:
    if not replicas.ok:
        return _part("down", replicas.error)
    states = replicas.value[1]["analytics"]["replicas"]
    serving = sum(state == "SERVING" for state in states.values())
    detail = ", ".join(f"{address} {state}" for address, state in states.items())
    if not serving:
        return _part("down", detail)
    if not stats.ok:
        return _part("down", stats.error)
    return _part("ok", f"{serving} of {len(states)} serving" if len(states) > 1 else detail)


def _why(reason: str, error: str | None) -> dict:
    return {"reason": reason, "detail": error or reason}


def _missing(out: dict[str, Outcome], lag: int | None) -> dict:
    """Why each number the page shows is missing, for those that are: a short reason for
    the tile and the whole error for its tooltip."""
    missing = {}
    accepted = out["accepted"]
    if accepted.value is None:
        missing["accepted"] = _why("metrics are unreadable", accepted.error) if accepted.error \
            else _why("metrics are off on this host", METRICS_OFF)
    if not out["written"].ok:
        missing["written"] = _why("the database is not answering", out["written"].error)
    elif out["written"].value is None:
        missing["written"] = _why("no purchase written yet", "the purchase table is empty")
    if not out["analytics"].ok:
        missing["counted"] = _why("analytics is not answering", out["analytics"].error)
    if not out["queues"].ok:
        missing["backlog"] = _why("the broker is not answering", out["queues"].error)
    if lag is None:
        missing["lag"] = _lag_missing(out)
    return missing


def _lag_missing(out: dict[str, Outcome]) -> dict:
    if not broker_is_amqp():  # the lag is the analytics queue's length there
        return (_why("the broker is not answering", out["queues"].error) if not out["queues"].ok
                else _why("not known yet", "analytics has not declared its queue"))
    if not out["analytics"].ok:
        return _why("analytics is not answering", out["lag"].error)
    return _why("the broker is not answering", out["lag"].error)


def _ranking(outcome: Outcome | None, chosen: int | None) -> dict:
    if outcome is None:
        return {"id": chosen, "rows": [], "error": None}
    return {"id": chosen, "rows": outcome.value if outcome.ok else [], "error": outcome.error}


def dashboard_sample(*, store_id: int | None, item_id: int | None) -> dict:
    reads = {
        "accepted": accepted_total,
        "written": purchases_written,
        "queues": queues_read,
        "analytics": analytics_read,
        "replicas": reads_health_report,
        "web": _web_read,
    }
    if broker_is_amqp():
        reads["lag"] = analytics_lag
    # Keyed by the id too: a call for the store chosen before must not answer for this one.
    if store_id is not None:
        reads[f"store {store_id}"] = partial(top_items_read, store_id)
    if item_id is not None:
        reads[f"item {item_id}"] = partial(top_stores_read, item_id)
    now = time.time()
    out = reads_run(reads, DEADLINE_SECONDS, native={"written"})
    queues = out["queues"].value if out["queues"].ok else {}
    analytics = out["analytics"].value if out["analytics"].ok else {}
    lag = out["lag"].value if broker_is_amqp() else queues.get("analytics_backlog")
    return {
        "time": now,
        "mode": settings.TIGLE_WRITE_MODE,
        "accepted": out["accepted"].value,
        "written": out["written"].value,
        "counted": analytics.get("counted"),
        "backlog": queues.get("backlog"),
        "lag": lag,
        "missing": _missing(out, lag),
        "health": _health(out),
        "store": _ranking(out.get(f"store {store_id}"), store_id),
        "item": _ranking(out.get(f"item {item_id}"), item_id),
    }
