"""Rebuild the matrix from the purchases database when the stream lost what analytics needs.

One consistent read of the database gives the counts; the same read then tells which purchases
arriving from the stream it already holds, until the stream is caught up. A purchase still in
the sync mode's analytics backlog (purchases/analytics_backlog.py) is left out: the stream has
it or will (a copy sent twice counts once), and it is counted from there.
"""
from __future__ import annotations

import logging
import sqlite3
import uuid
from urllib.parse import parse_qs, unquote, urlsplit

from analytics.matrix import Matrix

log = logging.getLogger(__name__)

NOT_IN_BACKLOG = "purchase_id NOT IN (SELECT purchase_id FROM purchases_analyticsbacklog)"
COUNTS = (
    "SELECT p.store_id, i.item_id, SUM(i.quantity) FROM purchases_purchaseitem i "
    f"JOIN purchases_purchase p ON p.id = i.purchase_id WHERE p.{NOT_IN_BACKLOG} "
    "GROUP BY p.store_id, i.item_id"
)
PURCHASES = f"SELECT COUNT(*) FROM purchases_purchase WHERE {NOT_IN_BACKLOG}"
ID_TYPE = (
    "SELECT DATA_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() "
    "AND TABLE_NAME = 'purchases_purchase' AND COLUMN_NAME = 'purchase_id'"
)


def mysql_ssl(database_url: str) -> dict[str, str] | None:
    """mysqlclient's `ssl` argument for DATABASE_URL's `?ssl_ca=<CA bundle>`, read as
    purchases/mysql_tls.py reads it for web and worker (analytics imports no more of
    purchases/ than its event module); None when it asks for no TLS."""
    ca = parse_qs(urlsplit(database_url).query).get("ssl_ca")
    return {"ca": ca[-1]} if ca else None


class DatabaseSnapshot:
    """A read-only transaction on the purchases tables, held open until close()."""

    def __init__(self, database_url: str) -> None:
        parts = urlsplit(database_url)
        self._sqlite = parts.scheme == "sqlite"
        if self._sqlite:
            self._connection = sqlite3.connect(parts.path, isolation_level=None, timeout=30)
            self._connection.execute("BEGIN")  # WAL: the first read fixes the snapshot
            self._placeholder = "?"
            self._native_uuid = False
        else:
            import MySQLdb

            self._connection = MySQLdb.connect(
                host=parts.hostname or "127.0.0.1", port=parts.port or 3306,
                user=unquote(parts.username or "root"), passwd=unquote(parts.password or ""),
                db=parts.path.lstrip("/"), charset="utf8mb4", connect_timeout=10,
                **({"ssl": ssl} if (ssl := mysql_ssl(database_url)) else {}),
            )
            cursor = self._connection.cursor()
            cursor.execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cursor.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
            cursor.execute(ID_TYPE)
            row = cursor.fetchone()
            # Django stores UUIDField as MariaDB's native uuid where it exists, else char(32).
            self._native_uuid = bool(row) and str(row[0]).lower() == "uuid"
            self._placeholder = "%s"

    def matrix(self) -> Matrix:
        """The counts of every purchase the snapshot holds."""
        cursor = self._connection.cursor()
        cursor.execute(PURCHASES)
        (purchases,) = cursor.fetchone()
        matrix = Matrix()
        cursor.execute(COUNTS)
        while chunk := cursor.fetchmany(100_000):
            matrix.add_counts(((int(s), int(i), int(q)) for s, i, q in chunk))
        matrix.set_purchases(int(purchases))
        return matrix

    def _stored(self, purchase_id: str) -> str:
        return purchase_id if self._native_uuid else uuid.UUID(purchase_id).hex

    def already_counted(self, purchase_ids: list[str]) -> set[str]:
        """Which of these purchases the snapshot holds (and so the rebuilt matrix counts)."""
        by_stored = {self._stored(p): p for p in purchase_ids}
        marks = ",".join([self._placeholder] * len(by_stored))
        cursor = self._connection.cursor()
        cursor.execute(
            f"SELECT purchase_id FROM purchases_purchase WHERE purchase_id IN ({marks}) "
            f"AND {NOT_IN_BACKLOG}",
            list(by_stored),
        )
        found = set()
        for (stored,) in cursor.fetchall():
            stored = str(stored)
            key = stored if self._native_uuid else stored.replace("-", "")
            found.add(by_stored.get(key, key))
        return found

    def close(self) -> None:
        try:
            self._connection.rollback()
        finally:
            self._connection.close()


def matrix_rebuild(database_url: str) -> tuple[Matrix, DatabaseSnapshot]:
    """A matrix of everything in the database, and the snapshot it was read from (still open)."""
    snapshot = DatabaseSnapshot(database_url)
    try:
        matrix = snapshot.matrix()
    except Exception:
        snapshot.close()
        raise
    totals = matrix.totals()
    log.warning("rebuilt the matrix from the database: %d purchases, %d units, %d stores, "
                "%d items", totals.purchases, totals.units, totals.stores, totals.items)
    return matrix, snapshot
