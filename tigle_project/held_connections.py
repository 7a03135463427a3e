"""Which connection each request thread of the web worker holds, and since when; and ending
the hold of a client gone silent (gunicorn_worker.LeanThreadWorker).

Request threads block on their sockets. A client that stops halfway through its request (or a
half-open connection, or one not reading its answer) would hold its thread for good, and as
many of them as threads would stop the process. The worker's main loop calls expire() once a
second; it shuts the kernel socket of a connection held too long, so the thread's recv or send
returns. Not a socket timeout: with one, CPython polls before every recv and send (measured:
a tenth of the ingest rate, BENCHMARKS.md).

A TLS handshake that wrap_socket does itself (`do_handshake_on_connect`) runs before the
connection holds its TLS socket, out of expire()'s reach: HandshakeBoundConn bounds it with
a socket timeout instead, once per connection.
"""
from __future__ import annotations

import socket
import threading
import time

from gunicorn import http
from gunicorn import sock as gunicorn_sock
from gunicorn.workers.gthread import TConn


class HeldConnections:
    def __init__(self, limit_seconds: float | None) -> None:
        self.limit_seconds = limit_seconds  # None: no limit
        # Thread -> (connection, since when). Under the lock, so that a connection let go of
        # (re-armed, handed to a confirmation) is never shut after.
        self._held: dict[int, tuple[TConn, float]] = {}
        self._lock = threading.Lock()

    def holding(self, conn: TConn) -> HeldConnections:
        """`with held.holding(conn):` around the thread's work on conn. A plain context
        manager, not a generator: it runs twice per request."""
        with self._lock:
            self._held[threading.get_ident()] = (conn, time.monotonic())
        return self

    def __enter__(self) -> None:
        pass

    def __exit__(self, *_) -> None:
        with self._lock:
            del self._held[threading.get_ident()]

    def expire(self) -> None:
        """Shut the socket of each connection held longer than the limit."""
        if self.limit_seconds is None:
            return
        since_before = time.monotonic() - self.limit_seconds
        with self._lock:
            for conn, since in self._held.values():
                if since < since_before:
                    try:
                        # The kernel's socket only: SSLSocket.shutdown() would also drop its
                        # TLS state under the thread still using it.
                        socket.socket.shutdown(conn.sock, socket.SHUT_RDWR)
                    except OSError:  # closed meanwhile
                        pass


class HandshakeBoundConn(TConn):
    """gthread's connection; a handshake inside wrap_socket is given limit_seconds."""

    def __init__(self, cfg, sock, client, server, limit_seconds: float | None) -> None:
        super().__init__(cfg, sock, client, server)
        self.limit_seconds = limit_seconds
        # In wrap_socket's handshake: what fails there is the client's, not the server's.
        self.handshaking = False

    def init(self) -> None:
        if not (self.cfg.is_ssl and self.cfg.do_handshake_on_connect):
            super().init()
            return
        # TConn.init and gunicorn's ssl_wrap_socket, with a timeout on the socket while it
        # shakes hands.
        self.initialized = True
        if self.parser is None:
            context = gunicorn_sock.ssl_context(self.cfg)  # a bad certificate raises here
            self.sock.settimeout(self.limit_seconds)  # None: blocking, as gunicorn's own
            self.handshaking = True
            self.sock = context.wrap_socket(self.sock, server_side=True,
                                            suppress_ragged_eofs=self.cfg.suppress_ragged_eofs,
                                            do_handshake_on_connect=True)
            self.handshaking = False
            self.sock.settimeout(None)
            self.parser = http.RequestParser(self.cfg, self.sock, self.client)
