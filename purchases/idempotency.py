"""Idempotency-Key: a retried POST gets the first purchaseID and records nothing new.

A key moves through two states in a shared cache (Redis, or the database without it):
pending (an attempt took an id; its outcome may be unknown) and done (a 201 was sent).
A retry of a pending key republishes under the same purchase id, so the worker's unique
purchase id keeps the database at one row; a retry of a done key publishes nothing.
A short lock keeps two concurrent attempts of one key apart.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

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


class KeyReused(IdempotencyError):
    status = 422


class StoreUnavailable(IdempotencyError):
    status = 503


def _names(key: str) -> tuple[str, str]:
    digest = hashlib.sha256(key.encode()).hexdigest()
    return f"idem:{digest}", f"idem-lock:{digest}"


def key_check(key: str) -> None:
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise KeyInvalid(f"Idempotency-Key: must be 1 to {MAX_KEY_LENGTH} printable ASCII characters")


def request_fingerprint(path: str, body: bytes) -> str:
    return hashlib.sha256(path.encode() + b"\n" + body).hexdigest()


@dataclass
class Claim:
    purchase_id: str
    done: bool


def _store_call(call, *args, **kwargs):
    try:
        return call(*args, **kwargs)
    except Exception as exc:  # Redis or the database down: no promise can be kept
        raise StoreUnavailable(f"idempotency store unavailable: {exc!r}") from exc


@contextmanager
def key_claim(*, key: str, fingerprint: str, purchase_id: str) -> Iterator[Claim]:
    """Hold the key while one attempt runs; the caller sets claim.done once it is accepted."""
    cache = caches["idempotency"]
    record_name, lock_name = _names(key)
    if not _store_call(cache.add, lock_name, 1, timeout=LOCK_SECONDS):
        raise KeyInProgress("Idempotency-Key: a request with this key is in progress")
    try:
        record = _store_call(cache.get, record_name)
        if record is None:
            record = {"id": purchase_id, "fp": fingerprint, "done": False}
            _store_call(cache.set, record_name, record, timeout=RECORD_SECONDS)
        elif record["fp"] != fingerprint:
            raise KeyReused("Idempotency-Key: already used for a different request")
        claim = Claim(purchase_id=record["id"], done=record["done"])
        yield claim
        if claim.done and not record["done"]:
            _store_call(cache.set, record_name, {**record, "done": True}, timeout=RECORD_SECONDS)
    finally:
        try:
            cache.delete(lock_name)
        except Exception:  # the lock expires by itself
            pass
