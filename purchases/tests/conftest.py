from __future__ import annotations

import os
import secrets
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings
from kombu import Connection

from purchases.events import DB_QUEUE
from purchases.tests.proxy import FaultProxy
from purchases.tests.run_env import AMQP, VHOST
from loadtest.service_admin import rabbitmqctl, vhost_add
from purchases.broker.topology import topology_declare
from loadtest.stack import Process, analytics_start, web_start, worker_start


def queue_depth(connection: Connection, name: str) -> int:
    """Messages ready in a queue, from the broker itself."""
    channel = connection.channel()
    try:
        return channel.queue_declare(name, passive=True).message_count
    finally:
        channel.close()


@pytest.fixture
def broker():
    with Connection(settings.CELERY_BROKER_URL) as connection:
        topology_declare(connection)
        yield connection


@pytest.fixture
def test_database_url(django_db_setup) -> str:
    """DATABASE_URL of pytest-django's test database, for processes the tests start."""
    parts = urllib.parse.urlsplit(os.environ["DATABASE_URL"])
    return parts._replace(path="/" + settings.DATABASES["default"]["NAME"]).geturl()


def proxied(url: str, proxy: FaultProxy) -> str:
    parts = urllib.parse.urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)
    auth = netloc[0] + "@" if len(netloc) == 2 else ""
    return parts._replace(netloc=f"{auth}127.0.0.1:{proxy.port}").geturl()


@dataclass
class Stack:
    """web and worker processes started by a test, with the URLs they use."""

    env: dict[str, str]
    log_dir: Path
    database_url: str
    base: str = ""
    web: Process | None = None
    worker: Process | None = None
    proxies: list[FaultProxy] = field(default_factory=list)
    analytics: dict[str, tuple[Process, str]] = field(default_factory=dict)

    def start_worker(self, **env: str) -> Process:
        self.worker = worker_start({**self.env, **env}, self.log_dir)
        return self.worker

    def start_web(self, **env: str) -> Process:
        self.web, self.base = web_start({**self.env, **env}, self.log_dir)
        return self.web

    def proxy(self, url: str) -> tuple[FaultProxy, str]:
        """A proxy a test can cut to the server at url, closed with the stack; and url
        through it."""
        proxy = FaultProxy.to(url)
        self.proxies.append(proxy)
        return proxy, proxied(url, proxy)

    def start_analytics(self, name: str = "analytics", **env: str) -> tuple[Process, str]:
        """An analytics replica with its own port and state folder, kept across restarts."""
        port = int(self.analytics[name][1].rpartition(":")[2]) if name in self.analytics else None
        self.analytics[name] = analytics_start({**self.env, **env}, self.log_dir, name=name,
                                               port=port, state_dir=self.log_dir / name)
        return self.analytics[name]

    def stop(self) -> None:
        for process in (self.web, self.worker, *(p for p, _ in self.analytics.values())):
            if process is not None:
                process.stop()
        for proxy in self.proxies:
            proxy.close()


@pytest.fixture
def stack(transactional_db, test_database_url, broker, tmp_path, request):
    """A web and worker pair of this test's own on the run's database and vhost."""
    broker.default_channel.queue_purge(DB_QUEUE)  # leftovers of in-process API tests
    env = {**os.environ, "DATABASE_URL": test_database_url}
    running = Stack(env=env, log_dir=tmp_path / "logs", database_url=test_database_url)
    yield running
    running.stop()
    if request.node.rep_call.failed if hasattr(request.node, "rep_call") else False:
        for name in ("web", "worker", *running.analytics):
            log = running.log_dir / f"{name}.log"
            if log.exists():
                print(f"--- {name}.log ---\n{log.read_text()[-5000:]}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture
def own_stack(stack):
    """The stack on a vhost of this test's own: a stream cannot be purged between tests."""
    vhost = f"{VHOST}-{secrets.token_hex(3)}"
    vhost_add(AMQP, vhost)
    stack.env["CELERY_BROKER_URL"] = f"{AMQP}/{vhost}"
    stack.vhost = vhost
    yield stack
    stack.stop()
    rabbitmqctl("delete_vhost", vhost)
