"""The analytics process on its own: no Django, bad settings refused, SIGTERM checkpoints."""
import os
import signal
import subprocess
import sys

import pytest
from kombu import Connection, Producer

from analytics import client
from analytics.checkpoint import checkpoint_load
from analytics.tests.test_consumer import task_body
from purchases.filesystem_broker import Transport
from purchases.tests.helpers import wait_until
from purchases.topology import topology_declare
from tigle_project.stack import ROOT, analytics_start


def run(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=ROOT, env={**os.environ, **env},
                          capture_output=True, text=True, timeout=60)


def test_it_never_imports_django():
    code = ("import sys; sys.modules['django'] = None; "
            "import analytics.service, analytics.__main__, analytics.rebuild")
    result = run("-c", code)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(("name", "value"), [
    ("ANALYTICS_LISTEN", "nowhere"),
    ("ANALYTICS_CHECKPOINT_SECONDS", "soon"),
    ("CELERY_BROKER_URL", "sqs://x"),
    ("CELERY_BROKER_URL", "amqp://a;sqs://b"),
    ("TIGLE_QUEUE_TYPE", "mirrored"),
])
def test_it_refuses_to_start_naming_the_bad_setting(name, value):
    result = run("-m", "analytics", "serve", **{name: value})
    assert result.returncode == 2 and name in result.stderr


def test_it_checkpoints_on_sigterm_and_resumes_from_it(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    env.update(TIGLE_VAR_DIR=str(tmp_path / "var"), ANALYTICS_CHECKPOINT_SECONDS="3600")
    state = tmp_path / "state"
    analytics, address = analytics_start(env, tmp_path, state_dir=state)
    try:
        # Publish two purchases into the embedded broker as the API would.
        folder = tmp_path / "var" / "broker"
        options = {"data_folder_in": str(folder / "queue"), "data_folder_out": str(folder / "queue"),
                   "control_folder": str(folder / "control")}
        with Connection("filesystem://", transport=Transport, transport_options=options) as conn:
            topology_declare(conn)  # as the web does before its first publish
            producer = Producer(conn.default_channel)
            for body in (task_body(3, [(8, 2)]), task_body(3, [(9, 5)])):
                producer.publish(body, exchange="purchases", routing_key="purchases.db",
                                 content_type="application/json", content_encoding="utf-8")
        wait_until(lambda: client.stats(address)["purchases"] == 2, 30, "two purchases counted")
        # Queries take the interpreter from the stream reader within 0.1 ms (service.py).
        assert "analytics serving (GIL switch interval 0.1 ms)" in analytics.log_text()
        assert checkpoint_load(state) is None  # none due yet
        analytics.signal_group(signal.SIGTERM)
        assert analytics.popen.wait(timeout=30) == 0
        saved = checkpoint_load(state)
        assert saved.last_offset == 1 and saved.matrix.top_items(3, 10) == [(9, 5), (8, 2)]
        analytics, address = analytics_start(env, tmp_path, state_dir=state,
                                              port=int(address.rpartition(":")[2]))
        assert "checkpoint loaded: offset 1, 2 purchases" in analytics.log_text()
        assert client.top_items(address, 3) == [(9, 5), (8, 2)]
    finally:
        analytics.stop()
