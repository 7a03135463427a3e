"""Web, worker and analytics, started as the Procfile starts them, stop at once with one line
that names the variable (and says what to create) when their configuration is malformed or
names a database or vhost that does not exist; never with a traceback."""
from __future__ import annotations

import os
import secrets
import subprocess
from urllib.parse import urlsplit

import pytest

from analytics.startup_check import broker_problem, services_problem
from loadtest.service_admin import rabbitmqctl
from loadtest.stack import ROOT, analytics_argv, free_port, web_argv, worker_argv
from purchases.tests.run_env import AMQP, MYSQL, VHOST

MISSING_DATABASE = f"tigle_missing_{secrets.token_hex(3)}"
MISSING_VHOST = f"tigle-missing-{secrets.token_hex(3)}"
DATABASE_AT = "{0.hostname}:{0.port}".format(urlsplit(MYSQL))
BROKER_AT = "{0.hostname}:{0.port}".format(urlsplit(AMQP))
ARGV = {"web": lambda: web_argv(free_port()), "worker": worker_argv, "analytics": analytics_argv}

DATABASE_MISSING = (
    f'DATABASE_URL: database "{MISSING_DATABASE}" does not exist on {DATABASE_AT}; create it '
    f"with: CREATE DATABASE IF NOT EXISTS `{MISSING_DATABASE}` CHARACTER SET utf8mb4")
VHOST_MISSING = (
    f'CELERY_BROKER_URL: vhost "{MISSING_VHOST}" does not exist on {BROKER_AT}; create it '
    f"with: rabbitmqctl add_vhost {MISSING_VHOST} && rabbitmqctl set_permissions -p "
    f"{MISSING_VHOST} guest '.*' '.*' '.*'")


def start(process: str, tmp_path, **env: str) -> subprocess.CompletedProcess:
    """The process on this run's existing database and vhost, but for env."""
    base = {**os.environ, "TIGLE_VAR_DIR": str(tmp_path), "ANALYTICS_LISTEN": "127.0.0.1:0",
            "ANALYTICS_METRICS_LISTEN": "127.0.0.1:0", "ANALYTICS_STATE_DIR": str(tmp_path)}
    return subprocess.run(ARGV[process](), cwd=ROOT, env={**base, **env}, capture_output=True,
                          text=True, timeout=60)


def last_line(result: subprocess.CompletedProcess) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    return lines[-1] if lines else ""


@pytest.mark.parametrize("process", ["web", "worker", "analytics"])
@pytest.mark.parametrize(("env", "expected"), [
    ({"DATABASE_URL": f"{MYSQL}/{MISSING_DATABASE}"}, DATABASE_MISSING),
    ({"CELERY_BROKER_URL": f"{AMQP}/{MISSING_VHOST}"}, VHOST_MISSING),
], ids=["missing-database", "missing-vhost"])
def test_it_stops_naming_what_to_create(tmp_path, process, env, expected):
    result = start(process, tmp_path, **env)
    assert result.returncode != 0
    assert last_line(result) == expected, result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(("process", "name", "value"), [
    ("web", "DATABASE_URL", "mysql//root@127.0.0.1/tigle"),
    ("web", "CELERY_BROKER_URL", "amqp://guest@127.0.0.1:99999//"),
    ("web", "ANALYTICS_ADDRESS", "analytics-without-a-port"),
    ("worker", "DATABASE_URL", "mysql://root@127.0.0.1:port/tigle"),
    ("worker", "CELERY_BROKER_URL", "sqs://queue"),
    ("worker", "DATABASE_URL", "mysql://root@127.0.0.1:3306"),
    ("analytics", "DATABASE_URL", "mysql://root@127.0.0.1:port/tigle"),
    ("analytics", "CELERY_BROKER_URL", "amqp://guest@127.0.0.1:99999//"),
    ("analytics", "ANALYTICS_LISTEN", "nowhere"),
])
def test_it_stops_on_a_malformed_url_in_one_line_naming_it(tmp_path, process, name, value):
    result = start(process, tmp_path, **{name: value})
    assert result.returncode != 0
    line = last_line(result)
    assert name in line and "Error" not in line, result.stderr
    assert "Traceback" not in result.stderr


def test_a_configuration_that_exists_passes():
    assert services_problem(os.environ["DATABASE_URL"], f"{AMQP}/{VHOST}") is None
    # A cluster's node that is down is left to the processes' retries; the next one answers.
    assert broker_problem(f"amqp://guest:guest@127.0.0.1:{free_port()}//;{AMQP}/{VHOST}") is None
    # So is a service that does not answer at all.
    assert services_problem(f"mysql://root@127.0.0.1:{free_port()}/tigle",
                            f"amqp://guest:guest@127.0.0.1:{free_port()}//") is None


def test_it_says_how_to_grant_a_vhost_its_user_may_not_use():
    vhost = f"{VHOST}-{secrets.token_hex(3)}"
    rabbitmqctl("add_vhost", vhost)  # no permissions for anyone
    try:
        problem = broker_problem(f"{AMQP}/{vhost}")
    finally:
        rabbitmqctl("delete_vhost", vhost)
    assert problem.startswith(f'CELERY_BROKER_URL: user "guest" may not use vhost "{vhost}"')
    assert problem.endswith(f"grant it with: rabbitmqctl set_permissions -p {vhost} guest "
                            f"'.*' '.*' '.*'")
