"""Idempotency-Key: a retried POST gets the first purchaseID and records nothing new.

A key moves through two states in a shared store: pending (an attempt took an id; its
outcome may be unknown) and done (a 201 was sent). A retry of a pending key republishes
under the same purchase id, so the worker's unique purchase id keeps the database at one
row; a retry of a done key publishes nothing. An attempt holds the key while it runs, for
LOCK_SECONDS at most, so two concurrent attempts of one key stay apart.

The store is Redis when REDIS_URL is set (Django's cache), else a table of the database
(purchases/idempotency_table.py).
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import caches

RECORD_SECONDS = 24 * 3600
LOCK_SECONDS = 30
MAX_KEY_LENGTH = 255


class IdempotencyError(Exception):
    status = 400


class KeyInvalid(IdempotencyError):
    status = 400


class KeyInProgress(IdempotencyError):
    status = 409

    def __init__(self, message: str = "Idempotency-Key: a request with this key is in progress"):
        super().__init__(message)


class KeyReused(IdempotencyError):
    status = 422

    def __init__(self, message: str = "Idempotency-Key: already used for a different request"):
        super().__init__(message)


class StoreUnavailable(IdempotencyError):
    status = 503


def key_check(key: str) -> None:
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise KeyInvalid(f"Idempotency-Key: must be 1 to {MAX_KEY_LENGTH} printable ASCII characters")


def request_fingerprint(path: str, body: bytes) -> str:
    return hashlib.sha256(path.encode() + b"\n" + body).hexdigest()


@dataclass
class Claim:
    """A key held by one attempt; the caller sets done once the purchase is accepted."""

    purchase_id: str
    done: bool
    fingerprint: str
    holder: str  # the attempt's own new purchase id, unique to it
    was_done: bool = False

    def __post_init__(self) -> None:
        self.was_done = self.done


def store_call(call, *args, **kwargs):
    try:
        return call(*args, **kwargs)
    except IdempotencyError:
        raise
    except Exception as exc:  # Redis or the database down: no promise can be kept
        raise StoreUnavailable(f"idempotency store unavailable: {exc!r}") from exc


class CacheKeys:
    """The keys in Django's cache "idempotency" (Redis), which expires them itself."""

    @staticmethod
    def _names(name: str) -> tuple[str, str]:
        return f"idem:{name}", f"idem-lock:{name}"

    def claim(self, name: str, fingerprint: str, holder: str) -> Claim:
        cache = caches["idempotency"]
        record_name, lock_name = self._names(name)
        if not store_call(cache.add, lock_name, holder, timeout=LOCK_SECONDS):
            raise KeyInProgress
        try:
            record = store_call(cache.get, record_name)
            if record is None:
                record = {"id": holder, "fp": fingerprint, "done": False}
                store_call(cache.set, record_name, record, timeout=RECORD_SECONDS)
            elif record["fp"] != fingerprint:
                raise KeyReused
        except BaseException:
            self._unlock(lock_name)
            raise
        return Claim(purchase_id=record["id"], done=record["done"], fingerprint=fingerprint,
                     holder=holder)

    def release(self, name: str, claim: Claim) -> None:
        cache = caches["idempotency"]
        record_name, lock_name = self._names(name)
        try:
            if claim.done and not claim.was_done:
                record = {"id": claim.purchase_id, "fp": claim.fingerprint, "done": True}
                store_call(cache.set, record_name, record, timeout=RECORD_SECONDS)
        finally:
            self._unlock(lock_name)

    @staticmethod
    def _unlock(lock_name: str) -> None:
        try:
            caches["idempotency"].delete(lock_name)
        except Exception:  # the lock expires by itself
            pass


def _store():
    if "idempotency" in settings.CACHES:
        return CacheKeys()
    from purchases.idempotency_table import TableKeys  # needs the app registry ready

    return TableKeys()


@contextmanager
def key_claim(*, key: str, fingerprint: str, purchase_id: str) -> Iterator[Claim]:
    """Hold the key while one attempt runs; the caller sets claim.done once it is accepted.

    purchase_id: the id this attempt takes if the key is new."""
    store = _store()
    name = hashlib.sha256(key.encode()).hexdigest()
    claim = store.claim(name, fingerprint, purchase_id)
    try:
        yield claim
    finally:
        store.release(name, claim)
