"""The broker probe (python -m loadtest.broker_probe), on a short run of its own vhost."""
from loadtest.broker_probe import burst_run
from purchases.events import ANALYTICS_STREAM, DB_QUEUE
from purchases.tests import run_env


def test_every_message_written_in_bursts_reaches_the_queue_and_the_stream():
    result = burst_run(rate=400, burst=4, seconds=1.0, vhost=f"{run_env.VHOST}-probe")
    assert result["sent"] >= 100 and result["sent"] % 4 == 0
    assert result["consumed"] == {DB_QUEUE: result["sent"], ANALYTICS_STREAM: result["sent"]}
    assert result["broker_ms_per_message"] > 0
