"""The analytics process on its own: no Django, bad settings refused, SIGTERM checkpoints."""
import json
import os
import signal
import subprocess
import sys

import pytest
from kombu import Connection, Producer

from analytics import client
from analytics.checkpoint import checkpoint_load
from analytics.kombu_compat import queue_bind
from analytics.tests.helpers import stream_publish
from analytics.tests.test_consumer import task_body
from purchases.broker.filesystem_broker import Transport
from purchases.tests.helpers import wait_until
from purchases.broker.topology import topology_declare
from loadtest.stack import ROOT, analytics_start, free_port


def run(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=ROOT, env={**os.environ, **env},
                          capture_output=True, text=True, timeout=60)


# The real serve() in a process of its own, stopped by SIGTERM once it counted every purchase;
# then the modules it loaded.
SERVE_THEN_LIST_MODULES = """
import json, os, signal, sys, threading, time
from analytics import client
from analytics.__main__ import main

def stop_once_counted():
    while True:
        try:
            if client.stats(os.environ["ANALYTICS_LISTEN"])["purchases"] == 40:
                break
        except Exception:  # not serving yet
            pass
        time.sleep(0.05)
    os.kill(os.getpid(), signal.SIGTERM)

threading.Thread(target=stop_once_counted, daemon=True).start()
code = main(["serve"])
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def filesystem_publish(folder, bodies: list[bytes]) -> None:
    """Purchases into the embedded broker's folder, as the API publishes them."""
    (folder / "queue").mkdir(parents=True, exist_ok=True)
    options = {"data_folder_in": str(folder / "queue"), "data_folder_out": str(folder / "queue"),
               "control_folder": str(folder / "control")}
    with Connection("filesystem://", transport=Transport, transport_options=options) as conn:
        topology_declare(conn)  # as the web does before its first publish
        producer = Producer(conn.default_channel)
        for body in bodies:
            producer.publish(body, exchange="purchases", routing_key="purchases.db",
                             content_type="application/json", content_encoding="utf-8")


@pytest.mark.parametrize("broker", ["rabbitmq", "embedded"])
def test_it_never_imports_django_while_it_counts(broker, vhost_new, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    env.update(TIGLE_VAR_DIR=str(tmp_path / "var"), ANALYTICS_STATE_DIR=str(tmp_path / "state"),
               ANALYTICS_LISTEN=f"127.0.0.1:{free_port()}")
    if broker == "rabbitmq":
        env["CELERY_BROKER_URL"], _ = vhost_new()
        stream_publish(env["CELERY_BROKER_URL"], 40)
    else:
        folder = tmp_path / "var" / "broker"
        # Bound as analytics binds it at start, so that what is published before is kept.
        queue_bind(folder / "control", "purchases", "purchases.analytics", "purchases.analytics")
        filesystem_publish(folder, [task_body(1 + n % 7, [(n + 1, 1)]) for n in range(40)])
    result = subprocess.run([sys.executable, "-c", SERVE_THEN_LIST_MODULES], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["code"] == 0, result.stderr
    assert "reading purchases.analytics from offset 0" in result.stderr
    loaded = {name.split(".")[0] for name in report["modules"]}
    assert "analytics" in loaded and not loaded & {"django", "kombu", "celery"}
    assert checkpoint_load(tmp_path / "state").matrix.totals().purchases == 40


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
        filesystem_publish(tmp_path / "var" / "broker",
                           [task_body(3, [(8, 2)]), task_body(3, [(9, 5)])])
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


def test_a_sigterm_the_kernel_hands_to_another_thread_still_stops_it(tmp_path):
    """The kernel may give a process's signal to any of its threads (gRPC's, the stream
    reader's); Python runs the handler only in the main thread, which must not sleep on."""
    import ctypes

    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    env.update(TIGLE_VAR_DIR=str(tmp_path / "var"), ANALYTICS_CHECKPOINT_SECONDS="3600")
    analytics, address = analytics_start(env, tmp_path, state_dir=tmp_path / "state")
    try:
        filesystem_publish(tmp_path / "var" / "broker", [task_body(3, [(8, 2)])])
        wait_until(lambda: client.stats(address)["purchases"] == 1, 30, "the purchase counted")
        pid = analytics.popen.pid
        other = next(int(t) for t in os.listdir(f"/proc/{pid}/task") if int(t) != pid)
        libc = ctypes.CDLL(None, use_errno=True)
        assert libc.tgkill(pid, other, signal.SIGTERM) == 0, ctypes.get_errno()
        assert analytics.popen.wait(timeout=15) == 0
        assert checkpoint_load(tmp_path / "state").last_offset == 0
    finally:
        analytics.stop()


@pytest.mark.parametrize("argv", [
    ("top-stores", "--item", "9" * 22), ("top-items", "--store", "1", "-n", "99999999999"),
    ("top-items", "--store", "x"),
])
def test_the_cli_refuses_a_number_it_cannot_send_in_one_line(argv):
    result = run("-m", "analytics", *argv, "--address", "127.0.0.1:9")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("python -m analytics")
