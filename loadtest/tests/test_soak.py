"""make soak's memory bookkeeping, on real processes and on samples."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from loadtest import soak_samples
from loadtest.soak_samples import ProcessSampler, children, growth_after, windows
from purchases.tests.helpers import wait_until


def test_growth_compares_the_last_windows_peak_with_the_first_settled_windows():
    # Settled at 300 s, in a trough: the level it returns to is not growth.
    swinging = [{"t": 0, "web": 50.0}, {"t": 300, "web": 90.0}, {"t": 310, "web": 100.0},
                {"t": 400, "web": 95.0}, {"t": 600, "web": 100.0}, {"t": 700, "web": 99.0}]
    assert growth_after(swinging, 300, 120) == {"web": 0.0}
    leaking = [{"t": 300 + 60 * n, "worker": 80.0 + n} for n in range(10)]
    assert growth_after(leaking, 300, 120) == {"worker": round(89 / 81 - 1, 4)}
    assert growth_after(leaking, 900, 120) == {}


def test_windows_give_the_rate_and_the_cpu_per_purchase_of_each_stretch():
    cores = soak_samples.CORES
    cpu = [{"t": 0, "web": 10.0, "stolen": 0.0}, {"t": 30, "web": 13.0, "stolen": 0.0},
           {"t": 60, "web": 16.0, "stolen": 0.0}, {"t": 90, "web": 22.0, "stolen": 0.0},
           {"t": 120, "web": 28.0, "stolen": 6.0 * cores},
           {"t": 150, "web": 31.0, "stolen": 6.0 * cores}]
    depth = [{"t": 0, "published": 0}, {"t": 60, "published": 6000},
             {"t": 120, "published": 9000}, {"t": 150, "published": 12000}]
    assert windows(cpu, depth, 60) == [
        {"minute": 0.0, "rps": 100.0, "stolen_pct": 0.0, "cpu_ms": {"web": 1.0}},
        {"minute": 1.0, "rps": 50.0, "stolen_pct": 10.0, "cpu_ms": {"web": 4.0}},
        {"minute": 2.0, "rps": 100.0, "stolen_pct": 0.0, "cpu_ms": {"web": 1.0}}]


def test_the_sampler_reads_a_process_and_its_children():
    parent = subprocess.Popen([sys.executable, "-c",
                               "import subprocess, sys, time; "
                               "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)']); "
                               "time.sleep(30)"])
    try:
        time.sleep(1.0)  # its child started
        sampler = ProcessSampler({"parent": parent.pid}, interval=0.1)
        sampler.start()
        wait_until(lambda: len(sampler.samples) >= 2, 10, "two samples")
        sampler.stop.set()
        sampler.join(timeout=5)
        last, cpu = sampler.samples[-1], sampler.cpu[0]
        assert last["parent"] > 1 and last["parent.1"] > 1  # resident MB of both
        assert cpu["parent"] > 0 and cpu["parent.1"] >= 0 and cpu["rabbitmq"] > 0
        assert cpu["stolen"] >= 0
    finally:
        for child in children(parent.pid):
            os.kill(child, signal.SIGKILL)
        parent.kill()
        parent.wait()
