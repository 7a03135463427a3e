"""The web and the Celery worker freeze what start-up left them before their work starts
(tigle_project/heap.py): the collector's walks then skip it."""
import gc

import pytest
from celery.signals import worker_ready

from tigle_project import gunicorn_conf


@pytest.fixture
def unfrozen():
    gc.unfreeze()
    yield
    gc.unfreeze()  # the test process keeps its usual collector


@pytest.mark.parametrize("start", [
    lambda: gunicorn_conf.post_worker_init(worker=None),  # gunicorn, once the app is loaded
    lambda: worker_ready.send(sender=None),  # Celery, once the consumer is ready
], ids=["web", "worker"])
def test_a_process_freezes_its_start_up_objects_when_its_work_starts(unfrozen, start,
                                                                     monkeypatch):
    from purchases import analytics_backlog

    # The web's hook also starts the backlog sender, which has no place in this process.
    monkeypatch.setattr(analytics_backlog, "backlog_sender_start", lambda **_: None)
    assert gc.get_freeze_count() == 0
    start()
    assert gc.get_freeze_count() > 10_000  # modules, classes, caches: not a handful
