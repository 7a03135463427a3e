"""The web worker's half of answer_later.py: gthread's request handling, but a response
that waits for a confirmation is rendered into memory, its thread goes on, and the thread
that settles the confirmation sends it (or the refusal) and hands the connection back.

A mixin for LeanThreadWorker (gunicorn_worker.py), which provides the request queue
(`_requests`, where an Unsent goes for a thread to finish), `_conns_lock`, the count of
waiting responses (`_waiting`), and `_rearm` / `_close` for the connection afterwards.

handle_request is gunicorn 23's gthread method but for the lines marked answer_later, a
chunked body left unread drained or the connection closed (pipelining.py), and the settings
it reads on every request read once (`settings_read`; marked once): an upgrade must re-read
it.
"""
from __future__ import annotations

import queue
import socket
import sys
import time
from dataclasses import dataclass
from datetime import datetime

from gunicorn import glogging, util
from gunicorn.http import wsgi
from gunicorn.workers.gthread import TConn

from tigle_project import answer_later
from tigle_project.pipelining import chunked_body_drained

LATER = "answered later"  # handle_request's keep-alive answer when the response waits


class _Rendered:
    """The socket a waiting response is written to: it keeps the bytes for later."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def sendall(self, data: bytes) -> None:
        self.parts.append(bytes(data))

    def data(self) -> bytes:
        return b"".join(self.parts)


@dataclass(eq=False)
class Unsent:
    """The rest of a waiting response the socket did not take at once: a thread sends it."""

    conn: TConn
    data: bytes
    keep: bool


def access_logged(cfg) -> bool:
    """Whether gunicorn 23's Logger.access would log anything; another logger class decides
    for itself on every call."""
    if cfg.logger_class is not glogging.Logger:
        return True
    return bool(cfg.accesslog or cfg.logconfig or cfg.logconfig_dict or cfg.logconfig_json
                or (cfg.syslog and not cfg.disable_redirect_access_to_syslog))


class AnswerLater:
    """handle_request, and sending what waits once it is settled."""

    def settings_read(self) -> None:
        """The settings handle_request needs, read once per worker: each read through
        gunicorn's Config is a lookup, ~7 us per request in all, and the access log's check
        alone 3 us when it is off. A reloaded configuration comes with new workers."""
        cfg = self.cfg
        self._pre_request, self._post_request = cfg.pre_request, cfg.post_request
        self._is_ssl, self._keepalive = bool(cfg.is_ssl), cfg.keepalive
        self._access_logged = access_logged(cfg)

    def handle_request(self, req, conn):
        """gthread's handle_request, but a response that waits for a confirmation is
        rendered into memory and sent later (the lines marked answer_later)."""
        environ = {}
        resp = None
        try:
            self._pre_request(self, req)  # once
            request_start = datetime.now()
            resp, environ = wsgi.create(req, conn.sock, conn.client,
                                        conn.server, self.cfg)
            environ["wsgi.multithread"] = True
            # answer_later: plain sockets only (a TLS socket takes no MSG_DONTWAIT).
            environ[answer_later.CAPABLE] = not self._is_ssl  # once
            self.nr += 1
            if self.nr >= self.max_requests:
                if self.alive:
                    self.log.info("Autorestarting worker after current request.")
                    self.alive = False
                resp.force_close()

            if not self.alive or not self._keepalive:  # once
                resp.force_close()
            elif len(self._keep) >= self.max_keepalived:
                resp.force_close()

            respiter = self.wsgi(environ, resp.start_response)
            if not chunked_body_drained(req, conn.sock):  # pipelining.py
                resp.force_close()
            pending = environ.get(answer_later.PENDING)
            if pending is not None:  # answer_later
                resp.sock = _Rendered()
            try:
                if isinstance(respiter, environ['wsgi.file_wrapper']):
                    resp.write_file(respiter)
                else:
                    for item in respiter:
                        resp.write(item)

                resp.close()
            finally:
                request_time = datetime.now() - request_start
                # answer_later: a waiting response is logged once sent, with its own status.
                if self._access_logged and pending is None:  # once
                    self.log.access(resp, req, environ, request_time)
                if hasattr(respiter, "close"):
                    respiter.close()

            if pending is not None:  # answer_later
                self._answer_when_settled(conn, req, resp, pending, environ, request_start)
                return LATER
            if resp.should_close():
                self.log.debug("Closing connection.")
                return False
        except OSError:
            # pass to next try-except level
            util.reraise(*sys.exc_info())
        except Exception:
            if resp and resp.headers_sent:
                # If the requests have already been sent, we should close the
                # connection to indicate the error.
                self.log.exception("Error handling request")
                try:
                    conn.sock.shutdown(socket.SHUT_RDWR)
                    conn.sock.close()
                except OSError:
                    pass
                raise StopIteration()
            raise
        finally:
            try:
                self._post_request(self, req, environ, resp)  # once
            except Exception:
                self.log.exception("Exception in post_request hook")

        return True

    def _answer_when_settled(self, conn: TConn, req, resp, pending: answer_later.Pending,
                             environ: dict, request_start: datetime) -> None:
        ready, keep = resp.sock.data(), not resp.should_close()
        with self._conns_lock:
            self._waiting += 1

        def settled(error: str | None) -> None:
            # Runs on the thread that settles it (the publisher's reader, mostly): never raises.
            try:
                if error is None:
                    sent, data = resp, ready
                else:
                    sent = self._refusal(req, resp, pending.refusal())
                    data = sent.sock.data()
                self._send(conn, data, keep)
            except Exception:
                self.log.exception("dropping the connection from %s", conn.client)
                self._done_waiting(conn, keep=False)
                return
            if self._access_logged:
                try:
                    self.log.access(sent, req, environ, datetime.now() - request_start)
                except Exception:
                    self.log.exception("access log of a request from %s", conn.client)

        pending.confirmation.then(settled)

    def _refusal(self, req, ready, refusal) -> wsgi.Response:
        """The refusal with the waiting response's headers (security headers and all),
        rendered: its sock holds the bytes."""
        resp = wsgi.Response(req, _Rendered(), self.cfg)
        if ready.must_close:
            resp.force_close()
        own = {name.lower() for name, _ in refusal.items()} | {"content-length"}
        headers = [(name, value) for name, value in ready.headers if name.lower() not in own]
        headers += [*refusal.items(), ("Content-Length", str(len(refusal.content)))]
        resp.start_response(f"{refusal.status_code} {refusal.reason_phrase}", headers)
        resp.write(refusal.content)
        resp.close()
        return resp

    def _send(self, conn: TConn, data: bytes, keep: bool) -> None:
        try:
            # Not blocking the settling thread: a client that does not read gets a thread.
            sent = conn.sock.send(data, socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            self._done_waiting(conn, keep=False)
            return
        if sent < len(data):
            self._requests.put(Unsent(conn, data[sent:], keep))
            return
        self._done_waiting(conn, keep)

    def _send_rest(self, unsent: Unsent) -> None:
        try:
            unsent.conn.sock.sendall(unsent.data)
        except OSError:
            unsent.keep = False
        self._done_waiting(unsent.conn, unsent.keep)

    def _done_waiting(self, conn: TConn, keep: bool) -> None:
        try:
            if keep and self.alive:
                self._rearm(conn)
            else:
                self._close(conn)
        except (OSError, ValueError):  # the epoll closed at shutdown
            self._close(conn)
        finally:
            with self._conns_lock:
                self._waiting -= 1

    def _answers_left_send(self, deadline: float) -> None:
        """At shutdown, once the request threads stopped: the responses waiting for a
        confirmation are sent (or refused) within the publish timeout. One that did not fit
        in its socket at once was queued for a request thread: this thread sends the rest."""
        while self._waiting and time.monotonic() < deadline:
            try:
                left = self._requests.get(timeout=0.05)
            except queue.Empty:
                continue
            if isinstance(left, Unsent):
                left.conn.sock.settimeout(max(0.05, deadline - time.monotonic()))
                self._send_rest(left)
            elif isinstance(left, TConn):
                self._close(left)  # handed over after the stop: never read
