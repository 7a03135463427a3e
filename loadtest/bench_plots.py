"""The PNG plots BENCHMARKS.md shows, from make bench's results (matplotlib, no screen)."""
from __future__ import annotations

from pathlib import Path

from loadtest.bench_report import query_rows


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _finish(figure, axes, path: Path, title: str) -> None:
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend()
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    figure.clf()
    _pyplot().close(figure)


def sweep_plot(sweep: list[dict], path: Path) -> None:
    plt = _pyplot()
    stores = [r["stores"] for r in sweep]
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    left.plot(stores, [r["accepted_rps"] for r in sweep], marker="o", label="accepted/s")
    left.plot(stores, [r["end_to_end_rps"] or 0 for r in sweep], marker="o", label="end to end/s")
    left.set_ylabel("purchases per second")
    right.plot(stores, [r["median_ms"] for r in sweep], marker="o", label="median")
    right.plot(stores, [r["p99_ms"] for r in sweep], marker="o", label="p99")
    right.set_ylabel("latency (ms)")
    for ax in (left, right):
        ax.set_xscale("log", base=2)
        ax.set_xticks(stores, [str(s) for s in stores])
        ax.set_xlabel("stores")
    _finish(figure, (left, right), path,
            "Durable mode: throughput and latency against the number of stores")


def depth_plot(samples: list[dict], path: Path) -> None:
    plt = _pyplot()
    figure, ax = plt.subplots(figsize=(10, 4.2))
    seconds = [s["t"] for s in samples]
    ax.plot(seconds, [s["db_ready"] for s in samples], label="purchases.db ready")
    ax.plot(seconds, [s["analytics_backlog"] for s in samples],
            label="purchases.analytics not yet counted")
    ax.set_xlabel("seconds since the first request")
    ax.set_ylabel("messages")
    _finish(figure, (ax,), path, "Queue depth during the durable run")


def queries_plot(queries: dict, path: Path) -> None:
    plt = _pyplot()
    rows = query_rows(queries)
    kinds = list(rows[0][1])
    bars = [(label, figures, statistic) for label, figures in rows
            for statistic in ("p50_ms", "p99_ms")]
    figure, ax = plt.subplots(figsize=(12, 5))
    width = 0.8 / len(bars)
    for n, (label, figures, statistic) in enumerate(bars):
        ax.bar([i + (n - (len(bars) - 1) / 2) * width for i in range(len(kinds))],
               [figures[k][statistic] or 0 for k in kinds], width,
               label=f"{statistic[:-3]}, {label}")
    ax.set_xticks(range(len(kinds)), [k.replace("_", " ") for k in kinds])
    ax.set_ylabel("latency (ms)")
    ax.set_yscale("log")
    _finish(figure, (ax,), path, f"Top-N latency, {queries['items']:,} items x "
            f"{queries['stores']:,} stores")
