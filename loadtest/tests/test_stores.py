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
    assert [schedule.claim() for _ in range(4)] == [1, 2, 3, None]
    assert schedule.hour_done(2, now=11.0) == []
    assert schedule.hour_done(3, now=12.0) == ["Central"]
    assert schedule.hour_done(4, now=13.0) == []
    assert schedule.hour_done(5, now=14.0) == ["West"]
    assert schedule.open_phases == {"East": 10.0, "Central": 12.0, "West": 14.0}
    for store in (1, 2):
        schedule.store_closed(store)
    assert not schedule.day_over
    schedule.store_closed(3)
    assert schedule.day_over
