"""The web process's publisher over plain AMQP: publisher confirms pipelined across threads.

ConfirmPipeline: one AMQP connection whose channel is in confirm mode. Request threads queue
their messages' frames and wait for their own confirm, or hand in a Confirmation and go on
(the web worker answers the request when it settles: tigle_project/answer_later.py); the
thread that finds the queue empty writes what has gathered a moment later in one socket
write, and one reader thread takes the broker's acks, nacks and returns off the socket and
wakes the waiting requests or settles the confirmations they answer.

Both halves batch. RabbitMQ confirms a whole run of messages with one ack (multiple=True)
once they are on disk, so one fsync answers every request that waited on it. And a write of
several messages costs the broker far less than as many writes of one: at 1,000 persistent
messages/s into the fanout (queue and stream, both consumed), 0.55 ms of broker CPU per
message written one at a time, 0.38 in pairs, 0.28 in fours (BENCHMARKS.md). A request
still answers only once its own message is confirmed.

Here: the gathering and the writes, the reader and deadline threads, and failing every open
publish when the connection is lost. Framing is purchases/amqp_publish_frames.py's; answering
the open publishes from the acks, nacks and returns is purchases/confirm_answers.py's.
"""
from __future__ import annotations

import logging
import socket
import threading
import time

import amqp
from amqp import spec
from amqp.method_framing import frame_writer
from kombu import Connection

from purchases.amqp_publish_frames import FrameList, publish_arguments
from purchases.confirm_answers import ConfirmAnswers, Waiter
from purchases.events import DB_QUEUE, EXCHANGE
from tigle_project.answer_later import Confirmation

log = logging.getLogger(__name__)


# How long the thread that starts a write waits for others to join it, when other publishes
# are in flight (under load); alone, it writes at once.
GATHER_SECONDS = 0.002
# How often a thread looks for publishes past their timeout that no thread waits on.
WATCH_SECONDS = 0.25


class PublishFailed(Exception):
    """The broker did not take the message; the outcome may be unknown (no confirm came)."""


def close_abruptly(connection: Connection) -> None:
    try:
        # Not release(): a graceful close waits for the broker's reply with no timeout,
        # and a blocked or half-dead broker never sends it.
        connection.collect()
    except Exception:  # already broken; nothing left to close
        pass


