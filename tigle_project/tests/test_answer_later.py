"""A Confirmation (tigle_project/answer_later.py): one outcome, told whenever it is asked for,
and nothing kept once told."""
import gc
import weakref

from tigle_project.answer_later import Confirmation


def test_a_confirmation_is_told_its_outcome_once_whenever_it_asks():
    told = []
    early = Confirmation()
    early.then(told.append)
    assert told == []
    early.settle(None)
    early.settle("too late")  # one outcome: the first
    late = Confirmation()
    late.settle("refused")
    late.then(told.append)
    assert told == [None, "refused"]


def test_a_settled_confirmation_lets_go_of_the_callback_that_holds_it():
    # The web worker's callback holds the waiting response, which holds the confirmation:
    # kept after settling, that cycle would wait for the cyclic garbage collector.
    class Waiting:
        pass

    waiting = Waiting()
    waiting.confirmation = Confirmation()
    waiting.confirmation.then(lambda error, waiting=waiting: None)
    gone = weakref.ref(waiting)
    gc.disable()  # only reference counting frees it now
    try:
        waiting.confirmation.settle(None)
        del waiting
        assert gone() is None
    finally:
        gc.enable()
