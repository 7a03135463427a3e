"""make soak's samples: the resident size and CPU time of every process of the stack, and
the CPU the hypervisor stole, over time."""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from loadtest.cpu import named_cpu, process_cpu, stolen_cpu

PAGE_KB = 4
CORES = os.cpu_count() or 1


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


class ProcessSampler(threading.Thread):
    """Every interval, each named process and each of its children (gunicorn's workers,
    Celery's pool child) on a line of its own: samples (resident MB) and cpu (CPU seconds so
    far, and the machine's stolen CPU seconds: a run that slows while the hypervisor takes the
    cores is not a run whose stack slowed down)."""

    def __init__(self, roots: dict[str, int], interval: float) -> None:
        super().__init__(name="process-sampler", daemon=True)
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
            cpu["stolen"] = stolen_cpu()
            self.samples.append(sample)
            self.cpu.append(cpu)
            if self.stop.wait(self.interval):
                return


def growth_after(samples: list[dict], settle_seconds: float,
                 window_seconds: float) -> dict[str, float]:
    """Each process's growth after settle_seconds: its largest size in the run's last window
    against its largest in the first window after settling.

    Largest, not one sample: a size swings within a window (analytics keeps copies of the rows
    it is checkpointing while it writes them), and a single sample that meets a trough makes
    the level after it look like growth. A leak shows as a later window's peak above an
    earlier one's."""
    settled = [s for s in samples if s["t"] >= settle_seconds]
    if not settled:
        return {}
    first = [s for s in settled if s["t"] < settle_seconds + window_seconds]
    last = [s for s in settled if s["t"] > settled[-1]["t"] - window_seconds]
    growth = {}
    for name in sorted({k for s in first for k in s if k != "t"}):
        before = max(s.get(name, 0.0) for s in first)
        if before:
            growth[name] = round(max(s.get(name, 0.0) for s in last) / before - 1, 4)
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
    and the share of the cores' time the hypervisor stole. Both sample lists start within a
    moment of each other."""
    rows = []
    last_t = int(cpu[-1]["t"]) if cpu else 0
    # The last, shorter window too: a run that slows towards its end shows it there.
    ends = sorted({*range(0, last_t + 1, int(seconds)), last_t})
    for begin, end in zip(ends, ends[1:]):
        first, last = _nearest(cpu, begin), _nearest(cpu, end)
        published = _nearest(depth, end).get("published", 0) - _nearest(depth, begin).get(
            "published", 0)
        if not published or last["t"] <= first["t"]:
            continue
        elapsed = last["t"] - first["t"]
        stolen = last.get("stolen", 0.0) - first.get("stolen", 0.0)
        rows.append({"minute": round(begin / 60, 1), "rps": round(published / elapsed, 1),
                     "stolen_pct": round(100 * stolen / (elapsed * CORES), 1),
                     "cpu_ms": {k: round(1000 * (last[k] - first[k]) / published, 3)
                                for k in last if k not in ("t", "stolen") and k in first}})
    return rows


def _nearest(samples: list[dict], t: float) -> dict:
    return min(samples, key=lambda s: abs(s["t"] - t)) if samples else {}
