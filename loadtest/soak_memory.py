"""make soak's memory samples: the resident size of every process of the stack, over time."""
from __future__ import annotations

import threading
import time
from pathlib import Path

PAGE_KB = 4


def children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(child) for child in f.read().split()]
    except OSError:
        return []


def rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * PAGE_KB / 1024
    except OSError:
        return None


class MemorySampler(threading.Thread):
    """Every interval, each named process and each of its children (gunicorn's workers,
    Celery's pool child) on a line of its own."""

    def __init__(self, roots: dict[str, int], interval: float) -> None:
        super().__init__(name="memory-sampler", daemon=True)
        self.roots, self.interval = roots, interval
        self.samples: list[dict] = []
        self.stop = threading.Event()

    def run(self) -> None:
        started = time.monotonic()
        while True:
            sample: dict = {"t": round(time.monotonic() - started, 1)}
            for name, pid in self.roots.items():
                for n, member in enumerate([pid, *children(pid)]):
                    size = rss_mb(member)
                    if size is not None:
                        sample[name if n == 0 else f"{name}.{n}"] = round(size, 1)
            self.samples.append(sample)
            if self.stop.wait(self.interval):
                return


def growth_after(samples: list[dict], settle_seconds: float) -> dict[str, float]:
    """Each process's growth from its size at settle_seconds to the largest after it."""
    settled = [s for s in samples if s["t"] >= settle_seconds]
    if not settled:
        return {}
    growth = {}
    for name, first in settled[0].items():
        if name == "t" or not first:
            continue
        largest = max(s.get(name, 0.0) for s in settled)
        growth[name] = round(largest / first - 1, 4)
    return growth


def memory_plot(samples: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = sorted({k for s in samples for k in s if k != "t"})
    fig, ax = plt.subplots(figsize=(10, 5))
    for name in names:
        points = [(s["t"] / 60, s[name]) for s in samples if name in s]
        ax.plot([p[0] for p in points], [p[1] for p in points], label=name)
    ax.set_xlabel("minutes")
    ax.set_ylabel("resident memory (MB)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
