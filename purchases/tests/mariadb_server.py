"""A MariaDB server of a test's own: its own data folder, port and socket, so that a test can
stop it, kill -9 it and start it again on the same data while the machine's MariaDB (and
every other test's database on it) stays up."""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import MySQLdb

from loadtest.service_admin import mysql_execute
from loadtest.stack import ROOT, Process, free_port

# Small buffers and redo log: the server is created and crash-recovered within a test. The
# redo log is still flushed at every commit (MariaDB's default), so a commit the server
# answered survives a kill -9 as it would in production.
SERVER_OPTIONS = (
    "--innodb-buffer-pool-size=32M",
    "--innodb-log-file-size=16M",
    "--skip-name-resolve",
)


def _as_root() -> list[str]:
    # mariadbd refuses to run as the OS's root unless told to.
    return ["--user=root"] if os.geteuid() == 0 else []


class MariaDBServer:
    """One mariadbd on datadir, started and stopped by PID like the stack's processes."""

    def __init__(self, datadir: Path, log_dir: Path) -> None:
        self.datadir = datadir
        self.log_dir = log_dir
        self.port = free_port()
        # A unix socket's path is limited to about 100 bytes, which a test's tmp_path can pass.
        self.socket = Path(tempfile.gettempdir()) / f"tigle-mariadb-{self.port}.sock"
        self.process: Process | None = None

    @property
    def url(self) -> str:
        """mysql:// URL of the server, no database chosen (as run_env's MYSQL)."""
        return f"mysql://root@127.0.0.1:{self.port}"

    def install(self) -> None:
        """An empty data folder with the system tables; root may log in without a password."""
        self.datadir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["mariadb-install-db", "--no-defaults", f"--datadir={self.datadir}",
             "--auth-root-authentication-method=normal", "--skip-test-db", *_as_root(),
             *SERVER_OPTIONS],
            check=True, stdout=(self.log_dir / "mariadb-install.log").open("wb"),
            stderr=subprocess.STDOUT, timeout=120,
        )

    def start(self, timeout: float = 60) -> None:
        """Start on the same data folder and port; returns once it takes connections."""
        argv = ["mariadbd", "--no-defaults", f"--datadir={self.datadir}", f"--port={self.port}",
                f"--socket={self.socket}", "--bind-address=127.0.0.1",
                f"--pid-file={self.datadir / 'mariadbd.pid'}", *_as_root(), *SERVER_OPTIONS]
        self.process = Process("mariadb", argv, dict(os.environ),
                               self.log_dir / "mariadb.log").start()
        deadline = time.monotonic() + timeout
        while not self.answers():
            if not self.process.running:
                raise RuntimeError(f"mariadbd exited:\n{self.process.log_text()[-3000:]}")
            if time.monotonic() > deadline:
                self.process.kill()
                raise TimeoutError(f"mariadbd not answering after {timeout}s:\n"
                                   f"{self.process.log_text()[-3000:]}")
            time.sleep(0.1)

    def answers(self) -> bool:
        try:
            MySQLdb.connect(host="127.0.0.1", port=self.port, user="root",
                            connect_timeout=2).close()
        except MySQLdb.OperationalError:
            return False
        return True

    def statement_seen(self, timeout: float = 3) -> bool:
        """Whether a client's statement (a write, a commit) is running, asked until one is or
        timeout passes: a fault right after it cuts that statement midway, where its client
        cannot tell whether the transaction committed."""
        connection = MySQLdb.connect(host="127.0.0.1", port=self.port, user="root")
        try:
            cursor = connection.cursor()
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                # The process list, unlike information_schema.innodb_trx, is read live.
                cursor.execute("SELECT COUNT(*) FROM information_schema.processlist "
                               "WHERE command = 'Query' AND id <> CONNECTION_ID()")
                if cursor.fetchone()[0]:
                    return True
            return False
        finally:
            connection.close()

    def stop(self, timeout: float = 60) -> None:
        """SIGTERM, as a service manager stops it: a clean shutdown, then gone."""
        self.process.stop(timeout=timeout)
        assert self.process.popen.returncode == 0, self.process.log_text()[-3000:]

    def kill(self) -> None:
        """kill -9: no shutdown at all; the next start recovers from the redo log."""
        self.process.kill()

    def close(self) -> None:
        """Gone for good, with its socket files: the data folder is the test's to remove."""
        if self.process is not None:
            self.process.kill()
        for path in (self.socket, self.socket.with_name(self.socket.name + ".lock")):
            path.unlink(missing_ok=True)

    def database_migrated(self, name: str, env: dict[str, str]) -> str:
        """A database with Tigle's tables, as README says to set one up; its DATABASE_URL."""
        mysql_execute(self.url, f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        url = f"{self.url}/{name}"
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT,
                       env={**env, "DATABASE_URL": url}, check=True, timeout=180)
        return url
