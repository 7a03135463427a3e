"""The figures of one bench run: the drain after the last request, what was lost or
counted twice, and the object results/bench.json holds for it."""
from __future__ import annotations

import time
from dataclasses import dataclass

from loadtest.bench_probes import purchases_counted, purchases_written


def losses(accepted: int, *counts: int | None) -> tuple[int, int]:
    """(lost, duplicated): accepted purchases missing from, or counted twice in, any count."""
    known = [n for n in counts if n is not None]
    if not known:
        return 0, 0
    return max(0, accepted - min(known)), max(0, max(known) - accepted)


@dataclass(frozen=True)
class Drained:
    written: int | None  # rows in the database (None: the mode writes none)
    counted: int | None  # purchases analytics counted (None: no analytics)
    caught_up: dict[str, float]  # component -> seconds after the last request
    seconds: float


def drain_wait(accepted: int, ended: float, *, database: bool, analytics: str | None,
               preloaded: int, limit: float = 300) -> Drained:
    """Wait until the database and analytics hold every accepted purchase (or the limit)."""
    written = counted = None
    caught_up: dict[str, float] = {}
    while time.monotonic() < ended + limit:
        written = purchases_written() if database else None
        counted = purchases_counted(analytics) - preloaded if analytics else None
        for component, n in (("database", written), ("analytics", counted)):
            if n is not None and n >= accepted:
                caught_up.setdefault(component, round(time.monotonic() - ended, 2))
        if all(n is None or n >= accepted for n in (written, counted)):
            break
        time.sleep(0.1)
    return Drained(written, counted, caught_up, time.monotonic() - ended)


def result_of(mode: str, stores: int, per_hour: int, report: dict, drained: Drained,
              cpu: dict[str, float], calibration: float,
              waited: dict[str, float] | None = None) -> dict:
    """One mode's figures, in results/bench.json's keys. waited: seconds each component
    waited for a core (loadtest/cpu.py)."""
    accepted = report["successful"]
    done = drained.written is not None or drained.counted is not None
    seconds = report["wall_time_s"] + (drained.seconds if done else 0.0)
    lost, duplicates = losses(accepted, drained.written, drained.counted)
    return {
        "mode": mode, "stores": stores, "accepted_rps": round(accepted / report["wall_time_s"], 1),
        "end_to_end_rps": round(accepted / seconds, 1) if done else None,
        "mean_ms": report["mean_ms"], "median_ms": report["median_ms"], "p99_ms": report["p99_ms"],
        "max_ms": report["max_ms"], "drain_s": round(drained.seconds, 2) if done else None,
        "lost": lost, "duplicates": duplicates,
        "successful": accepted, "failed": report["failed"], "per_hour": per_hour,
        "written": drained.written, "counted": drained.counted, "caught_up_s": drained.caught_up,
        "calibration_s": calibration,
        **({"warmup_s": report["warmup_s"]} if "warmup_s" in report else {}),
        "cpu_ms_per_purchase": _per_purchase(cpu, accepted),
        "core_wait_ms_per_purchase": _per_purchase(waited or {}, accepted),
    }


def _per_purchase(seconds: dict[str, float], purchases: int) -> dict[str, float]:
    return {component: round(1000 * spent / max(purchases, 1), 3)
            for component, spent in seconds.items()}


def depth_summary(samples: list[dict]) -> dict:
    return {"interval_s": 0.5, "samples": samples,
            "max_db_ready": max((s["db_ready"] for s in samples), default=0),
            "max_analytics_backlog": max((s["analytics_backlog"] for s in samples), default=0)}
