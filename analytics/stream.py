"""Feed the consumer from the broker: the RabbitMQ stream by offset, or, in the embedded mode,
a plain queue of the filesystem broker. Checkpoints, reconnects and rebuilds happen here.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from analytics.broker import BROKER_ERRORS, StreamSource, stream_tail
from analytics.checkpoint import Snapshot, snapshot_take
from analytics.config import Config
from analytics.consumer import Consumer, StreamLost
from analytics.kombu_compat import FolderQueue
from analytics.metrics import COUNTED
from analytics.rebuild import DatabaseSnapshot, matrix_rebuild
from analytics.state import State
from purchases.events import ANALYTICS_STREAM

log = logging.getLogger(__name__)

# Also how often the embedded broker's folder is polled.
IDLE_SECONDS = 0.05
# A batch waits no longer than this for its last purchases, as the worker's does
# (TIGLE_BATCH_SECONDS): a steady trickle that never leaves the stream idle still shows up in
# the counts and the lag gauge within this time, not in steps of a whole batch.
FLUSH_SECONDS = 0.2
BACKOFF_MIN_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 10.0
# A full matrix (400 MiB) takes one or two seconds to write and sync, on a thread of its own
# while the reader goes on; checkpoints are spaced so that the disk writes them at most a
# tenth of the time.
CHECKPOINT_SHARE = 0.1


class Reattach(Exception):
    """Leave the current attachment and attach again at the consumer's offset."""


