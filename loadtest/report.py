"""The load client's report in the seed's terms, from raw per-request records: statistics,
the requests CSV, and PNG charts. `python -m loadtest.report CSV` rebuilds them from a CSV."""
from __future__ import annotations

import argparse
import csv
import json
import math
import statistics
import sys
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

from loadtest.results import run_beside, run_title
from loadtest.stores import PHASES, phase_of

CSV_COLUMNS = ["start_time", "request_type", "latency_ms", "status", "store_id", "hour"]
SUCCESS = 201


class Record(NamedTuple):
    start_time: float  # seconds since the epoch
    request_type: str
    latency_ms: float
    status: int  # 0 when no response came (connection error)
    store_id: int
    hour: int


def percentile(ordered: list[float], p: float) -> float:
    """Nearest rank: the smallest value with at least p% of the values at or below it."""
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def report_build(records: list[Record]) -> dict:
    """successful, failed, wall_time_s, throughput_rps, mean_ms, median_ms, p99_ms, max_ms."""
    if not records:
        return {"successful": 0, "failed": 0, "wall_time_s": 0.0, "throughput_rps": 0.0,
                "mean_ms": 0.0, "median_ms": 0.0, "p99_ms": 0.0, "max_ms": 0.0}
    latencies = sorted(r.latency_ms for r in records)
    successful = sum(1 for r in records if r.status == SUCCESS)
    first = min(r.start_time for r in records)
    last = max(r.start_time + r.latency_ms / 1000 for r in records)
    wall = last - first
    return {
        "successful": successful,
        "failed": len(records) - successful,
        "wall_time_s": round(wall, 3),
        "throughput_rps": round(len(records) / wall, 1) if wall > 0 else 0.0,
        "mean_ms": round(statistics.fmean(latencies), 3),
        "median_ms": round(statistics.median(latencies), 3),
        "p99_ms": round(percentile(latencies, 99), 3),
        "max_ms": round(latencies[-1], 3),
    }


def report_text(report: dict) -> str:
    return "\n".join([
        f"successful requests: {report['successful']}",
        f"failed requests:     {report['failed']}",
        f"wall time:           {report['wall_time_s']:.2f} s",
        f"throughput:          {report['throughput_rps']:.1f} requests/s",
        f"response time (ms):  mean {report['mean_ms']:.1f}, median {report['median_ms']:.1f}, "
        f"p99 {report['p99_ms']:.1f}, max {report['max_ms']:.1f}",
    ])


