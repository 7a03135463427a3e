"""gunicorn's gthread worker with a cheaper hand-off of each request to its threads.

gthread passes every request of a kept-alive connection from its main loop to a thread and
back: a selectors unregister and register, a concurrent.futures Future (built around a
Condition) and ThreadPoolExecutor.submit (a pure-Python Semaphore), and in gunicorn 23 a
futures.wait() over every queued request after each poll. Under the bench py-spy put that
hand-off at over a third of the web process's Python time.

Here the main loop waits on a raw epoll in which each idle connection is armed one-shot,
gives a readable connection to the threads through a queue.SimpleQueue (C, one lock), and
the thread that answered the request re-arms the connection: one epoll_ctl per request, no
Future and no Python-level lock on the way. Sockets stay blocking once a thread has read
from them (gthread flips them twice per request). Parsing, the WSGI call, keep-alive,
max_requests and error handling are gthread's own (handle, handle_request).

Reads (GET, HEAD: health checks, top-N queries) go ahead of queued purchases: the main
loop peeks at a connection's first bytes and puts a read on a list of its own, which a
thread looks at before the queue. Under full ingest the queue holds a request per open
store (~250 ms at 256 stores); a read waits for the next free thread instead.

A purchase is answered after its thread has moved on (answer_later.py; the worker's side
is gunicorn_answer_later.py), so no request thread sleeps through a confirm.

Written against gunicorn 23.0 (requirements.txt pins it): it reuses ThreadWorker's handle()
and TConn, gunicorn_answer_later.py copies its handle_request and held_connections.py
TConn.init, so an upgrade must re-read them (gunicorn 27 measured slower here: BENCHMARKS.md).
"""
from __future__ import annotations

import collections
import errno
import queue
import select
import socket
import sys
import threading
import time

from gunicorn.workers import base
from gunicorn.workers.gthread import TConn, ThreadWorker

from tigle_project.gunicorn_answer_later import LATER, AnswerLater, Unsent
from tigle_project.held_connections import HandshakeBoundConn, HeldConnections
from tigle_project.pipelining import body_drain, body_left_unread, next_request_buffered

