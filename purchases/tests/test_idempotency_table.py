"""Idempotency keys in the database's own table, the store when REDIS_URL is not set."""
import datetime
import hashlib
import random
import threading
import time
import uuid

import pytest
import requests
from django.db import connection
from django.utils import timezone

from purchases import idempotency, idempotency_table
from purchases.idempotency import KeyInProgress, KeyReused, key_claim
from purchases.models import IdempotencyKey
from purchases.tests.helpers import (
    database_connect,
    purchase_post,
    purchase_random,
    queries_waiting_on_table,
    wait_until,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def table_store(settings):
    settings.CACHES = {name: cache for name, cache in settings.CACHES.items()
                       if name != "idempotency"}


def _claimed(key: str, fingerprint: str = "fp") -> tuple[str, bool]:
    """(purchase id, already done) of an attempt that then accepts its purchase."""
    with key_claim(key=key, fingerprint=fingerprint, purchase_id=str(uuid.uuid4())) as claim:
        seen = claim.purchase_id, claim.done
        claim.done = True
    return seen


def _row(key: str) -> IdempotencyKey:
    return IdempotencyKey.objects.get(pk=hashlib.sha256(key.encode()).hexdigest())


def test_the_store_is_the_table_without_redis():
    assert isinstance(idempotency._store(), idempotency_table.TableKeys)


def test_a_retry_gets_the_first_id_and_a_done_key():
    first_id, first_done = _claimed("k1")
    again_id, again_done = _claimed("k1")
    assert (again_id, first_done, again_done) == (first_id, False, True)
    row = _row("k1")
    assert row.done and row.holder is None and row.held_until is None
    assert str(row.purchase_id) == first_id


def test_a_retry_of_an_attempt_that_failed_gets_its_id_still_pending():
    attempt = str(uuid.uuid4())
    with pytest.raises(RuntimeError):
        with key_claim(key="k2", fingerprint="fp", purchase_id=attempt):
            raise RuntimeError("the publish failed")
    assert _claimed("k2") == (attempt, False)  # republished under the same id


def test_a_second_attempt_while_the_first_runs_is_refused_and_a_different_body_too():
    with key_claim(key="k3", fingerprint="fp", purchase_id=str(uuid.uuid4())):
        with pytest.raises(KeyInProgress):
            _claimed("k3")
    with pytest.raises(KeyReused):
        _claimed("k3", fingerprint="another body")


def test_a_hold_past_its_time_is_taken_over_and_the_late_attempt_frees_nothing():
    late = key_claim(key="k4", fingerprint="fp", purchase_id=str(uuid.uuid4()))
    claim = late.__enter__()
    IdempotencyKey.objects.filter(pk=_row("k4").pk).update(
        held_until=timezone.now() - datetime.timedelta(seconds=1))  # its process died, say
    with key_claim(key="k4", fingerprint="fp", purchase_id=str(uuid.uuid4())) as retry:
        assert retry.purchase_id == claim.purchase_id
        late.__exit__(None, None, None)  # the first attempt ends while the retry holds the key
        assert str(_row("k4").holder) == retry.holder
        with pytest.raises(KeyInProgress):
            _claimed("k4")


def test_a_key_past_its_day_starts_afresh():
    first_id, _ = _claimed("k5")
    IdempotencyKey.objects.filter(pk=_row("k5").pk).update(
        expires=timezone.now() - datetime.timedelta(seconds=1))
    again_id, done = _claimed("k5", fingerprint="another body")
    assert again_id != first_id and not done


def test_the_purge_deletes_the_keys_past_their_day_in_batches(monkeypatch):
    monkeypatch.setattr(idempotency_table, "PURGE_BATCH", 3)
    now = timezone.now()
    for n in range(7):
        IdempotencyKey.objects.create(key_hash=f"old{n}", fingerprint="fp",
                                      purchase_id=uuid.uuid4(),
                                      expires=now - datetime.timedelta(minutes=n))
    kept_id, _ = _claimed("k6")
    assert idempotency_table.purge_expired(now) == 7
    assert list(IdempotencyKey.objects.values_list("pk", flat=True)) == [_row("k6").pk]


@pytest.mark.django_db(transaction=True)  # DDL: MySQL commits any transaction around it
def test_the_old_cache_table_s_records_are_carried_over():
    from django.apps import apps
    from django.core.cache.backends.db import DatabaseCache
    from django.core.management import call_command
    from importlib import import_module

    migration = import_module("purchases.migrations.0004_idempotency_key_table")
    call_command("createcachetable", migration.OLD_TABLE, verbosity=0)
    old = DatabaseCache(migration.OLD_TABLE, {"KEY_PREFIX": "tigle:db",
                                              "OPTIONS": {"MAX_ENTRIES": 2**62}})
    digest = hashlib.sha256(b"old key").hexdigest()
    record = {"id": str(uuid.uuid4()), "fp": "f" * 64, "done": True}
    old.set(f"idem:{digest}", record, timeout=3600)
    old.set(f"idem-lock:{digest}", 1, timeout=30)
    old.set(f"idem:{'0' * 64}", {**record, "id": str(uuid.uuid4())}, timeout=-1)  # expired
    try:
        with connection.schema_editor() as editor:
            migration.records_carry_over(apps, editor)
    finally:
        with connection.schema_editor() as editor:
            migration.old_table_drop(apps, editor)
    carried = IdempotencyKey.objects.get()
    assert (carried.key_hash, str(carried.purchase_id), carried.fingerprint, carried.done) == (
        digest, record["id"], record["fp"], True)
    assert carried.expires > timezone.now() + datetime.timedelta(minutes=59)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_keyed_purchases_wait_for_a_locked_table_and_hold_no_other_purchase(stack):
    """In a gevent web the table's queries run on native threads: a keyed purchase whose
    table does not answer gets a 503 at the deadline, and the others go on meanwhile."""
    stack.start_web(WEB_CONCURRENCY="1", REDIS_URL="")  # one process: the waits share it
    keyed: list = []
    with requests.Session() as session:
        assert purchase_post(session, stack.base, purchase_random(random.Random(0)),
                             **{"Idempotency-Key": "before"}).status == 201
    locker = database_connect(stack.database_url)
    locker.cursor().execute(f"LOCK TABLES {IdempotencyKey._meta.db_table} WRITE")
    try:
        waiting = threading.Thread(target=lambda: keyed.append(purchase_post(
            requests.Session(), stack.base, purchase_random(random.Random(1)),
            **{"Idempotency-Key": "while locked"})))
        started = time.monotonic()
        waiting.start()
        table = IdempotencyKey._meta.db_table
        wait_until(lambda: queries_waiting_on_table(stack.database_url, table) >= 1, 10,
                   "the keyed purchase waiting for the locked table")
        with requests.Session() as session:
            sent = [purchase_post(session, stack.base, purchase_random(random.Random(n)))
                    for n in range(2, 7)]
        assert [one.status for one in sent] == [201] * 5
        assert time.monotonic() - started < idempotency_table.DEADLINE_SECONDS
        waiting.join(idempotency_table.DEADLINE_SECONDS + 10)
        assert [one.status for one in keyed] == [503]
    finally:
        locker.cursor().execute("UNLOCK TABLES")
        locker.close()
    # The late attempt's claim went through once the table was free, and was let go at once.
    wait_until(lambda: _holders(stack.database_url) == {"before": None, "while locked": None},
               10, "the late attempt's key, not held")
    with requests.Session() as session:
        retried = purchase_post(session, stack.base, purchase_random(random.Random(1)),
                                **{"Idempotency-Key": "while locked"})
    assert retried.status == 201


def _holders(database_url: str) -> dict[str, str | None]:
    """Each key's holder, by key (of the two this test sends)."""
    names = {hashlib.sha256(key.encode()).hexdigest(): key for key in ("before", "while locked")}
    connection = database_connect(database_url)
    try:
        cursor = connection.cursor()
        cursor.execute(f"SELECT key_hash, holder FROM {IdempotencyKey._meta.db_table}")
        return {names[name]: holder for name, holder in cursor.fetchall() if name in names}
    finally:
        connection.close()
