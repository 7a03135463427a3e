"""purchases.db as a quorum queue under Celery's own DelayedDelivery step.

With a quorum queue among its task queues, Celery 5.5+ binds each queue's exchange (for
purchases.db, the fanout) to its delay exchanges, and no documented setting turns that off.
What comes back through a delay exchange reaches the fanout, so analytics as well: this
shows that nothing Tigle sends takes that road (no purchase task is ever delayed; a
requeued batch goes back into purchases.db in place, a parked message to the default
exchange), so the stream holds each purchase once.
"""
import datetime
import subprocess
import threading
from collections import Counter

import pytest
from kombu import Connection

from purchases.events import ANALYTICS_STREAM, DB_QUEUE, EXCHANGE, PARKED_QUEUE, event_new
from purchases.tasks import record
from purchases.tests.conftest import queue_depth
from purchases.tests.helpers import (
    assert_written_exactly,
    database_purchases,
    not_a_purchase_publish,
    purchases_stream,
    queue_column,
    queue_types,
    stream_event_ids,
    wait_until,
)


DELAY_EXCHANGE = "celery_delayed_delivery"  # kombu.transport.native_delayed_delivery's


def bindings(vhost: str) -> set[tuple[str, str]]:
    """(source, destination) of every binding of a vhost, as the broker lists them."""
    out = subprocess.run(
        ["rabbitmqctl", "-q", "list_bindings", "-p", vhost, "source_name", "destination_name"],
        check=True, capture_output=True, text=True, timeout=60).stdout
    return {tuple(line.split("\t")[:2]) for line in out.splitlines() if "\t" in line}


@pytest.mark.parametrize("delay", [{"countdown": 5}, {"eta": datetime.datetime(2030, 1, 1)}])
def test_a_purchase_task_is_never_sent_with_a_delay(delay):
    event = event_new(store_id=1, customer_id=1, date=datetime.date(2021, 1, 1), items=[(1, 1)])
    with pytest.raises(ValueError, match="never delayed"):
        record.apply_async(args=(event.to_dict(),), **delay)


@pytest.mark.slow
def test_nothing_tigle_sends_reaches_analytics_twice_through_celerys_delay_exchanges(own_stack):
    stack = own_stack
    stack.env["TIGLE_QUEUE_TYPE"] = "quorum"
    database, database_url = stack.proxy(stack.database_url)
    worker = stack.start_worker(DATABASE_URL=database_url)
    stack.start_web()
    types = queue_types(stack.vhost)
    assert [types[DB_QUEUE], types[PARKED_QUEUE], types[ANALYTICS_STREAM]] == [
        "quorum", "quorum", "stream"]
    # Celery's step ran: what reaches its delivery exchange would go on through the fanout.
    assert (DELAY_EXCHANGE, EXCHANGE) in bindings(stack.vhost)

    result: dict = {}
    sender = threading.Thread(target=lambda: result.update(
        sent=purchases_stream(stack.base, 600, threads=4, pause=0.02)))
    sender.start()
    wait_until(lambda: len(database_purchases(stack.database_url)) >= 100, 60, "writes")
    database.cut()  # batches fail and go back to purchases.db
    wait_until(lambda: "not written" in worker.log_text(), 30, "a batch requeued")
    with Connection(stack.env["CELERY_BROKER_URL"]) as broker:
        not_a_purchase_publish(broker, DB_QUEUE)
        database.restore()
        sender.join()
        accepted = [one for one in result["sent"] if one.status == 201]
        assert len(accepted) == 600
        wait_until(lambda: len(database_purchases(stack.database_url)) >= 600, 90, "every row")
        wait_until(lambda: queue_depth(broker, PARKED_QUEUE) == 1, 30, "the message parked")
    written = database_purchases(stack.database_url)
    assert len(written) == 600
    assert_written_exactly(accepted, written)
    in_stream = Counter(stream_event_ids(stack.env["CELERY_BROKER_URL"]))
    assert {in_stream[one.purchase_id] for one in accepted} == {1}
    assert sum(in_stream.values()) == 600
    # Nothing ever waited in a delay queue.
    delayed = {name: int(count) for name, count in queue_column(stack.vhost, "messages").items()
               if name.startswith("celery_delayed_")}
    assert delayed and set(delayed.values()) == {0}
    assert worker.running
