"""One line that says what to create, when DATABASE_URL or CELERY_BROKER_URL names a MariaDB
database or a RabbitMQ vhost that does not exist (or that its user may not use).

Web and worker (tigle_project/startup.py) and analytics (__main__.py) stop at start with it.
Only the server's definite refusal counts: a service that is down or slow is left to each
process's own retries, so a stack can still start before its database or broker.
Standard library, py-amqp and mysqlclient only: analytics never imports Django.
"""
from __future__ import annotations

import shlex
from urllib.parse import parse_qs, unquote, urlsplit

import amqp
from amqp.exceptions import NotAllowed

from analytics.broker import BROKER_ERRORS, node_options

CHECK_SECONDS = 3
# MariaDB's answers to a connection that names a database: unknown, or not this user's (what
# a user without global rights is told whether or not the database exists).
UNKNOWN_DATABASE = 1049
DATABASE_ACCESS_DENIED = 1044


def database_problem(url: str) -> str | None:
    """Why DATABASE_URL's database cannot be used, in one line; None if it can, or if the
    server could not be asked."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        return None  # made on first use
    if malformed := _address_problem("DATABASE_URL", url):
        return malformed
    import MySQLdb

    host, port = parts.hostname or "127.0.0.1", parts.port or 3306
    name, user = unquote(parts.path.lstrip("/")), unquote(parts.username or "root")
    if not name:
        return "DATABASE_URL: names no database (mysql://USER:PASSWORD@HOST:PORT/DATABASE)"
    ca = parse_qs(parts.query).get("ssl_ca")
    try:
        MySQLdb.connect(host=host, port=port, user=user, passwd=unquote(parts.password or ""),
                        db=name, connect_timeout=CHECK_SECONDS,
                        **({"ssl": {"ca": ca[-1]}} if ca else {})).close()
    except MySQLdb.OperationalError as exc:
        code = exc.args[0] if exc.args else None
        create = f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4"
        if code == UNKNOWN_DATABASE:
            return (f'DATABASE_URL: database "{name}" does not exist on {host}:{port}; '
                    f"create it with: {create}")
        if code == DATABASE_ACCESS_DENIED:
            return (f'DATABASE_URL: user "{user}" may not use database "{name}" on '
                    f"{host}:{port}, or it does not exist; create it and grant it with: "
                    f"{create}; GRANT ALL ON `{name}`.* TO '{user}'@'%'")
    return None


def broker_problem(url: str) -> str | None:
    """Why CELERY_BROKER_URL's vhost cannot be used, in one line; None if it can, or if no
    node could be asked. A ';'-separated list is a cluster: the first node that answers."""
    if urlsplit(url).scheme not in ("amqp", "amqps", "pyamqp"):
        return None  # the embedded filesystem broker makes its folders itself
    if malformed := _address_problem("CELERY_BROKER_URL", url):
        return malformed
    for node in url.split(";"):
        options = node_options(node)
        connection = amqp.Connection(**options, connect_timeout=CHECK_SECONDS)
        try:
            connection.connect()
        except NotAllowed as exc:
            connection.collect()
            return _vhost_refused(options, str(exc.reply_text))
        except BROKER_ERRORS:
            connection.collect()
            continue
        connection.close()
        return None
    return None


def _address_problem(name: str, url: str) -> str | None:
    for one in url.split(";"):
        try:
            urlsplit(one).port  # raises for a port that is not a number from 0 to 65535
        except ValueError as exc:
            return f"{name}: {exc}"
    return None


def _vhost_refused(options: dict, reply: str) -> str:
    vhost, user, where = options["virtual_host"], options["userid"], options["host"]
    grant = (f"rabbitmqctl set_permissions -p {shlex.quote(vhost)} {shlex.quote(user)} "
             f"'.*' '.*' '.*'")
    if "not found" in reply:
        return (f'CELERY_BROKER_URL: vhost "{vhost}" does not exist on {where}; create it '
                f"with: rabbitmqctl add_vhost {shlex.quote(vhost)} && {grant}")
    return (f'CELERY_BROKER_URL: user "{user}" may not use vhost "{vhost}" on {where} '
            f"({reply}); grant it with: {grant}")


def services_problem(database_url: str, broker_url: str) -> str | None:
    """The first of database_problem and broker_problem that finds one."""
    return database_problem(database_url) or broker_problem(broker_url)
