"""make soak's memory bookkeeping, on real processes and on samples."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from loadtest.soak_memory import MemorySampler, children, growth_after


def test_growth_counts_from_the_settled_size_to_the_largest_after_it():
    samples = [{"t": 0, "web": 50.0}, {"t": 300, "web": 100.0, "worker": 80.0},
               {"t": 310, "web": 104.0, "worker": 80.0}, {"t": 320, "web": 102.0, "worker": 79.0}]
    assert growth_after(samples, 300) == {"web": 0.04, "worker": 0.0}
    assert growth_after(samples, 400) == {}


def test_the_sampler_reads_a_process_and_its_children():
    parent = subprocess.Popen([sys.executable, "-c",
                               "import subprocess, sys, time; "
                               "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)']); "
                               "time.sleep(30)"])
    try:
        time.sleep(1.0)  # its child started
        sampler = MemorySampler({"parent": parent.pid}, interval=0.1)
        sampler.start()
        time.sleep(0.35)
        sampler.stop.set()
        sampler.join(timeout=5)
        last = sampler.samples[-1]
        assert len(sampler.samples) >= 2
        assert last["parent"] > 1 and last["parent.1"] > 1  # resident MB of both
    finally:
        for child in children(parent.pid):
            os.kill(child, signal.SIGKILL)
        parent.kill()
        parent.wait()
