"""deploy.yml converges for real on this machine, into a temporary root, and its units work."""
from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from purchases.tests.helpers import database_purchases, queue_types, wait_until
from loadtest.stack import (
    REALTIME_PRIORITY,
    ROOT,
    Process,
    free_port,
    realtime_allowed,
    realtime_argv,
    wait_http,
)

ANSIBLE = ROOT / "ansible"
PLAYBOOKS = sorted(path.name for path in ANSIBLE.glob("*.yml"))
# Every group deploy.yml configures, all on this one host.
GROUPS = ["rabbitmq", "web", "worker", "analytics", "locust_master", "locust_worker"]


def test_it_lints_clean_on_the_production_profile(run_ansible):
    run_ansible("ansible-lint", "--profile", "production", "--offline")


@pytest.mark.parametrize("playbook", PLAYBOOKS)
def test_every_playbook_passes_the_syntax_check(playbook, tmp_path, run_ansible):
    inventory = tmp_path / "inventory.json"
    inventory.write_text(json.dumps({"all": {"children": {g: {"hosts": {"h": {}}} for g in GROUPS}}}))
    run_ansible("ansible-playbook", "-i", str(inventory), playbook, "--syntax-check")


def unit(path: Path) -> dict[str, str]:
    """The [Service] settings of a rendered unit file."""
    settings = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            settings[key] = value
    return settings


def unit_process(path: Path, log_dir: Path) -> Process:
    """The unit's command as systemd would run it: its folder, its environment file."""
    settings = unit(path)
    env = dict(line.split("=", 1) for line in Path(settings["EnvironmentFile"]).read_text()
               .splitlines() if line and not line.startswith("#"))
    name, value = settings["Environment"].split("=", 1)
    env[name] = value
    env["PATH"] = os.environ["PATH"]
    argv = [part.replace("$$", "$") for part in shlex.split(settings["ExecStart"])]
    if settings.get("CPUSchedulingPolicy") == "rr":
        assert settings["CPUSchedulingPriority"] == str(REALTIME_PRIORITY)
        argv = realtime_argv(argv)
    return Process(path.stem, argv, env, log_dir / f"{path.stem}.log",
                   cwd=Path(settings["WorkingDirectory"]))


def top_items(base: str, store: int) -> list[dict] | None:
    try:
        with urllib.request.urlopen(f"{base}/items/store/{store}", timeout=5) as response:
            return json.loads(response.read())["stores"]
    except OSError:  # 404 until analytics counted it
        return None


def recap_changed(output: str) -> int:
    return int(re.search(r"changed=(\d+)", output.split("PLAY RECAP", 1)[1]).group(1))


def local_node() -> str:
    """The Erlang name of this machine's RabbitMQ node, which rabbitmqctl must address."""
    return subprocess.run(["rabbitmqctl", "-q", "eval", "node()."], check=True,
                          capture_output=True, text=True, timeout=60).stdout.strip()


@pytest.fixture
def broker_account():
    """A RabbitMQ user the broker role creates, removed afterwards."""
    user, password = f"tigle-converge-{secrets.token_hex(3)}", secrets.token_hex(16)
    yield user, password
    subprocess.run(["rabbitmqctl", "-q", "delete_user", user], capture_output=True, timeout=60)


