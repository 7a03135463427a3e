"""Test runs name their databases and vhosts after this host (its name and pid namespace) and
their process, so that a run can remove what earlier runs left behind when they were killed
(SIGKILL, a CI timeout: no teardown runs), and only that: names of other hosts or containers
sharing the services, and of processes still running here, are left alone. A leftover vhost
can hold a stream of up to 5 GiB.
"""
from __future__ import annotations

import hashlib
import os
import re
import secrets
import socket
import subprocess

from loadtest.service_admin import mysql_execute, rabbitmqctl


def _pid_namespace() -> str:
    """Containers may share a host name and the services, each with pids of its own."""
    try:
        return str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        return ""


HOST_TAG = hashlib.sha256(f"{socket.gethostname()}/{_pid_namespace()}".encode()).hexdigest()[:6]
# tigle_<run>, test_tigle_<run>[_gw0] and tigle_<run>_demo; vhosts tigle-test-<run>[-...].
_OURS = re.compile(rf"^(?:test_)?tigle(?:-test-|_){HOST_TAG}_(\d+)_[0-9a-f]{{6}}(?:$|[-_])")


def run_id() -> str:
    """This process's run: host, pid and a random part (a pid is reused in time)."""
    return f"{HOST_TAG}_{os.getpid()}_{secrets.token_hex(3)}"


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # someone else's process, running
    return False


def _left(name: str) -> bool:
    match = _OURS.match(name)
    return match is not None and _gone(int(match.group(1)))


def leftovers_remove(mysql_url: str) -> list[str]:
    """Drop the databases and delete the vhosts of this host's runs whose process is gone;
    returns their names. Best effort: a service that does not answer leaves them for the
    next run, and of two runs starting together the one that comes second finds nothing."""
    import MySQLdb

    removed = []
    try:
        for vhost in rabbitmqctl("list_vhosts", "name", check=False).stdout.split():
            if _left(vhost) and rabbitmqctl("delete_vhost", vhost, check=False).returncode == 0:
                removed.append(vhost)
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        for (database,) in mysql_execute(mysql_url, "SHOW DATABASES"):
            if _left(database):
                mysql_execute(mysql_url, f"DROP DATABASE IF EXISTS `{database}`")
                removed.append(database)
    except MySQLdb.Error:
        pass
    return removed
