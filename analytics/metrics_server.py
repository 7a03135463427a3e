"""A Prometheus metrics HTTP server that answers only the clients METRICS_ALLOWED_CIDRS allows.

analytics serves its metrics with it, and the Celery worker (which may import analytics,
never the other way round) too. prometheus_client's own start_http_server takes no client
filter, so this is the WSGI form its documentation shows (make_wsgi_app under wsgiref),
behind the check of analytics/metrics_access.py.
"""
from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import REGISTRY, make_wsgi_app
from prometheus_client.registry import CollectorRegistry

from analytics.setting_values import host_port_split
from analytics.metrics_access import Network, address_allowed, forwarded_allowed

log = logging.getLogger(__name__)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """A scrape every few seconds is not news; errors still reach the log."""


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    # A slow scraper must not hold up another, nor the process's exit.
    daemon_threads = True


class _ThreadingServer6(_ThreadingServer):
    address_family = socket.AF_INET6


def filtered_app(networks: tuple[Network, ...],
                 registry: CollectorRegistry = REGISTRY) -> Callable:
    """prometheus_client's WSGI app, answered only to clients inside networks (403 else)."""
    metrics = make_wsgi_app(registry)

    def app(environ: dict, start_response: Callable) -> list[bytes]:
        if not (address_allowed(environ.get("REMOTE_ADDR", ""), networks)
                and forwarded_allowed(environ.get("HTTP_X_FORWARDED_FOR"), networks)):
            start_response("403 Forbidden", [("Content-Type", "text/plain")])
            return [b"metrics are not served to this address\n"]
        return metrics(environ, start_response)

    return app


def metrics_serve(address: str, networks: tuple[Network, ...],
                  registry: CollectorRegistry = REGISTRY) -> WSGIServer:
    """Serve the registry on address ("host:port", port 0 picks one) from a daemon thread;
    the returned server's server_address tells where."""
    host, port = host_port_split(address, listening=True)
    server = make_server(host, port, filtered_app(networks, registry),
                         server_class=_ThreadingServer6 if ":" in host else _ThreadingServer,
                         handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True).start()
    log.info("metrics on http://%s:%d/metrics", host, server.server_address[1])
    return server