def test_it_converges_twice_without_changes_and_the_units_carry_a_purchase(
        own_stack, tmp_path, run_ansible, broker_account):
    stack = own_stack
    web_port, analytics_port = free_port(), free_port()
    root = tmp_path / "root"
    inventory = tmp_path / "inventory.json"
    inventory.write_text(json.dumps({"all": {
        "children": {group: {"hosts": {"local": {}}} for group in GROUPS},
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}))
    # The broker role works on this machine's RabbitMQ: the test's own vhost, a user of its
    # own (the app logs in as that user), guest kept for the other tests.
    user, password = broker_account
    extra = tmp_path / "vars.json"
    extra.write_text(json.dumps({
        "tigle_rabbitmq_prefix": str(root), "tigle_rabbitmq_manage_system": False,
        "tigle_rabbitmq_nodename": local_node(), "tigle_rabbitmq_vhost": stack.vhost,
        "tigle_rabbitmq_user": user, "tigle_rabbitmq_password": password,
        "tigle_rabbitmq_remove_guest": False, "tigle_rabbitmq_erlang_cookie": "converge-test",
        "tigle_app_prefix": str(root), "tigle_app_manage_system": False,
        "tigle_app_archive_dir": str(tmp_path), "tigle_app_python": os.path.realpath(sys.executable),
        "tigle_app_database_url": stack.database_url, "tigle_app_database_ca_url": "",
        "tigle_app_broker_urls": [f"amqp://{user}:{password}@127.0.0.1:5672/{stack.vhost}"],
        "tigle_app_secret_key": "converge-test",
        "tigle_app_analytics_listen": f"127.0.0.1:{analytics_port}",
        "tigle_app_analytics_address": f"127.0.0.1:{analytics_port}",
        "tigle_app_extra_env": {"PORT": str(web_port), "HOST": "127.0.0.1"},
        # What provision.yml would write: Locust's target, here this web.
        "tigle_elb_dns": f"127.0.0.1:{web_port}",
        # As on a host that runs everything: analytics' queries ahead of the ingest.
        "tigle_units_realtime": ["analytics"] if realtime_allowed() else [],
    }))
    # Releases of earlier deploys: the newest is kept beside the new one, the other removed.
    releases = root / "opt/tigle/releases"
    for age, name in ((2, "0ld0ld0ld0ld"), (1, "0lder0lder00")):
        (releases / name).mkdir(parents=True)
        os.utime(releases / name, (time.time() - age * 86400,) * 2)
    command = ["ansible-playbook", "-i", str(inventory), "deploy.yml", "-e", f"@{extra}"]
    first = run_ansible(*command)
    assert recap_changed(first.stdout) > 0
    second = run_ansible(*command)
    assert recap_changed(second.stdout) == 0, second.stdout[-3000:]
    current = (root / "opt/tigle/current").resolve().name
    assert sorted(one.name for one in releases.iterdir()) == sorted([current, "0lder0lder00"])

    types = queue_types(stack.vhost)
    assert [types["purchases.db"], types["purchases.analytics"]] == ["quorum", "stream"]
    policies = subprocess.run(["rabbitmqctl", "-q", "list_policies", "-p", stack.vhost,
                               "--formatter", "json"], check=True, capture_output=True,
                              text=True, timeout=60).stdout
    assert [(p["name"], p["pattern"], p["apply-to"], json.loads(p["definition"])) for p in
            json.loads(policies)] == [("tigle-queue-version", r"^purchases\.db(\.parked)?$",
                                       "queues", {"queue-version": 2})]
    queues = subprocess.run(["rabbitmqctl", "-q", "list_queues", "-p", stack.vhost, "name",
                             "policy", "--formatter", "json"], check=True, capture_output=True,
                            text=True, timeout=60).stdout
    assert {q["name"]: q["policy"] for q in json.loads(queues)
            if q["name"] != "purchases.analytics"} == {
        "purchases.db": "tigle-queue-version", "purchases.db.parked": "tigle-queue-version"}

    units = root / "etc/systemd/system"
    assert sorted(p.name for p in units.iterdir()) == [
        f"tigle-{name}.service" for name in
        ("analytics", "locust-master", "locust-worker", "web", "worker")]
    realtime = [p.stem for p in units.iterdir() if unit(p).get("CPUSchedulingPolicy") == "rr"]
    assert realtime == (["tigle-analytics"] if realtime_allowed() else [])
    env_file = root / "etc/tigle/tigle.env"
    assert oct(env_file.stat().st_mode & 0o777) == "0o600"
    if shutil.which("systemd-analyze"):
        verify = subprocess.run(["systemd-analyze", "verify", *map(str, units.iterdir())],
                                capture_output=True, text=True)
        assert verify.returncode == 0, verify.stderr

    processes = [unit_process(units / f"tigle-{name}.service", tmp_path / "logs")
                 for name in ("analytics", "worker", "web")]
    try:
        for process in processes:
            process.start()
        processes[0].wait_for_log("reading purchases.analytics", timeout=60)
        processes[1].wait_for_log("ready.", timeout=60)
        base = f"http://127.0.0.1:{web_port}"
        wait_http(f"{base}/healthz", processes[2])
        request = urllib.request.Request(
            f"{base}/purchase/7/customer/7001/date/20210101", method="POST",
            data=json.dumps({"items": [{"ItemID": "42", "numberOfItems": 3}]}).encode(),
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 201
        wait_until(lambda: len(database_purchases(stack.database_url)) == 1, 30, "the row")
        # Through the web, over gRPC, from the analytics unit.
        wait_until(lambda: top_items(base, 7) == [{"itemID": 42, "numberOfItems": 3}], 30,
                   "analytics counted it")
    finally:
        for process in reversed(processes):
            process.stop()