NOTIFY_EVERY_SECONDS = 1.0
_ARMED = select.EPOLLIN | select.EPOLLONESHOT
_STOP = None  # one per request thread, queued behind the connections still to answer
_READ_WAITING = object()  # queued with each read put on the reads list: wakes an idle thread
_READS = (b"GET ", b"HEAD")
class LeanThreadWorker(AnswerLater, ThreadWorker):
    def init_process(self) -> None:
        self._requests: queue.SimpleQueue[TConn | object | None] = queue.SimpleQueue()
        self._reads: collections.deque[TConn] = collections.deque()  # atomic append/popleft
        self._epoll = select.epoll()
        self._listeners: dict[int, tuple] = {}  # fd -> (listening socket, its address)
        # fd -> kept-alive connection armed in the epoll. Only the main loop takes from it;
        # gthread's handle_request reads its length to cap kept-alive connections.
        self._keep = {}
        self._conns_lock = threading.Lock()
        self._waiting = 0  # responses waiting for a confirmation; under _conns_lock
        # A client silent mid-request loses its thread after this (held_connections.py); the
        # worker timeout at least, so that a short keep-alive cannot cut a synchronous publish.
        # --timeout 0 turns gunicorn's worker timeout off, and so this limit.
        self._held = HeldConnections(
            max(self.cfg.keepalive, self.cfg.timeout) if self.cfg.timeout > 0 else None)
        # How long a new connection may stay silent. Not 0 with keep-alive off (which only
        # means one request per connection): the stall limit then, if any.
        self._first_request_seconds = (self.cfg.keepalive if self.cfg.keepalive > 0
                                       else self._held.limit_seconds or float("inf"))
        self._threads: list[threading.Thread] = []
        self.settings_read()
        # gthread's own init_process would build a thread pool and a selector left unused.
        base.Worker.init_process(self)

    def handle_quit(self, sig, frame) -> None:
        self.alive = False
        self.cfg.worker_int(self)
        time.sleep(0.1)
        sys.exit(0)

    def run(self) -> None:
        for listener in self.sockets:
            listener.setblocking(False)
            # Captured once: during a graceful shutdown the name may be gone (as gunicorn does).
            self._listeners[listener.fileno()] = (listener, listener.getsockname())
            self._epoll.register(listener.fileno(), select.EPOLLIN)
        self._threads = [threading.Thread(target=self._answer, name=f"request-{n}", daemon=True)
                         for n in range(self.cfg.threads)]
        for thread in self._threads:
            thread.start()

        accepting, checked = True, 0.0
        while self.alive:
            now = time.monotonic()
            if now - checked >= NOTIFY_EVERY_SECONDS:
                checked = now
                self.notify()
                if not self.is_parent_alive():
                    break
                self._expire_idle()
                self._held.expire()
            if accepting != (self.nr_conns < self.worker_connections):
                # Full: new connections wait in the listen backlog until one closes.
                accepting = not accepting
                for fd in self._listeners:
                    self._epoll.modify(fd, select.EPOLLIN if accepting else 0)
            for fd, _ in self._epoll.poll(1.0):
                conn = self._keep.pop(fd, None)
                if conn is not None:
                    self._hand_over(conn)
                elif fd in self._listeners:
                    self._accept(*self._listeners[fd])
        self._shutdown()

    def _accept(self, listener, server) -> None:
        try:
            sock, client = listener.accept()
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        conn = HandshakeBoundConn(self.cfg, sock, client, server, self._held.limit_seconds)
        with self._conns_lock:
            self.nr_conns += 1
        # Unlike gthread, a connection that never sends is closed after the keep-alive time.
        conn.timeout = time.time() + self._first_request_seconds
        self._keep[sock.fileno()] = conn
        self._epoll.register(sock.fileno(), _ARMED)

    def _hand_over(self, conn: TConn) -> None:
        try:
            # Never blocks the loop; a TLS socket refuses flags (ValueError): no priority.
            start = conn.sock.recv(4, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except (OSError, ValueError):
            start = b""
        if start in _READS:
            self._reads.append(conn)
            self._requests.put(_READ_WAITING)
        else:
            self._requests.put(conn)

    def _next(self, after_read: bool) -> tuple[TConn | None, bool]:
        """The next connection to answer, and whether it is a read: a waiting read first,
        but never two in a row, so that a flood of reads leaves purchases every other turn."""
        while True:
            if not after_read and self._reads:
                try:
                    return self._reads.popleft(), True
                except IndexError:  # another thread took it
                    pass
            conn = self._requests.get()
            if conn is not _READ_WAITING:
                return conn, False
            try:
                return self._reads.popleft(), True
            except IndexError:  # answered already, by a thread that looked first
                after_read = False

    def _answer(self) -> None:
        """A request thread: answer the connections the main loop hands over, one request
        each, and put each kept-alive one back in the epoll."""
        after_read = False
        while True:
            conn, after_read = self._next(after_read)
            if conn is _STOP:
                return
            if isinstance(conn, Unsent):
                with self._held.holding(conn.conn):
                    self._send_rest(conn)
                continue
            try:
                with self._held.holding(conn):
                    if not conn.initialized:
                        conn.init()  # blocking from here on; SSL wrapped if configured
                    elif body_left_unread(conn):
                        # More of a body its app left unread (pipelining.py): read what
                        # came, and wait in the epoll for the rest or a next request.
                        if body_drain(conn):
                            self._rearm(conn)
                        else:
                            self._close(conn)
                        continue
                    keepalive, conn = self.handle(conn)  # gthread's: answers its own errors
                if keepalive is LATER:
                    continue  # the confirmation answers it and re-arms it
                if keepalive and self.alive:
                    self._rearm(conn)
                    continue
            except Exception as exc:  # a TLS handshake, or the epoll closed at shutdown
                if conn.handshaking and isinstance(exc, OSError):  # the client's doing
                    self.log.debug("TLS handshake with %s: %r", conn.client, exc)
                elif self.alive:
                    self.log.exception("dropping the connection from %s", conn.client)
            self._close(conn)

    def _rearm(self, conn: TConn) -> None:
        if next_request_buffered(conn):
            # A pipelined request the parser has already read off the socket: the epoll
            # would never report it. Straight back to the threads, in its turn.
            self._requests.put(conn)
            return
        conn.set_timeout()
        fd = conn.sock.fileno()
        self._keep[fd] = conn  # before arming: the main loop looks it up on the event
        self._epoll.modify(fd, _ARMED)

    def _close(self, conn: TConn) -> None:
        try:
            fd = conn.sock.fileno()
            if self._keep.get(fd) is conn:
                del self._keep[fd]
            self._epoll.unregister(fd)
        except (OSError, ValueError, KeyError):  # never armed, or the epoll is closed at shutdown
            pass
        conn.close()
        with self._conns_lock:
            self.nr_conns -= 1

    def _expire_idle(self) -> None:
        now = time.time()
        for conn in list(self._keep.values()):
            if conn.timeout <= now:
                self._close(conn)  # takes it out of _keep

    def _shutdown(self) -> None:
        for listener, _ in self._listeners.values():
            listener.close()
        for conn in list(self._keep.values()):
            self._close(conn)  # idle: nothing of theirs is in flight
        # Connections already handed over are answered (with Connection: close) first.
        for _ in self._threads:
            self._requests.put(_STOP)
        deadline = time.monotonic() + self.cfg.graceful_timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._answers_left_send(deadline)
        self._epoll.close()

