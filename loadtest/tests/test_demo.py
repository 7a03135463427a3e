"""make demo's main job, for real: embedded, and on MariaDB + RabbitMQ of its own."""
import os
import subprocess
import sys

import pytest

from purchases.tests.run_env import AMQP, MYSQL, RUN_ID, VHOST
from loadtest.service_admin import mysql_execute, rabbitmqctl, vhost_add
from loadtest.stack import ROOT

pytestmark = pytest.mark.slow
OUTSIDE = ("DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL", "DJANGO_SECRET_KEY")


def demo(**env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in OUTSIDE}
    return subprocess.run([sys.executable, "-m", "loadtest.demo"], cwd=ROOT,
                          env={**base, **env}, capture_output=True, text=True, timeout=600)


def assert_demo_passed(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "OK: every accepted purchase is in the database" in result.stdout
    assert "successful requests: 4320" in result.stdout and "failed requests:     0" in result.stdout
    assert "top 10 items of store 1" in result.stdout and "top 5 stores of item" in result.stdout


def test_the_demo_passes_on_the_embedded_defaults(tmp_path):
    assert_demo_passed(demo(DEMO_RESULTS=str(tmp_path)))


def test_the_demo_passes_on_mariadb_and_rabbitmq(tmp_path):
    name = f"tigle_{RUN_ID}_demo"
    mysql_execute(MYSQL, f"CREATE DATABASE {name}")
    vhost = f"{VHOST}-demo"
    vhost_add(AMQP, vhost)
    try:
        result = demo(DATABASE_URL=f"{MYSQL}/{name}", CELERY_BROKER_URL=f"{AMQP}/{vhost}",
                      DJANGO_SECRET_KEY="demo-test", DEMO_RESULTS=str(tmp_path))
        assert "on configured services" in result.stdout
        assert_demo_passed(result)
    finally:
        mysql_execute(MYSQL, f"DROP DATABASE {name}")
        rabbitmqctl("delete_vhost", vhost)
