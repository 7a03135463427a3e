"""A checkpoint is written while batches go on: what it holds is the matrix as it stood when
it was taken, and the stream reader does not wait for the disk."""
import random
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from kombu import Connection, Producer

from analytics.checkpoint import checkpoint_load, checkpoint_write, snapshot_take
from analytics.config import Config
from analytics.consumer import Consumer
from analytics.kombu_compat import queue_bind
from analytics.matrix import Matrix
from analytics.state import State
from analytics.stream import StreamReader
from analytics.tests.test_consumer import task_body
from purchases.broker.filesystem_broker import Transport
from purchases.tests.helpers import wait_until
from purchases.broker.topology import purchases_exchange, topology_declare


def batch(rng: random.Random, stores: int, items: int) -> list:
    return [(rng.randint(1, stores), [(rng.randint(1, items), rng.randint(1, 9))
                                      for _ in range(rng.randint(1, 5))])
            for _ in range(rng.randint(1, 30))]


def counts_of(purchases: list) -> Counter:
    counts = Counter()
    for store_id, items in purchases:
        for item_id, quantity in items:
            counts[store_id, item_id] += quantity
    return counts


def expected_row(snapshot, index: int, counts: Counter) -> list[int]:
    store_id = snapshot.store_ids[index]
    width = snapshot.shapes[index][0]
    return [counts[store_id, item_id] for item_id in snapshot.item_ids[:width].tolist()]


@pytest.mark.parametrize("seed", range(6))
def test_each_row_reads_as_it_was_when_taken_whatever_changed_since(seed):
    rng = random.Random(seed)
    matrix, sold = Matrix(), []
    for _ in range(20):
        purchases = batch(rng, 40, 3000)
        matrix.apply(purchases)
        sold += purchases
    taken = counts_of(sold)
    snapshot = matrix.snapshot()
    assert (snapshot.purchases, snapshot.units) == (len(sold), sum(taken.values()))
    order = list(range(len(snapshot.shapes)))
    rng.shuffle(order)
    touched_unread, rows = set(), {}
    for index in order:
        # Before each read: new stores and items (rows grow), and now and then a count past
        # int32 (a row is replaced by a wider one).
        purchases = batch(rng, 60, 6000)
        if rng.random() < 0.2:
            purchases.append((rng.choice(snapshot.store_ids), [(1, 2**31)]))
        touched_unread |= {s for s, _ in purchases} & {
            snapshot.store_ids[i] for i in order[order.index(index):]}
        matrix.apply(purchases)
        rows[index] = snapshot.row(index)
        assert rows[index].dtype == snapshot.shapes[index][1]
    # Checked after every change: a row handed out stays as it was (a copy, not the row).
    for index, row in rows.items():
        assert row.tolist() == expected_row(snapshot, index, taken)
    # Copies were kept only of rows changed before they were read.
    assert snapshot.kept_most <= len(touched_unread)
    with pytest.raises(ValueError):
        snapshot.row(order[0])
    snapshot.close()
    matrix.apply([(1, [(1, 1)])])
    matrix.snapshot().close()  # closed: the next one may be taken


def assert_holds(state: State, purchases: list) -> None:
    """Every count of the state's matrix is the brute-force count of these purchases."""
    counts = counts_of(purchases)
    totals = state.matrix.totals()
    assert (totals.purchases, totals.units) == (len(purchases), sum(counts.values()))
    for store_id in {s for s, _ in counts}:
        whole = sorted(((-q, i) for (s, i), q in counts.items() if s == store_id))
        assert state.matrix.top_items(store_id, 10**6) == [(i, -q) for q, i in whole]


def test_a_checkpoint_written_beside_a_busy_applier_loads_back_as_taken(tmp_path):
    rng = random.Random(11)
    matrix, sold = Matrix(), []
    for _ in range(30):
        purchases = batch(rng, 300, 20_000)
        matrix.apply(purchases)
        sold += purchases
    snapshot = snapshot_take(State(matrix=matrix, last_offset=len(sold) - 1))
    # A batch over 50 of its stores before the writer starts (as when its thread is slow to
    # get going), then as many as fit in the write: the writer may win those races.
    matrix.apply([(store_id, [(1, 1)]) for store_id in range(1, 51)])
    written, failed = threading.Event(), []

    def write() -> None:
        try:
            checkpoint_write(snapshot, tmp_path)
        except BaseException as exc:
            failed.append(exc)
        finally:
            written.set()

    writer = threading.Thread(target=write)
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # the two threads take turns often, as on a busy host
    try:
        writer.start()
        while not written.is_set():  # apply for as long as the file is being written
            matrix.apply(batch(rng, 400, 30_000))
        writer.join()
    finally:
        sys.setswitchinterval(switch)
    assert not failed
    assert snapshot.matrix.kept_most > 0, "no batch changed a row before it was written"
    loaded = checkpoint_load(tmp_path)
    assert loaded.last_offset == len(sold) - 1
    assert_holds(loaded, sold)


