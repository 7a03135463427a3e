"""The store day and its phases, without Locust."""
import random

import pytest

from loadtest.stores import DayParams, Schedule, phase_of, store_day


@pytest.mark.parametrize(("stores", "east", "central", "west"), [
    (1, 1, 0, 0), (2, 1, 0, 1), (4, 1, 1, 2), (8, 2, 2, 4), (10, 2, 2, 6), (256, 64, 64, 128),
])
def test_it_splits_the_stores_into_quarter_quarter_half(stores, east, central, west):
    phases = [phase_of(s, stores) for s in range(1, stores + 1)]
    assert (phases.count("East"), phases.count("Central"), phases.count("West")) == (east, central, west)
    assert phases == sorted(phases, key=["East", "Central", "West"].index)


def test_a_store_day_is_nine_hours_of_purchases_drawn_as_the_seed_did():
    params = DayParams(max_stores=4, num_customers=50, max_item_id=30, num_purchases=7,
                       items_per_purchase=3)
    day = list(store_day(3, params, random.Random(1)))
    assert [hour for hour, _, _ in day] == [h for h in range(1, 10) for _ in range(7)]
    assert all(3000 <= customer < 3050 for _, customer, _ in day)
    assert all(len(items) == 3 and all(1 <= i < 30 for i in items) for _, _, items in day)


def test_the_schedule_hands_out_each_store_once_and_opens_phases_by_hour():
    schedule = Schedule(max_stores=3)
    schedule.start(now=10.0)
    assert [schedule.claim("w1") for _ in range(4)] == [(1, 0), (2, 0), (3, 0), None]
    assert schedule.hour_done(1, 2, 20, now=11.0) == []
    assert schedule.hour_done(1, 3, 30, now=12.0) == ["Central"]
    assert schedule.hour_done(2, 4, 40, now=13.0) == []
    assert schedule.hour_done(1, 5, 50, now=14.0) == ["West"]
    assert schedule.open_phases == {"East": 10.0, "Central": 12.0, "West": 14.0}
    for store in (1, 2):
        schedule.hour_done(store, 9, 90, now=15.0)
    assert not schedule.day_over
    schedule.hour_done(3, 9, 90, now=16.0)
    assert schedule.day_over


def test_a_store_stopped_mid_day_goes_to_the_next_claim_where_it_stopped():
    schedule = Schedule(max_stores=2)
    assert schedule.claim("w1") == (1, 0) and schedule.claim("w2") == (2, 0)
    schedule.hour_done(1, 1, 10, now=1.0)
    schedule.store_release(1, 14)  # its user was stopped after 14 purchases
    assert schedule.claim("w2") == (1, 14)
    schedule.hour_done(2, 2, 20, now=2.0)
    # w2 dies: both its stores come back at their last finished hour.
    assert sorted(schedule.holders_lost(alive=["w1"])) == [1, 2]
    assert {schedule.claim("w1"), schedule.claim("w1")} == {(1, 14), (2, 20)}
    assert schedule.claim("w1") is None


def test_a_resumed_day_continues_from_its_position():
    params = DayParams(max_stores=1, num_purchases=4)
    hours = [hour for hour, _, _ in store_day(1, params, random.Random(), start=14)]
    assert hours == [4, 4] + [h for h in range(5, 10) for _ in range(4)]
