"""make soak's samples: the resident size and CPU time of every process of the stack, and
the machine's speed, over time."""
from __future__ import annotations

import threading
import time
from pathlib import Path

from loadtest.bench_probes import calibration_seconds
from loadtest.cpu import named_cpu, process_cpu

PAGE_KB = 4
# The speed check (bench_probes.calibration_seconds) every this many samples: a run that slows
# down on a machine that slowed down is not a run whose stack slowed down.
SPEED_EVERY = 6


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
    Celery's pool child) on a line of its own: samples (resident MB) and cpu (CPU seconds so
    far, with the speed check every SPEED_EVERY samples)."""

    def __init__(self, roots: dict[str, int], interval: float) -> None:
        super().__init__(name="memory-sampler", daemon=True)
        self.roots, self.interval = roots, interval
        self.samples: list[dict] = []
        self.cpu: list[dict] = []
        self.stop = threading.Event()

    def run(self) -> None:
        started = time.monotonic()
        while True:
            t = round(time.monotonic() - started, 1)
            sample, cpu = {"t": t}, {"t": t}
            for name, pid in self.roots.items():
                for n, member in enumerate([pid, *children(pid)]):
                    key = name if n == 0 else f"{name}.{n}"
                    size, seconds = rss_mb(member), process_cpu(member)
                    if size is not None:
                        sample[key] = round(size, 1)
                    if seconds is not None:
                        cpu[key] = seconds
            cpu["rabbitmq"], cpu["mariadb"] = named_cpu("beam.smp"), named_cpu("mariadbd")
            if len(self.cpu) % SPEED_EVERY == 0:
                cpu["speed_check_s"] = calibration_seconds()
            self.samples.append(sample)
            self.cpu.append(cpu)
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


def windows(cpu: list[dict], depth: list[dict], seconds: float) -> list[dict]:
    """Per window of seconds: purchases/s published, CPU ms per purchase of each process,
    and the slowest speed check in it. Both sample lists start within a moment of each other."""
    rows = []
    ends = [t for t in range(0, int(cpu[-1]["t"]) + 1, int(seconds))] if cpu else []
    for begin, end in zip(ends, ends[1:]):
        first, last = _nearest(cpu, begin), _nearest(cpu, end)
        published = _nearest(depth, end).get("published", 0) - _nearest(depth, begin).get(
            "published", 0)
        if not published or last["t"] <= first["t"]:
            continue
        elapsed = last["t"] - first["t"]
        speeds = [s["speed_check_s"] for s in cpu if begin <= s["t"] < end and "speed_check_s" in s]
        rows.append({"minute": round(begin / 60, 1), "rps": round(published / elapsed, 1),
                     "speed_check_s": max(speeds, default=None),
                     "cpu_ms": {k: round(1000 * (last[k] - first[k]) / published, 3)
                                for k in last if k not in ("t", "speed_check_s") and k in first}})
    return rows


def _nearest(samples: list[dict], t: float) -> dict:
    return min(samples, key=lambda s: abs(s["t"] - t)) if samples else {}