def reader_run(tmp_path: Path, checkpoint, during) -> tuple[Config, list]:
    """A stream reader on the embedded broker with checkpoints as often as it can; during()
    runs while it reads. Returns its config and the purchases published (offset order)."""
    config = Config(listen="127.0.0.1:0", state_dir=tmp_path / "state", broker_url="filesystem://",
                    broker_folder=tmp_path / "broker", database_url="", checkpoint_seconds=0.0,
                    threads=1, max_rpcs=1, batch_size=5)
    folder = config.broker_folder
    (folder / "queue").mkdir(parents=True)
    connection = Connection("filesystem://", transport=Transport, transport_options={
        "data_folder_in": str(folder / "queue"), "data_folder_out": str(folder / "queue"),
        "control_folder": str(folder / "control")})  # the web's
    topology_declare(connection)
    # Bound as the reader binds it at start, so that what is published before is kept.
    queue_bind(folder / "control", "purchases", "purchases.analytics", "purchases.analytics")
    producer = Producer(connection.default_channel, exchange=purchases_exchange)
    sent = []

    def publish(count: int) -> None:
        for _ in range(count):
            n = len(sent)
            # Few stores and items: later purchases change the rows and cells of earlier ones.
            purchase = (n % 3 + 1, [(n % 4 + 1, n % 5 + 1)])
            producer.publish(task_body(*purchase), routing_key="purchases.db",
                             content_type="application/json", content_encoding="utf-8")
            sent.append(purchase)
            # The folder broker delivers by file name, which starts with the millisecond: a
            # new millisecond for each keeps the offsets in the order published.
            time.sleep(0.002)

    consumer, stop = Consumer(State()), threading.Event()
    thread = threading.Thread(target=StreamReader(config, consumer, checkpoint=checkpoint,
                                                  stop=stop).run)
    publish(10)
    thread.start()
    try:
        during(publish, consumer)
    finally:
        stop.set()
        thread.join(30)
        connection.release()
    assert not thread.is_alive()
    return config, sent


def test_the_reader_goes_on_reading_while_a_checkpoint_is_written(tmp_path):
    """A disk that takes its time (a full matrix: seconds) must not hold up the stream."""
    disk_free, first = threading.Event(), []

    def slow_disk(snapshot) -> None:
        if not first:
            first.append(snapshot.last_offset)
            disk_free.wait(30)
            checkpoint_write(snapshot, tmp_path / "first")
        else:
            checkpoint_write(snapshot, tmp_path / "state")

    def during(publish, consumer) -> None:
        try:
            wait_until(lambda: first, 10, "the first checkpoint")
            publish(20)
            wait_until(lambda: consumer.state.last_offset == 29, 10,
                       "the purchases published while the checkpoint is written")
        finally:
            disk_free.set()

    config, sent = reader_run(tmp_path, slow_disk, during)
    written_first = checkpoint_load(tmp_path / "first")
    assert written_first.last_offset == first[0] < 29
    assert_holds(written_first, sent[: first[0] + 1])  # none of the later ones, whole
    last = checkpoint_load(config.state_dir)
    assert last.last_offset == 29
    assert_holds(last, sent)
    assert sorted(config.state_dir.iterdir()) == [config.state_dir / "matrix.ckpt"]


def test_a_checkpoint_that_fails_on_the_disk_is_tried_again_and_reading_goes_on(tmp_path, caplog):
    failures = []

    def full_disk_once(snapshot) -> None:
        if not failures:
            failures.append(snapshot.last_offset)
            snapshot.matrix.close()
            raise OSError(28, "No space left on device")
        checkpoint_write(snapshot, tmp_path / "state")

    def during(publish, consumer) -> None:
        wait_until(lambda: failures, 10, "the failing checkpoint")
        publish(20)
        wait_until(lambda: consumer.state.last_offset == 29, 10, "the later purchases")
        wait_until(lambda: (tmp_path / "state" / "matrix.ckpt").exists(), 10,
                   "a checkpoint after the failure")

    config, sent = reader_run(tmp_path, full_disk_once, during)
    last = checkpoint_load(config.state_dir)
    assert last.last_offset == 29
    assert_holds(last, sent)
    # Taken for what it is: no reconnect to the broker for a disk's fault.
    assert f"checkpoint at offset {failures[0]} failed" in caplog.text
    assert "reconnecting" not in caplog.text


def test_one_snapshot_at_a_time():
    matrix = Matrix()
    matrix.apply([(1, [(1, 1)])])
    snapshot = matrix.snapshot()
    with pytest.raises(RuntimeError):
        matrix.snapshot()
    snapshot.close()
    assert np.array_equal(matrix.snapshot().row(0), [1])
