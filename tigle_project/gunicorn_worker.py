"""gunicorn's gthread worker with a main loop that does not poll its request futures.

gunicorn 23's loop calls futures.wait(every queued request, timeout=0) after each poll,
taking each future's lock: with a store's kept-alive connections queued behind 8 threads
that is ~100 locks per wakeup, and py-spy put it and the loop at a quarter of the web
process's Python time under load. Here each future leaves the set when it finishes (its
done callback), so the loop only polls. Liveness is still reported, once a second
instead of on every wakeup (gunicorn's worker timeout is 30 s).

Written against gunicorn 23.0 (requirements.txt pins it); gunicorn 27 rewrote this loop
and measured slower here (BENCHMARKS.md).
"""
from __future__ import annotations

import selectors
import time
from concurrent import futures
from functools import partial

from gunicorn.workers.gthread import ThreadWorker

NOTIFY_EVERY_SECONDS = 1.0


class LeanThreadWorker(ThreadWorker):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.futures = set()

    def _wrap_future(self, fs, conn) -> None:
        fs.conn = conn
        self.futures.add(fs)
        fs.add_done_callback(self.finish_request)
        fs.add_done_callback(self.futures.discard)

    def run(self) -> None:
        for sock in self.sockets:
            sock.setblocking(False)
            # Captured once: during a graceful shutdown the name may be gone (as gunicorn does).
            server = sock.getsockname()
            self.poller.register(sock, selectors.EVENT_READ, partial(self.accept, server))

        notified = 0.0
        while self.alive:
            now = time.monotonic()
            if now - notified >= NOTIFY_EVERY_SECONDS:
                self.notify()
                notified = now
            if self.nr_conns < self.worker_connections:
                for key, _ in self.poller.select(1.0):
                    key.data(key.fileobj)
            else:
                # Full: accept nothing until a request finishes.
                futures.wait(list(self.futures), timeout=1.0,
                             return_when=futures.FIRST_COMPLETED)
            if not self.is_parent_alive():
                break
            self.murder_keepalived()

        self.tpool.shutdown(False)
        self.poller.close()
        for sock in self.sockets:
            sock.close()
        futures.wait(list(self.futures), timeout=self.cfg.graceful_timeout)
