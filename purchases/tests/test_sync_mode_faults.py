"""Faults on purpose in sync mode, where the committed row is the record and analytics hears
of it after the commit: a broker cut under the web, and a web killed between a purchase's
commit and its confirm. Analytics ends up counting every written purchase exactly once."""
import random
import threading
import time

import pytest
import requests

from purchases.tests.helpers import (
    assert_written_exactly,
    database_purchases,
    purchase_post,
    purchase_random,
    purchases_stream,
    wait_until,
)

pytestmark = pytest.mark.slow


def test_sync_mode_counts_in_analytics_what_it_wrote_while_the_broker_was_cut(own_stack):
    # The committed row is the record: a 201 whatever the broker does; analytics gets what it
    # missed once the broker is back, and counts it once.
    from analytics import client
    from purchases.analytics_backlog import SEND_SECONDS
    from purchases.models import AnalyticsBacklog

    stack = own_stack
    _, address = stack.start_analytics()
    proxy, broker_url = stack.proxy(stack.env["CELERY_BROKER_URL"])
    stack.start_web(TIGLE_WRITE_MODE="sync", ANALYTICS_ADDRESS=address,
                    CELERY_BROKER_URL=broker_url)
    before = purchases_stream(stack.base, 20, threads=2, seed=1)
    wait_until(lambda: client.stats(address)["purchases"] >= 20, 30, "analytics counting")
    proxy.cut()
    during = purchases_stream(stack.base, 10, threads=2, seed=2)
    sent = before + during
    assert [one.status for one in sent] == [201] * 30
    # The first 20 are forgotten once confirmed, within FORGET_SECONDS.
    wait_until(lambda: AnalyticsBacklog.objects.count() == 10, 10, "the 10 unsent kept")
    assert client.stats(address)["purchases"] == 20
    proxy.restore()
    wait_until(lambda: client.stats(address)["purchases"] >= 30, 60, "the backlog counted")
    wait_until(lambda: AnalyticsBacklog.objects.count() == 0, 30, "the backlog forgotten")
    time.sleep(SEND_SECONDS + 1)  # a second send, if there were one, would be counted by now
    units = sum(quantity for one in sent for _, quantity in one.items)
    assert (client.stats(address)["purchases"], client.stats(address)["units"]) == (30, units)
    assert_written_exactly(sent, database_purchases(stack.database_url))
    assert "kept for analytics until the broker is back" in stack.web.log_text()


def test_sync_mode_counts_in_analytics_a_purchase_whose_web_died_before_the_confirm(own_stack):
    # The row is committed before the publish to analytics: a kill -9 in between must not
    # leave analytics short of it for good. The same transaction kept it for analytics.
    from analytics import client
    from purchases.models import AnalyticsBacklog

    stack = own_stack
    _, address = stack.start_analytics()
    proxy, broker_url = stack.proxy(stack.env["CELERY_BROKER_URL"])
    web_env = {"TIGLE_WRITE_MODE": "sync", "ANALYTICS_ADDRESS": address,
               "TIGLE_PUBLISH_TIMEOUT": "5", "CELERY_BROKER_URL": broker_url}
    stack.start_web(**web_env)
    purchases_stream(stack.base, 5, threads=1, seed=3)
    wait_until(lambda: client.stats(address)["purchases"] == 5, 30, "analytics counting")
    wait_until(lambda: not AnalyticsBacklog.objects.exists(), 10, "the five forgotten")
    proxy.hold(requests=True)  # the publish after the commit reaches no broker
    dying = purchase_random(random.Random(4))
    poster = threading.Thread(target=purchase_post, args=(requests.Session(), stack.base, dying))
    poster.start()
    wait_until(lambda: len(database_purchases(stack.database_url)) == 6, 4,
               "the purchase committed, its confirm awaited")
    stack.web.kill()
    poster.join(10)
    assert dying.status == -1  # no answer: the store does not know the outcome
    proxy.cut()  # what the dead web wrote into the held connection goes with it
    proxy.release()
    proxy.restore()
    assert AnalyticsBacklog.objects.count() == 1
    assert client.stats(address)["purchases"] == 5
    stack.start_web(**web_env)
    wait_until(lambda: client.stats(address)["purchases"] == 6, 40, "the kept purchase counted")
    wait_until(lambda: not AnalyticsBacklog.objects.exists(), 10, "the backlog forgotten")
    units = sum(q for one in database_purchases(stack.database_url).values() for _, q in one.items)
    assert (client.stats(address)["purchases"], client.stats(address)["units"]) == (6, units)
