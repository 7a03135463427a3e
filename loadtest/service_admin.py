"""Databases and vhosts that the tests and the benchmark make for themselves on MariaDB and
RabbitMQ. No Django: the test plugin (run_env.py) needs these before the settings are read.
"""
from __future__ import annotations

import subprocess
from urllib.parse import urlsplit


def mysql_execute(server_url: str, sql: str) -> list[tuple]:
    """One statement on the server of a mysql:// URL (no database chosen), committed; its
    rows."""
    import MySQLdb

    parts = urlsplit(server_url)
    connection = MySQLdb.connect(host=parts.hostname, port=parts.port or 3306,
                                 user=parts.username or "root", passwd=parts.password or "",
                                 autocommit=True)
    try:
        cursor = connection.cursor()
        cursor.execute(sql)
        return list(cursor.fetchall())
    finally:
        connection.close()


def rabbitmqctl(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    """rabbitmqctl against this machine's node, where the vhosts are made."""
    return subprocess.run(["rabbitmqctl", "-q", *args], check=check, capture_output=True,
                          text=True, timeout=60)


def vhost_add(amqp_url: str, vhost: str) -> None:
    """A vhost on which the user of the amqp:// URL may do anything."""
    rabbitmqctl("add_vhost", vhost)
    rabbitmqctl("set_permissions", "-p", vhost, urlsplit(amqp_url).username or "guest",
                ".*", ".*", ".*")