def csv_write(records: Iterable[Record], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        for r in sorted(records, key=lambda r: r.start_time):
            writer.writerow([f"{r.start_time:.6f}", r.request_type, f"{r.latency_ms:.3f}",
                             r.status, r.store_id, r.hour])


def csv_read(path: Path) -> list[Record]:
    with path.open(newline="") as source:
        reader = csv.DictReader(source)
        if reader.fieldnames != CSV_COLUMNS:
            raise ValueError(f"{path}: columns {reader.fieldnames}, expected {CSV_COLUMNS}")
        return [Record(float(row["start_time"]), row["request_type"], float(row["latency_ms"]),
                       int(row["status"]), int(row["store_id"]), int(row["hour"]))
                for row in reader]


def phase_starts(records: list[Record], max_stores: int | None = None) -> dict[str, float]:
    """When each phase's first request went out; maxStores defaults to the highest store."""
    max_stores = max_stores or max((r.store_id for r in records), default=0)
    starts: dict[str, float] = {}
    for r in records:
        phase = phase_of(r.store_id, max_stores)
        starts[phase] = min(starts.get(phase, r.start_time), r.start_time)
    return {phase: starts[phase] for phase in PHASES if phase in starts}


def charts_write(records: list[Record], directory: Path, stem: str = "requests",
                 max_stores: int | None = None, title: str = "") -> list[Path]:
    """Requests per second, and latency percentiles per second, the phase starts marked.

    title: the run's parameters, drawn above each chart and kept in the PNG's Title field."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not records:
        return []
    first = min(r.start_time for r in records)
    span = max(r.start_time for r in records) - first
    # One-second bins for a long run; finer ones for a short one, so it still has a shape.
    width = 1.0 if span >= 60 else max(0.1, round(span / 60, 2))
    bins: dict[int, list[Record]] = defaultdict(list)
    for r in records:
        bins[int((r.start_time - first) / width)].append(r)
    indexes = list(range(max(bins) + 1))
    seconds = [i * width for i in indexes]
    ok = [sum(1 for r in bins[i] if r.status == SUCCESS) / width for i in indexes]
    failed = [len(bins[i]) / width - ok[n] for n, i in enumerate(indexes)]
    busy = [i for i in indexes if bins[i]]
    lat = {p: [percentile(sorted(r.latency_ms for r in bins[i]), p) for i in busy]
           for p in (50, 90, 99)}
    busy = [i * width for i in busy]
    starts = {phase: at - first for phase, at in phase_starts(records, max_stores).items()}
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for path, draw, ylabel in zip(chart_paths(directory, stem), (
        lambda ax: (ax.plot(seconds, ok, label="201"), ax.plot(seconds, failed, label="failed")),
        lambda ax: [ax.plot(busy, lat[p], label=f"p{p}") for p in lat],
    ), ("requests per second", "latency (ms)")):
        figure, ax = plt.subplots(figsize=(11, 5))
        draw(ax)
        _phases_mark(ax, starts)
        ax.set_xlabel("seconds since the first request")
        ax.set_ylabel(ylabel)
        # Beside the plot, not on it: a legend inside covers the curves at some point.
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        ax.grid(alpha=0.3)
        if title:
            figure.suptitle(title, fontsize=10)
        figure.tight_layout()
        figure.savefig(path, dpi=100, metadata={"Title": title or stem})
        plt.close(figure)
        paths.append(path)
    return paths


def _phases_mark(ax, starts: dict[str, float]) -> None:
    """A faint line behind the curves where each phase opens, named above the plot."""
    for phase, at in starts.items():
        ax.axvline(at, color="grey", linestyle=":", linewidth=1, zorder=0)
    top = ax.secondary_xaxis("top")
    top.set_xticks(list(starts.values()), [f"{phase} opens" for phase in starts], fontsize=8,
                   color="dimgrey")
    top.tick_params(length=3)


def chart_paths(directory: Path, stem: str) -> tuple[Path, Path]:
    return directory / f"{stem}_throughput.png", directory / f"{stem}_latency.png"


def report_write(records: list[Record], *, report_path: Path | None, csv_path: Path | None,
                 charts_dir: Path | None, stem: str = "requests", max_stores: int | None = None,
                 report: dict | None = None, title: str = "") -> dict:
    """Everything the run leaves behind, the JSON report first; returns the report.

    report: one already built from these records (with figures only the run knows).
    title: the charts' title (the run's parameters)."""
    report = dict(report) if report is not None else report_build(records)
    report["phase_starts"] = phase_starts(records, max_stores)
    if charts_dir is not None:
        report["charts"] = [str(path) for path in chart_paths(charts_dir, stem)]
    if report_path is not None:
        json_write(report, report_path)
    if csv_path is not None:
        csv_write(records, csv_path)
    if charts_dir is not None:
        charts_write(records, charts_dir, stem, max_stores, title)
    return report


def json_write(report: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.report", description=__doc__)
    parser.add_argument("csv", type=Path, help="a --requests-csv file of a run")
    parser.add_argument("--report", type=Path, help="also write the JSON report here")
    parser.add_argument("--charts-dir", type=Path, help="where the PNGs go (default: beside the CSV)")
    parser.add_argument("--max-stores", type=int, help="the run's maxStores, for the phases "
                        "(default: the highest store in the CSV)")
    args = parser.parse_args(argv)
    try:
        records = csv_read(args.csv)
    except (OSError, ValueError) as exc:
        print(f"loadtest.report: {exc}", file=sys.stderr)
        return 2
    charts = args.charts_dir or args.csv.parent
    info = run_beside(args.csv)  # kept in a rewritten report, and the charts' title
    title = run_title(info) if info else f"{args.csv.name}" + (
        f", {args.max_stores} stores" if args.max_stores else "")
    report = report_write(records, report_path=args.report, csv_path=None, charts_dir=charts,
                          stem=args.csv.stem, max_stores=args.max_stores, title=title,
                          report={**report_build(records), "run": info} if info else None)
    print(report_text(report))
    print("charts: " + ", ".join(report.get("charts", [])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
