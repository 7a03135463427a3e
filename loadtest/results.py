"""Where a run of the load client leaves its report, CSV and charts, and how they are titled.

Each run gets a folder of its own, `results/2026-12-07T0312-256stores/`, so that no run
overwrites another's files and a folder says at a glance which day it holds.
"""
from __future__ import annotations

import dataclasses
import datetime
import json
from pathlib import Path

from loadtest.stores import HOURS, DayParams

REPORT, REQUESTS_CSV = "report.json", "requests.csv"


def run_dir_new(parent: Path, max_stores: int, started: float, label: str = "") -> Path:
    """A new, empty folder under parent named after the run's start and its stores."""
    stamp = datetime.datetime.fromtimestamp(started).strftime("%Y-%m-%dT%H%M")
    name = f"{stamp}-{max_stores}stores" + (f"-{label}" if label else "")
    parent.mkdir(parents=True, exist_ok=True)
    for n in range(1, 1000):
        path = parent / (name if n == 1 else f"{name}-{n}")
        try:
            # mkdir without exist_ok claims the name even when two runs start in one minute.
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise FileExistsError(f"{parent / name}: too many runs in one minute")


def run_info(params: DayParams, host: str, started: float) -> dict:
    """What the report keeps about the run itself, and what the charts' title says."""
    return {"params": dataclasses.asdict(params), "host": host,
            "started": datetime.datetime.fromtimestamp(started).isoformat(timespec="seconds")}


def run_title(info: dict) -> str:
    """Two lines naming the day and where it ran, for the top of each chart."""
    p = info["params"]
    date = p["date"]
    day = f"{date[:4]}-{date[4:6]}-{date[6:]}" if len(date) == 8 else date
    return (f"Store day {day}: {p['max_stores']} stores x {HOURS} h x {p['num_purchases']} "
            f"purchases/h, {p['items_per_purchase']} items each (IDs < {p['max_item_id']}), "
            f"{p['num_customers']} customers/store\n"
            f"against {info['host'] or '(no host)'}, started {info['started'].replace('T', ' ')}")


def run_beside(csv_path: Path) -> dict | None:
    """The run's own description, from the report that lies beside its CSV, if any."""
    try:
        info = json.loads((csv_path.parent / REPORT).read_text())["run"]
        run_title(info)  # a report of another shape is no description
        return info
    except (OSError, ValueError, KeyError, TypeError):
        return None
