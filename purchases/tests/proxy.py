"""A TCP proxy that a test can cut: the real MariaDB or RabbitMQ behind it goes unreachable
for the processes that connect through it, without stopping the shared server."""
from __future__ import annotations

import select
import socket
import threading
import urllib.parse

POLL_SECONDS = 0.05
DEFAULT_PORTS = {"amqp": 5672, "mysql": 3306}


class FaultProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.up = True
        self.closed = False
        self.held: frozenset[str] = frozenset()  # "requests", "replies"
        self.lock = threading.Lock()
        self.sockets: set[socket.socket] = set()
        self.passing: set[threading.Lock] = set()  # one per connection, held while passing data
        threading.Thread(target=self._accept_loop, daemon=True).start()

    @classmethod
    def to(cls, url: str) -> FaultProxy:
        """A proxy to the server of an amqp:// or mysql:// URL."""
        parts = urllib.parse.urlsplit(url)
        return cls(parts.hostname, parts.port or DEFAULT_PORTS[parts.scheme])

    def _accept_loop(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up:
                client.close()  # refused, as by a host that is down
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.sockets.update((client, upstream))
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, client: socket.socket, upstream: socket.socket) -> None:
        peers = {client: upstream, upstream: client}
        directions = {client: "requests", upstream: "replies"}
        passing = threading.Lock()
        with self.lock:
            self.passing.add(passing)
        try:
            while True:
                # What a held direction sends waits in its socket, unread.
                watched = [sock for sock in peers if directions[sock] not in self.held]
                readable, _, _ = select.select(watched, [], [], POLL_SECONDS)
                if not self.up or self.closed:
                    return
                for sock in readable:
                    with passing:
                        if directions[sock] in self.held:  # held while select() waited
                            continue
                        data = sock.recv(65536)
                        if not data:
                            return
                        peers[sock].sendall(data)
        except (OSError, ValueError):  # cut() closed the sockets under select()
            return
        finally:
            with self.lock:
                self.passing.discard(passing)
            self._close(client, upstream)

    def _close(self, *socks: socket.socket) -> None:
        with self.lock:
            for sock in socks:
                self.sockets.discard(sock)
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()

    def cut(self) -> None:
        """Drop every connection through the proxy and refuse new ones."""
        self.up = False
        with self.lock:
            socks = list(self.sockets)
        self._close(*socks)

    def hold(self, *, requests: bool = False) -> None:
        """Keep connections open but pass nothing from the server (a broker gone silent),
        and with requests=True nothing to it either (a network gone silent)."""
        self.held = frozenset({"replies", "requests"} if requests else {"replies"})
        with self.lock:
            passing = list(self.passing)
        for lock in passing:  # data being passed on is through when this returns
            with lock:
                pass

    def release(self) -> None:
        self.held = frozenset()

    def restore(self) -> None:
        self.up = True

    def close(self) -> None:
        self.closed = True
        self.cut()
        self.listener.close()
