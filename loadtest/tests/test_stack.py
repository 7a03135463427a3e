"""loadtest/stack.py: a process that never becomes ready is not left running."""
from __future__ import annotations

import sys

import pytest

from loadtest.stack import Process, _ready


def test_a_process_whose_start_fails_is_stopped(tmp_path):
    process = Process("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"], {},
                      tmp_path / "sleeper.log").start()

    def never_ready() -> None:
        raise TimeoutError("no 'ready' in the log")

    with pytest.raises(TimeoutError):
        _ready(process, never_ready)
    assert not process.running
