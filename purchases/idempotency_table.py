"""Idempotency keys in a table of the database, when no Redis is configured.

One row per key (its SHA-256): the record and, while an attempt runs, who holds it and until
when. A new key costs one INSERT and one UPDATE. Rows past their 24 hours are deleted in
batches by a thread of each web process, at most once a minute, so the table holds about
a day of keys. Under gevent the queries run on native threads (mysqlclient blocks in C,
and would hold every purchase of the process), with a deadline.
"""
from __future__ import annotations

import datetime
import logging
import threading
import time
from concurrent.futures import TimeoutError as FutureTimeout

from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from purchases.greenlets import on_native_thread, process_native_executor, thread_connections
from purchases.idempotency import (
    LOCK_SECONDS,
    RECORD_SECONDS,
    Claim,
    KeyInProgress,
    KeyReused,
    StoreUnavailable,
    store_call,
)
from purchases.models import IdempotencyKey

log = logging.getLogger(__name__)

# Native threads per web process for these queries: each keeps a database connection.
THREADS = 4
# A keyed purchase waits this long for the table, then answers 503 (its retry is safe).
DEADLINE_SECONDS = 5.0
PURGE_SECONDS = 60.0
PURGE_BATCH = 1000

_purged_at = float("-inf")  # time.monotonic() of this process's last purge
_purge_lock = threading.Lock()


def _free(now: datetime.datetime) -> Q:
    return Q(held_until__isnull=True) | Q(held_until__lte=now)


def _insert(name: str, fresh: dict) -> None:
    if connection.in_atomic_block:  # a savepoint, or the IntegrityError spoils the caller's
        with transaction.atomic():
            IdempotencyKey.objects.create(key_hash=name, **fresh)
    else:  # autocommit: one statement, where atomic() would add three round trips
        IdempotencyKey.objects.create(key_hash=name, **fresh)


def _claim(name: str, fingerprint: str, holder: str) -> Claim:
    now = timezone.now()
    held_until = now + datetime.timedelta(seconds=LOCK_SECONDS)
    fresh = {"fingerprint": fingerprint, "purchase_id": holder, "done": False, "holder": holder,
             "held_until": held_until,
             "expires": now + datetime.timedelta(seconds=RECORD_SECONDS)}
    new = Claim(purchase_id=holder, done=False, fingerprint=fingerprint, holder=holder)
    try:
        _insert(name, fresh)
        return new
    except IntegrityError:  # the key has a row: a retry, or a concurrent attempt
        pass
    row = IdempotencyKey.objects.filter(pk=name).first()
    if row is None:  # purged in between: the client's retry starts it afresh
        raise KeyInProgress
    if row.expires <= now:  # a record past its day: this attempt starts the key afresh
        taken = IdempotencyKey.objects.filter(_free(now), pk=name, expires=row.expires)
        if not taken.update(**fresh):
            raise KeyInProgress
        return new
    if row.held_until is not None and row.held_until > now:
        raise KeyInProgress
    if row.fingerprint != fingerprint:
        raise KeyReused
    # Only one of several attempts that read the key free gets it.
    if not IdempotencyKey.objects.filter(_free(now), pk=name).update(holder=holder,
                                                                     held_until=held_until):
        raise KeyInProgress
    return Claim(purchase_id=str(row.purchase_id), done=row.done, fingerprint=fingerprint,
                 holder=holder)


def _release(name: str, claim: Claim) -> None:
    changes = {"holder": None, "held_until": None}
    if claim.done and not claim.was_done:
        changes["done"] = True
    # Only while this attempt holds it: past LOCK_SECONDS another may have taken it.
    IdempotencyKey.objects.filter(pk=name, holder=claim.holder).update(**changes)


def _on_database(call, *args, if_late=None):
    try:
        return on_native_thread(call, *args, pool="idempotency", threads=THREADS,
                                timeout=DEADLINE_SECONDS, if_late=if_late)
    except FutureTimeout:
        raise StoreUnavailable(
            f"idempotency store unavailable: no answer within {DEADLINE_SECONDS}s") from None


class TableKeys:
    def claim(self, name: str, fingerprint: str, holder: str) -> Claim:
        # A claim that comes after the deadline, the client told 503, is let go at once: its
        # retry would meet the hold (409) for LOCK_SECONDS otherwise.
        claim = store_call(_on_database, _claim, name, fingerprint, holder,
                           if_late=lambda late: self.release(name, late))
        purge_soon()
        return claim

    def release(self, name: str, claim: Claim) -> None:
        try:
            store_call(_on_database, _release, name, claim)
        except StoreUnavailable:
            if claim.done and not claim.was_done:  # the key would stay pending: no 201
                raise
            # Only the hold was to end, and it ends by itself.


def purge_expired(now: datetime.datetime | None = None) -> int:
    """Delete the keys past their day, PURGE_BATCH at a time; how many went."""
    now = now or timezone.now()
    deleted = 0
    while True:
        names = list(IdempotencyKey.objects.filter(expires__lte=now)
                     .values_list("pk", flat=True)[:PURGE_BATCH])
        if names:
            deleted += IdempotencyKey.objects.filter(pk__in=names, expires__lte=now).delete()[0]
        if len(names) < PURGE_BATCH:
            return deleted


def _purge_in_thread() -> None:
    with thread_connections():
        try:
            purge_expired()
        except DatabaseError as exc:
            log.warning("idempotency keys: purge failed (%s); trying again in %.0f s",
                        exc, PURGE_SECONDS)


def purge_soon() -> None:
    """Start a purge on a thread of its own if none ran in this process for PURGE_SECONDS."""
    global _purged_at
    with _purge_lock:
        if time.monotonic() - _purged_at < PURGE_SECONDS:
            return
        _purged_at = time.monotonic()
    process_native_executor("idempotency-purge", 1).submit(_purge_in_thread)
