"""Kept-alive HTTP/1.1 connections driven from one thread: requests sent at given times.

h11 speaks the protocol (framing, keep-alive, a server that closes after each answer); this
module only decides when each request goes out and on which connection, and reads answers
as they come. Sockets are non-blocking (one with a timeout polls before every send and
receive): a purchase fits an idle connection's buffer, and answers are read once epoll says
they are there.
"""
from __future__ import annotations

import select
import selectors
import socket
import time
from collections import deque
from collections.abc import Iterator
from typing import NamedTuple

import h11

READ_BYTES = 65536
# How often requests still unanswered are checked against the answer timeout.
EXPIRY_CHECK_SECONDS = 1.0


class Request(NamedTuple):
    path: str
    body: bytes
    store: int
    idempotency_key: str = ""  # sent as the Idempotency-Key header when set


class Answer(NamedTuple):
    index: int  # of the request, in the order they were given
    due: float  # time.monotonic() when it was due to go out
    latency_s: float  # from due to the last byte of the answer, or to the failure
    status: int  # 0: no answer (connection refused, reset or closed, or timed out)


class _Connection:
    def __init__(self, address: tuple[str, int], timeout: float) -> None:
        self.address, self.timeout = address, timeout
        self.sock: socket.socket | None = None
        self.http = h11.Connection(h11.CLIENT)
        self.index = -1  # the request in flight, if any
        self.sent_at = 0.0
        self.status = 0

    def open(self) -> None:
        self.sock = socket.create_connection(self.address, timeout=self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.setblocking(False)
        self.http = h11.Connection(h11.CLIENT)

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def send(self, request: Request, host: str) -> None:
        headers = [("Host", host), ("Content-Type", "application/json"),
                   ("Content-Length", str(len(request.body)))]
        if request.idempotency_key:
            headers.append(("Idempotency-Key", request.idempotency_key))
        self.sock.sendall(b"".join([
            self.http.send(h11.Request(method="POST", target=request.path, headers=headers)),
            self.http.send(h11.Data(data=request.body)),
            self.http.send(h11.EndOfMessage()),
        ]))

    def receive(self) -> bool:
        """Whether the answer is complete; raises OSError or h11.ProtocolError if it broke."""
        self.http.receive_data(self.sock.recv(READ_BYTES))
        while True:
            event = self.http.next_event()
            if event is h11.NEED_DATA:
                return False
            if isinstance(event, h11.Response):
                self.status = event.status_code
            elif isinstance(event, h11.EndOfMessage):
                return True
            elif isinstance(event, h11.ConnectionClosed):
                raise ConnectionError("the server closed the connection before answering")

    def ready_for_next(self) -> None:
        """Keep-alive where both sides allow it; else a new connection."""
        if self.http.our_state is h11.DONE and self.http.their_state is h11.DONE:
            self.http.start_next_cycle()
        else:
            self.close()
            self.open()


class ConnectionPool:
    """connections kept-alive connections to host:port, opened on entry."""

    def __init__(self, host: str, port: int, connections: int, *, timeout: float = 30) -> None:
        self.host_header = host if port == 80 else f"{host}:{port}"
        self.timeout = timeout
        self._connections = [_Connection((host, port), timeout) for _ in range(connections)]
        self._selector = selectors.DefaultSelector()

    def __enter__(self) -> ConnectionPool:
        for connection in self._connections:
            connection.open()
        return self

    def __exit__(self, *exc_info) -> None:
        for connection in self._connections:
            connection.close()
        self._selector.close()

    def run_at(self, requests: list[Request], dues: list[float]) -> Iterator[Answer]:
        """Send requests[i] at time.monotonic() dues[i] (ascending), or as soon after as a
        connection is idle; yield each answer as it completes."""
        idle = deque(self._connections)  # the longest idle first: load spreads over them all
        backlog: deque[int] = deque()
        in_flight: set[_Connection] = set()
        next_due, next_check = 0, time.monotonic() + EXPIRY_CHECK_SECONDS
        while next_due < len(requests) or backlog or in_flight:
            now = time.monotonic()
            while next_due < len(requests) and dues[next_due] <= now:
                backlog.append(next_due)
                next_due += 1
            while backlog and idle:
                connection, index = idle.popleft(), backlog.popleft()
                in_flight.add(connection)
                try:
                    self._send(connection, index, requests[index])
                except (OSError, h11.ProtocolError):
                    yield self._settle(connection, False, dues, idle, in_flight)
            wait = dues[next_due] - time.monotonic() if next_due < len(requests) else (
                EXPIRY_CHECK_SECONDS)
            for key, _ in self._ready(wait):
                connection = key.data
                try:
                    if not connection.receive():
                        continue
                except (OSError, h11.ProtocolError):
                    yield self._settle(connection, False, dues, idle, in_flight)
                    continue
                yield self._settle(connection, True, dues, idle, in_flight)
            if time.monotonic() >= next_check:
                next_check = time.monotonic() + EXPIRY_CHECK_SECONDS
                for connection in [c for c in in_flight
                                   if next_check - c.sent_at > self.timeout + 1]:
                    yield self._settle(connection, False, dues, idle, in_flight)

    def _ready(self, wait: float) -> list:
        """epoll's own timeout is whole milliseconds (an arrival would go out up to 1 ms
        late); select() on the epoll descriptor itself waits to the microsecond."""
        if wait > 0:
            select.select([self._selector.fileno()], [], [], wait)
        return self._selector.select(0)

    def _send(self, connection: _Connection, index: int, request: Request) -> None:
        connection.index, connection.sent_at = index, time.monotonic()
        connection.status = 0
        if connection.sock is None:
            connection.open()
        connection.send(request, self.host_header)
        self._selector.register(connection.sock, selectors.EVENT_READ, connection)

    def _settle(self, connection: _Connection, answered: bool, dues: list[float],
                idle: deque, in_flight: set) -> Answer:
        """The answer of connection's request, or its failure (status 0); the connection
        goes back to the idle ones, broken ones closed to be opened at their next request."""
        index = connection.index
        answer = Answer(index, dues[index], time.monotonic() - dues[index],
                        connection.status if answered else 0)
        in_flight.discard(connection)
        if connection.sock is not None and connection.sock.fileno() in self._selector.get_map():
            self._selector.unregister(connection.sock)
        try:
            if answered:
                connection.ready_for_next()
            else:
                connection.close()
        except OSError:
            connection.close()
        idle.append(connection)
        return answer
