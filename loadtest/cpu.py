"""CPU time per component during a bench run, read from /proc (Linux).

On a 2-core machine that runs everything, throughput is bought with CPU: the bench reports
how many milliseconds of CPU each component spent per purchase, so each optimisation shows
where its gain came from. It also reports how long each component was ready to run but
waited for a core (the scheduler's own count, schedstat): that wait is in a purchase's
latency, and it is what hosts of their own would take away.
"""
from __future__ import annotations

import os
import resource
from collections.abc import Callable
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        # The command name may hold spaces and parentheses: split after the last ')'.
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _cpu_seconds(fields: list[str]) -> float:
    # utime, stime: fields 14 and 15 of proc(5), 12 and 13 after the name.
    return (int(fields[11]) + int(fields[12])) / TICKS


def process_cpu(pid: int) -> float | None:
    """CPU seconds of one process (its threads, not its children); None once it is gone."""
    fields = _stat(pid)
    return None if fields is None else _cpu_seconds(fields)


def _all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _tree(root: int) -> dict[int, list[str]]:
    """A process and its living descendants, each with its stat fields (read once)."""
    children: dict[int, list[int]] = {}
    stats: dict[int, list[str]] = {}
    for pid in _all_pids():
        fields = _stat(pid)
        if fields is not None:
            stats[pid] = fields
            children.setdefault(int(fields[1]), []).append(pid)
    tree, todo = {}, [root]
    while todo:
        pid = todo.pop()
        if pid in stats:
            tree[pid] = stats[pid]
        todo.extend(children.get(pid, []))
    return tree


def tree_cpu(root: int) -> float:
    """CPU seconds of a process and its living descendants."""
    return sum(_cpu_seconds(fields) for fields in _tree(root).values())


def _named_pids(names: tuple[str, ...]) -> list[int]:
    pids = []
    for pid in _all_pids():
        try:
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            continue
        if comm in names:
            pids.append(pid)
    return pids


def named_cpu(*names: str) -> float:
    """CPU seconds of every process whose command name is one of names (beam.smp, mariadbd)."""
    return sum(process_cpu(pid) or 0.0 for pid in _named_pids(names))


def process_waiting(pid: int) -> float:
    """Seconds the threads of one process have spent runnable but not running: waiting
    for a core. Threads that have exited are not counted: the bench's live for the run."""
    total = 0
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0.0
    for thread in threads:
        try:
            # schedstat: time on a core, time waiting on a run queue (ns), timeslices.
            total += int(Path(f"/proc/{pid}/task/{thread}/schedstat").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return total / 1e9


def tree_waiting(root: int) -> float:
    """process_waiting of a process and its living descendants."""
    return sum(process_waiting(pid) for pid in _tree(root))


def named_waiting(*names: str) -> float:
    """process_waiting of every process whose command name is one of names."""
    return sum(process_waiting(pid) for pid in _named_pids(names))


def children_cpu() -> float:
    """CPU seconds of this process's waited-for children (a finished load client)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class CpuMeter:
    """Differences of named CPU counters between start() and stop()."""

    def __init__(self, counters: dict[str, Callable[[], float]]) -> None:
        self.counters = counters
        self.started: dict[str, float] = {}

    def start(self) -> None:
        self.started = {name: read() for name, read in self.counters.items()}

    def stop(self) -> dict[str, float]:
        return {name: round(read() - self.started[name], 2) for name, read in self.counters.items()}


def _machine_ticks() -> list[int]:
    """/proc/stat's first line: user, nice, system, idle, iowait, irq, softirq, steal, ..."""
    return [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]


def stolen_cpu() -> float:
    """CPU seconds the hypervisor gave to other guests while this machine had work to run."""
    ticks = _machine_ticks()
    return ticks[7] / TICKS if len(ticks) > 7 else 0.0


def machine_cpu() -> float:
    """CPU seconds the whole machine spent busy (every core, every process, the kernel)."""
    fields = _machine_ticks()
    user, nice, system, _idle, _iowait, irq, softirq = fields[:7]
    return (user + nice + system + irq + softirq) / TICKS
