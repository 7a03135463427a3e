"""make up: the Procfile's processes, their ports from the environment, and the pages it lists."""
import os
import signal
import subprocess
import sys

import requests

from loadtest.stack import ROOT, free_port
from loadtest.up import banner, pages, up_env
from purchases.tests.helpers import wait_until


def procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip())


def test_the_procfile_runs_the_processes_of_the_design():
    assert list(procfile()) == ["web", "worker", "analytics", "locust"]


def test_by_default_everything_is_on_loopback_at_the_designs_ports():
    env = up_env({})
    assert (env["HOST"], env["LOCUST_WEB_HOST"]) == ("127.0.0.1", "127.0.0.1")
    assert dict(pages(env)) == {
        "API docs": "http://127.0.0.1:8000/api/docs/",
        "admin": "http://127.0.0.1:8000/admin/  (a login: .venv/bin/python manage.py "
                 "createsuperuser)",
        "dashboard": "http://127.0.0.1:8000/dashboard/",
        "health": "http://127.0.0.1:8000/healthz",
        "web metrics": "http://127.0.0.1:8000/metrics",
        "Locust UI": "http://127.0.0.1:8089/",
        "worker metrics": "http://127.0.0.1:9101/metrics",
        "analytics metrics": "http://127.0.0.1:9102/metrics",
        "analytics gRPC": "127.0.0.1:50051  (.venv/bin/python -m analytics stats)",
    }
    assert "open to this machine only" in banner(env)


def test_every_port_and_address_comes_from_the_environment():
    env = up_env({"HOST": "0.0.0.0", "PORT": "9000", "LOCUST_PORT": "9089",
                  "ANALYTICS_LISTEN": "127.0.0.1:50061", "WORKER_METRICS_LISTEN": "0.0.0.0:9201",
                  "ANALYTICS_METRICS_LISTEN": "[::1]:9202"})
    where = dict(pages(env))
    assert where["dashboard"] == "http://127.0.0.1:9000/dashboard/"
    assert where["Locust UI"] == "http://127.0.0.1:9089/" and env["LOCUST_WEB_HOST"] == "0.0.0.0"
    assert where["worker metrics"] == "http://127.0.0.1:9201/metrics"
    assert where["analytics metrics"] == "http://[::1]:9202/metrics"
    # The web finds analytics where analytics listens, and Locust finds the web.
    assert env["ANALYTICS_ADDRESS"] == "127.0.0.1:50061"
    assert env["TIGLE_URL"] == "http://127.0.0.1:9000"
    assert "open to HOST=0.0.0.0" in banner(env)
    assert up_env({"LOCUST_WEB_HOST": "10.0.0.5"})["LOCUST_WEB_HOST"] == "10.0.0.5"


def test_make_ups_locust_serves_its_ui_where_the_environment_says():
    port = free_port()
    env = {**os.environ, "LOCUST_PORT": str(port), "PORT": str(free_port())}
    # Locust alone through honcho, as make up starts it: no web, broker or database needed.
    up = subprocess.Popen([sys.executable, "-m", "loadtest.up", "locust"], cwd=ROOT, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          start_new_session=True)
    try:
        wait_until(lambda: _answers(f"http://127.0.0.1:{port}/day"), 30, "the Locust UI")
    finally:
        os.killpg(up.pid, signal.SIGTERM)
        output, _ = up.communicate(timeout=30)
    assert f"Locust UI          http://127.0.0.1:{port}/" in output
    assert f"Starting web interface at http://127.0.0.1:{port}" in output


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False