class StreamReader:
    """Runs until stop is set: read, apply in batches, ack, checkpoint every few seconds."""

    def __init__(self, config: Config, consumer: Consumer, *,
                 checkpoint: Callable[[Snapshot], None], stop: threading.Event) -> None:
        self.config = config
        self.consumer = consumer
        self._checkpoint = checkpoint  # writes a snapshot; durable when it returns
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="checkpoint")
        self._writing: tuple[Future, int, float] | None = None  # (its future, offset, start)
        self._stop = stop
        self._snapshot: DatabaseSnapshot | None = None
        self._catch_up_until: int | None = None
        self._saved_offset: int | None = consumer.state.last_offset
        self._saved_at = time.monotonic()
        self._flushed_at = time.monotonic()
        self._checkpoint_seconds = 0.0  # how long the last one took
        self._source: StreamSource | FolderQueue | None = None
        self._backoff = BACKOFF_MIN_SECONDS

    def run(self) -> None:
        try:
            while not self._stop.is_set():
                source = None
                try:
                    source = self._source = self._source_open()
                    self._consume(source)
                except Reattach:
                    pass
                except BROKER_ERRORS as exc:
                    self._source = None  # its channel is gone: nothing to ack
                    log.warning("broker: %r; reconnecting in %.1fs", exc, self._backoff)
                    self._stop.wait(self._backoff)
                    self._backoff = min(self._backoff * 2, BACKOFF_MAX_SECONDS)
                finally:
                    self._flush()
                    self._source = None
                    if source is not None:
                        source.close()
        finally:
            try:
                self.checkpoint(force=True)  # skipped mid catch-up: a restart rebuilds again
            finally:
                self._snapshot_release(caught_up=False)
                self._writer.shutdown(wait=True)

    def _source_open(self) -> StreamSource | FolderQueue:
        """Connected, the topology declared, not yet attached."""
        # The prefetch keeps delivering while a batch is applied; offsets already handled
        # are skipped by the consumer, so a delivery is never applied twice.
        prefetch = 2 * self.config.batch_size
        if self.config.embedded_broker:
            return FolderQueue(self.config.broker_folder, self._on_delivery, limit=prefetch)
        return StreamSource(self.config.broker_url, self._on_delivery, prefetch)

    def _on_delivery(self, body: bytes, offset: int | None) -> None:
        if offset is None:  # the embedded broker's queue: no offsets, every delivery new
            offset = self.consumer.handled + 1
        try:
            self.consumer.handle(body, offset)
        except StreamLost as lost:
            self._rebuild(str(lost), resume=lost.resume)
            if lost.resume == 0:
                raise Reattach() from None
            self.consumer.handle(body, offset)

    def _consume(self, source: StreamSource | FolderQueue) -> None:
        if self.config.embedded_broker:
            start = self.consumer.handled + 1
        else:
            if self._snapshot is None:
                self._recreated_check()
            start = self.consumer.attach_offset()
        source.attach(start)
        self._backoff = BACKOFF_MIN_SECONDS
        log.info("reading %s from offset %d", ANALYTICS_STREAM, start)
        while not self._stop.is_set():
            idle = False
            try:
                source.drain(IDLE_SECONDS)
            except TimeoutError:
                idle = True
            pending = self.consumer.pending
            if pending >= self.config.batch_size or idle or (
                    pending and time.monotonic() - self._flushed_at >= FLUSH_SECONDS):
                self._flush()
                self._caught_up_check(idle)
            self.checkpoint()
        self._flush()
        self.checkpoint(force=True)  # before the connection closes, whatever the broker does

    def _recreated_check(self) -> None:
        """A stream whose end lies before what was applied was deleted and declared anew."""
        handled = self.consumer.handled
        if handled < 0:
            return
        tail = stream_tail(self.config.broker_url)
        if tail is not None and tail < handled:
            self._rebuild(f"the stream ends at offset {tail}, before offset {handled} that was "
                          "applied: it was recreated", resume=0)

    def _flush(self) -> None:
        self._flushed_at = time.monotonic()
        COUNTED.inc(self.consumer.flush())
        if self._source is not None:
            self._source.ack()

    def _rebuild(self, reason: str, resume: int) -> None:
        log.warning("%s: %s; rebuilding the matrix from the database", ANALYTICS_STREAM, reason)
        if self._writing is not None:
            self._written()  # of the matrix about to be replaced: note it before it goes
        self._saved_offset = None  # whatever was saved, the rebuilt matrix is not it
        self._snapshot_release(caught_up=False)
        matrix, self._snapshot = matrix_rebuild(self.config.database_url)
        matrix.reserve(self.config.items)
        # Every purchase up to the stream's end now may be in the snapshot already; past it,
        # none is (but for a republish, which the id window catches).
        self._catch_up_until = (None if self.config.embedded_broker
                                else stream_tail(self.config.broker_url))
        self.consumer.restart_from(State(matrix=matrix, last_offset=resume - 1))
        self.consumer.already_counted = self._snapshot.already_counted

    def _caught_up_check(self, idle: bool) -> None:
        if self._snapshot is None:
            return
        target = self._catch_up_until
        if (target is None and idle) or (target is not None and self.consumer.handled >= target):
            self._snapshot_release()
            self.checkpoint(force=True)

    def _snapshot_release(self, caught_up: bool = True) -> None:
        if self._snapshot is not None:
            self._snapshot.close()
            self._snapshot = None
            self.consumer.already_counted = None
            if caught_up:
                log.info("caught up after the rebuild at offset %d", self.consumer.state.last_offset)

    def checkpoint(self, force: bool = False) -> None:
        """Every few seconds, when something changed: take a snapshot and have it written
        beside the reading. force: now, and written before this returns (stop, caught up)."""
        if self._writing is not None and (force or self._writing[0].done()):
            self._written()
        if self._snapshot is not None or self._writing is not None:
            # Mid catch-up a checkpoint would lose which purchases the rebuild counted; and
            # one is written at a time.
            return
        state = self.consumer.state
        interval = max(self.config.checkpoint_seconds, self._checkpoint_seconds / CHECKPOINT_SHARE)
        due = time.monotonic() - self._saved_at >= interval
        if state.last_offset == self._saved_offset or not (due or force):
            return
        self._flush()
        snapshot = snapshot_take(state)
        try:
            future = self._writer.submit(self._checkpoint, snapshot)
        except BaseException:
            snapshot.matrix.close()  # or every later batch would keep copies for it
            raise
        self._writing = (future, state.last_offset, time.monotonic())
        if force:
            self._written()

    def _written(self) -> None:
        """Wait for the checkpoint being written and take note of how it went."""
        future, offset, started = self._writing
        self._writing = None
        try:
            future.result()
        except OSError:
            # A full or read-only disk: keep counting and try again at the next interval.
            log.exception("checkpoint at offset %d failed", offset)
            self._saved_at = time.monotonic()
            return
        self._saved_offset, self._saved_at = offset, time.monotonic()
        self._checkpoint_seconds = self._saved_at - started
