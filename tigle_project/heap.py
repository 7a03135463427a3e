"""The cyclic garbage collector in the long-running Django-side processes, told what stays.

Measured under the bench's load (durable, 256 stores) with gc.callbacks and each thread's CPU
clock: the collector took 18% of the Celery worker's CPU and 11% of the web's, most of it in
~35 full (oldest-generation) collections a minute, each walking every object the process
holds: the modules, classes and caches of Django, DRF, Celery and kombu, loaded at start and
never garbage. Frozen once start-up is over (gc.freeze, as CPython's documentation suggests
for servers), they are left out of every collection; what a request or a batch allocates is
collected as before. With the reference cycles each request used to leave behind broken
(purchases/apis.py, tigle_project/answer_later.py) the collector's share fell to 2% of the
web and 6% of the worker.
"""
from __future__ import annotations

import gc


def startup_heap_freeze() -> None:
    """Call once the process holds what it keeps for life, before its work starts."""
    gc.collect()  # start-up's own garbage is not frozen with the rest
    gc.freeze()
