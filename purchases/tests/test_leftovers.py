"""A killed run's databases and vhosts go at the next run's start; a live run's stay."""
import subprocess
import sys

import pytest

from purchases.tests.leftovers import HOST_TAG, leftovers_remove
from purchases.tests.run_env import MYSQL, RUN_ID, VHOST
from loadtest.service_admin import mysql_execute, rabbitmqctl


def databases() -> set[str]:
    return {name for (name,) in mysql_execute(MYSQL, "SHOW DATABASES")}


def vhosts() -> set[str]:
    return set(rabbitmqctl("list_vhosts", "name").stdout.split())


@pytest.mark.django_db  # so that this run's own test database exists
def test_a_killed_runs_leftovers_go_and_nothing_else():
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          check=True, capture_output=True, text=True).stdout.strip()
    killed = f"{HOST_TAG}_{dead}_abc123"
    other_host = f"{'000000' if HOST_TAG != '000000' else '111111'}_{dead}_abc123"
    left = {f"tigle_{killed}", f"test_tigle_{killed}_gw1", f"tigle_{killed}_demo"}
    kept = {f"tigle_{other_host}", "tigle_bench_copy"}
    left_vhosts = {f"tigle-test-{killed}", f"tigle-test-{killed}-0a1b2c"}
    kept_vhosts = {f"tigle-test-{other_host}"}
    for name in left | kept:
        mysql_execute(MYSQL, f"CREATE DATABASE `{name}`")
    for name in left_vhosts | kept_vhosts:
        rabbitmqctl("add_vhost", name)
    try:
        removed = leftovers_remove(MYSQL)
        # Another run starting now could sweep some of them first: then they are gone anyway.
        assert set(removed) <= left | left_vhosts
        assert not (left & databases()) and not (left_vhosts & vhosts())
        assert kept <= databases() and kept_vhosts <= vhosts()
        # This run's own, its process alive, stay.
        assert VHOST in vhosts() and any(RUN_ID in name for name in databases())
    finally:
        for name in left | kept:
            mysql_execute(MYSQL, f"DROP DATABASE IF EXISTS `{name}`")
        for name in (left_vhosts | kept_vhosts) & vhosts():
            rabbitmqctl("delete_vhost", name)