class ConfirmPipeline(ConfirmAnswers):
    """One confirm-mode channel shared by a process's request threads."""

    def __init__(self, connection: Connection, timeout: float) -> None:
        super().__init__()
        self.connection = connection
        # Kept: kombu's Connection.connection property reconnects when read after a close.
        self._amqp: amqp.Connection = connection.connection
        self.socket: socket.socket = self._amqp.sock
        self.channel: amqp.Channel = connection.default_channel
        # _open() set a timeout for the handshake's replies; the reader blocks without one.
        self.channel.confirm_select()
        self.socket.settimeout(None)
        self.channel._confirm_selected = True  # py-amqp's own record of it, kept true
        self.channel.events["basic_ack"].add(self._on_ack)
        self.channel.events["basic_nack"].add(self._on_nack)
        self.channel.events["basic_return"].add(self._on_return)
        self.broken: str | None = None
        # Re-entrant: py-amqp's frame writer (one shared buffer) runs under it, for request
        # threads and for the reader thread's own replies (CloseOk) alike.
        self._write_lock = threading.RLock()
        writer = self._amqp.frame_writer

        def frame_writer_locked(*args: object) -> object:
            with self._write_lock:
                return writer(*args)

        self._amqp.frame_writer = frame_writer_locked
        # Messages framed but not yet written, in tag order; _gather_lock covers them, the
        # tags and the frame writer's buffer.
        self._gathered = FrameList()
        self._frame = frame_writer(self._amqp, self._gathered)
        self._gather_lock = threading.Lock()
        self._gathering = False  # a thread is about to write what has gathered
        self._close_lock = threading.Lock()
        self._next_tag = 1
        self._reader = threading.Thread(target=self._read, name="publish-confirms", daemon=True)
        self._reader.start()
        # A publish with a confirmation has no thread waiting out its timeout: this one does.
        self._watchdog = threading.Thread(target=self._watch, name="publish-deadlines",
                                          daemon=True)
        self._watchdog.start()

    def publish(self, *, body: bytes, headers: dict, properties: dict, timeout: float,
                routing: tuple[str, str] = (EXCHANGE, DB_QUEUE),
                confirmation: Confirmation | None = None) -> None:
        """Publish, and return once the broker confirmed it; or, given a confirmation,
        once it is written, settling the confirmation when the broker answers (or within
        timeout, with why not)."""
        deadline = time.monotonic() + timeout
        if confirmation is None:
            waiter = Waiter(timeout, deadline, done=threading.Event())
        else:
            waiter = Waiter(timeout, deadline, confirmation=confirmation)
        message = amqp.Message(body, application_headers=headers, **properties)
        arguments = publish_arguments(routing)
        with self._gather_lock:
            if self.broken:
                raise PublishFailed(self.broken)
            tag = self._next_tag
            # Registered before the tag is taken, so the reader never skips an unanswered tag.
            self._waiters[tag] = waiter
            self._next_tag = tag + 1
            # The tag rides along so that a returned (unroutable) message finds its waiter.
            message.properties["message_id"] = str(tag)
            # Not basic_publish(): with the connection.blocked capability it reads the socket
            # before each write, which belongs to the reader thread here.
            self._frame(1, self.channel.channel_id, spec.Basic.Publish, arguments, message)
            writes, self._gathering = not self._gathering, True
            others = len(self._waiters) > len(self._gathered.frames)
        if writes:
            if others:
                time.sleep(GATHER_SECONDS)
            self._write(deadline)
        if self.broken:
            # close() may have listed the open waiters just before this one was added.
            self._answer(tag, self.broken)
        if confirmation is not None:
            return
        if not waiter.done.wait(max(0.0, deadline - time.monotonic())):
            # Its outcome is unknown; so is every other one still open on this connection.
            self.close(f"no confirm within {timeout}s")
            # Whoever took the waiter (close, or the reader with an ack or a nack) answers it
            # at once; only an answer without an error is a confirm.
            waiter.done.wait(1.0)
        if not waiter.done.is_set() or waiter.error is not None:
            raise PublishFailed(waiter.error or f"no confirm within {timeout}s")

    def _write(self, deadline: float) -> None:
        """Write every gathered message in one go; a failed write fails them all."""
        if not self._write_lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
            # A write that long means a writer is stuck in sendall(): close() frees it.
            self.close("no turn to write within the publish timeout")
            with self._gather_lock:
                self._gathered.frames, self._gathering = [], False
            return
        try:
            with self._gather_lock:
                frames, self._gathered.frames = self._gathered.frames, []
                self._gathering = False
            if frames and self.broken is None:
                self._amqp.transport.write(b"".join(frames))
        except BaseException as exc:  # written in part, the stream of tags is lost
            self.close(f"write failed: {exc!r}")
            if not isinstance(exc, Exception):
                raise
        finally:
            self._write_lock.release()

    def close(self, reason: str) -> None:
        """Fail every open publish with reason and drop the connection; safe from any thread."""
        with self._close_lock:
            if self.broken is None:
                self.broken = reason
                log.warning("publisher connection dropped: %s", reason)
                try:
                    # Wakes the reader blocked in recv(), and a writer stuck in sendall().
                    self.socket.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        for tag in list(self._waiters):
            self._answer(tag, self.broken)

    def _read(self) -> None:
        try:
            while self.broken is None:
                self._amqp.drain_events()
        except Exception as exc:  # the broker closed the connection or channel, or close() did
            self.close(f"connection lost: {exc!r}")
        finally:
            close_abruptly(self.connection)

    def _watch(self) -> None:
        while self.broken is None:
            time.sleep(WATCH_SECONDS)
            try:
                oldest = next(iter(self._waiters.values()), None)  # the lowest open tag
            except RuntimeError:  # the reader answered one meanwhile: look again next time
                continue
            if oldest is not None and time.monotonic() > oldest.deadline:
                # Its outcome is unknown; so is every other one still open on this connection.
                self.close(f"no confirm within {oldest.timeout}s")
