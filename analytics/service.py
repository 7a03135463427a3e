"""`python -m analytics serve`: load the checkpoint, serve gRPC, read the stream, stop cleanly."""
from __future__ import annotations

import logging
import signal
import sys
import threading

from analytics.broker import stream_tail
from analytics.checkpoint import (
    CheckpointError,
    Snapshot,
    checkpoint_load,
    checkpoint_set_aside,
    checkpoint_write,
)
from analytics.config import Config
from analytics.consumer import Consumer
from analytics.metrics import metrics_start
from analytics.server import create_server, health_serving
from analytics.state import State
from analytics.stream import StreamReader

log = logging.getLogger("analytics")
SIGNAL_CHECK_SECONDS = 0.5
STOP_GRACE_SECONDS = 5
# A query's threads (the gRPC poller's, then a pool thread) each take the interpreter from the
# stream reader, whose batches hold it for 6-12 ms under full ingest. At Python's default of
# 5 ms each could wait that long: gRPC top-N p99 2.3-3.4 ms at real-time priority, nearly all
# of it before the handler ran; at 0.1 ms, 1.6-1.9 ms (BENCHMARKS.md). A switch is forced only
# while another thread waits, so the reader pays for it only when queries come.
GIL_SWITCH_SECONDS = 0.0001


def state_load(config: Config) -> State:
    state = _state_read(config)
    state.matrix.reserve(config.items)
    return state


def _state_read(config: Config) -> State:
    try:
        state = checkpoint_load(config.state_dir)
    except CheckpointError as exc:
        aside = checkpoint_set_aside(config.state_dir)
        log.error("checkpoint unreadable (%s), moved to %s; starting from the stream's first "
                  "offset", exc, aside)
        state = None
    if state is None:
        log.info("no checkpoint in %s: counting from the stream's first offset", config.state_dir)
        return State()
    totals = state.matrix.totals()
    log.info("checkpoint loaded: offset %d, %d purchases, %d stores, %d items",
             state.last_offset, totals.purchases, totals.stores, totals.items)
    return state


def serve(config: Config) -> int:
    sys.setswitchinterval(GIL_SWITCH_SECONDS)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    consumer: Consumer | None = None
    server, port, health = create_server(
        config.listen, lambda: consumer.state if consumer else None,
        threads=config.threads, max_rpcs=config.max_rpcs)
    server.start()
    log.info("analytics gRPC on port %d (NOT_SERVING until the checkpoint is loaded)", port)
    consumer = Consumer(state_load(config))
    health_serving(health, True)
    metrics = metrics_start(config, stream_tail=lambda: stream_tail(config.broker_url),
                            counted_offset=lambda: consumer.state.last_offset)

    def checkpoint(snapshot: Snapshot) -> None:
        path = checkpoint_write(snapshot, config.state_dir)
        log.debug("checkpoint at offset %d in %s", snapshot.last_offset, path)

    reader = StreamReader(config, consumer, checkpoint=checkpoint, stop=stop)
    failed = threading.Event()

    def read() -> None:
        try:
            reader.run()
        except Exception:
            log.exception("the stream reader failed; stopping")
            failed.set()
            stop.set()

    thread = threading.Thread(target=read, name="stream-reader")
    thread.start()
    log.info("analytics serving (GIL switch interval %.1f ms)", sys.getswitchinterval() * 1000)
    # A timeout, not one long wait: a signal the kernel hands to another thread (gRPC's, the
    # reader's) does not wake a main thread blocked on a lock, and only the main thread runs
    # the handler (a SIGTERM once waited 30 s here).
    while not stop.wait(SIGNAL_CHECK_SECONDS):
        pass
    log.info("stopping: final checkpoint, then the server")
    health_serving(health, False)
    thread.join()
    server.stop(STOP_GRACE_SECONDS).wait()
    if metrics is not None:
        metrics.shutdown()
        metrics.server_close()
    log.info("stopped at offset %d", consumer.state.last_offset)
    return 1 if failed.is_set() else 0
