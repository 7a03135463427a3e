"""A small HTTP server that answers 201 to every POST and records what it received, when.

Each answer sets a cookie, as a web behind a sticky load balancer might, so that a test can
check that the load client, like the seed's, never sends one back."""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    at: float
    path: str
    body: dict
    cookie: str | None = None
    idempotency_key: str | None = None


@dataclass
class Recorder:
    server: ThreadingHTTPServer
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def recorder_start(delay: float = 0.0) -> Recorder:
    """delay: seconds each answer takes, so that a day lasts long enough to interfere with."""
    recorder: Recorder

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # else each answer waits for a delayed ACK (40 ms)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if delay:
                time.sleep(delay)
            with recorder.lock:
                recorder.received.append(Received(time.time(), self.path, json.loads(body),
                                                  self.headers.get("Cookie"),
                                                  self.headers.get("Idempotency-Key")))
            answer = b'{"message": "ok"}'
            try:
                self.send_response(201)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.send_header("Set-Cookie", "AWSALB=sticky; Path=/")
                self.end_headers()
                self.wfile.write(answer)
            except (BrokenPipeError, ConnectionResetError):
                pass  # a client stopped while waiting; what it sent is recorded

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    recorder = Recorder(server)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return recorder
