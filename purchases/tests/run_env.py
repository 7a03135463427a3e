"""A pytest plugin (pytest.ini: -p purchases.tests.run_env) that gives every test run its own
MariaDB database, RabbitMQ vhost and Redis key space, and removes those of killed runs.

It is loaded before pytest-django reads the settings, which a conftest.py would be too late
for. Outside services come from TIGLE_TEST_MYSQL, TIGLE_TEST_AMQP and TIGLE_TEST_REDIS
(defaults: this machine's local services).
"""

from __future__ import annotations

import os

import pytest

from purchases.tests.leftovers import leftovers_remove, run_id
from loadtest.service_admin import mysql_execute, rabbitmqctl, vhost_add

RUN_ID = run_id()
MYSQL = os.environ.get("TIGLE_TEST_MYSQL", "mysql://root@127.0.0.1:3306")
AMQP = os.environ.get("TIGLE_TEST_AMQP", "amqp://guest:guest@127.0.0.1:5672")
REDIS = os.environ.get("TIGLE_TEST_REDIS", "redis://127.0.0.1:6379/0")
VHOST = f"tigle-test-{RUN_ID}"

os.environ.update(
    {
        # pytest-django creates and drops test_<name>; processes the tests start use that.
        "DATABASE_URL": f"{MYSQL}/tigle_{RUN_ID}",
        "CELERY_BROKER_URL": f"{AMQP}/{VHOST}",
        "REDIS_URL": REDIS,
        "DJANGO_SECRET_KEY": f"test-{RUN_ID}",
        "TIGLE_BATCH_SECONDS": "0.05",
    }
)
for name in ("TIGLE_WRITE_MODE", "TIGLE_DURABLE", "DJANGO_DEBUG", "TIGLE_VAR_DIR"):
    os.environ.pop(name, None)


@pytest.fixture(scope="session", autouse=True)
def rabbitmq_vhost():
    """A vhost of this run's own, removed (with every queue in it) at the end."""
    leftovers_remove(MYSQL)
    vhost_add(AMQP, VHOST)
    yield VHOST
    rabbitmqctl("delete_vhost", VHOST)


@pytest.fixture(scope="session", autouse=True)
def run_database():
    """The database DATABASE_URL names, left empty (pytest-django's test database is another):
    a process a test starts on this environment as it is passes the start-up check that
    stops one whose database does not exist (tigle_project/startup.py)."""
    name = f"tigle_{RUN_ID}"
    mysql_execute(MYSQL, f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4")
    yield name
    mysql_execute(MYSQL, f"DROP DATABASE IF EXISTS `{name}`")


@pytest.fixture(autouse=True)
def filesystem_broker_state(monkeypatch):
    """Each test starts with kombu's filesystem-broker state empty.

    kombu keeps that broker's exchanges and bindings in one object per process, not in its
    folders: a binding an earlier test made in a folder of its own would pass for made in
    this test's, and a message published here would reach no queue.
    """
    from kombu.transport import filesystem, virtual

    monkeypatch.setattr(filesystem.Transport, "global_state", virtual.BrokerState())
