"""With three rabbitmq hosts, deploy.yml describes one cluster of three nodes, and the app
connects to all of them.

The hosts are inventory entries on this machine, each rendering into a folder of its own
(`--tags config`: the configuration only, no packages, no broker).
"""
from __future__ import annotations

import ipaddress
import json
import socket
import sys
import urllib.parse
from pathlib import Path

import pytest

NODES = [f"ip-10-42-1-{n}.ec2.internal" for n in (11, 12, 13)]
APP_HOSTS = {"web": "ip-10-42-2-21.ec2.internal", "worker": "ip-10-42-2-22.ec2.internal"}
LOAD_HOST = "ip-10-42-2-31.ec2.internal"  # locust_master: load only
VAULT = {"vault_db_user": "tigle", "vault_db_password": "db-secret",
         "vault_rabbitmq_user": "tigle", "vault_rabbitmq_password": "p@ss/word",
         "vault_rabbitmq_erlang_cookie": "COOKIE42", "vault_django_secret_key": "k" * 50}


def settings(path: Path, separator: str) -> dict[str, str]:
    pairs = (line.split(separator, 1) for line in path.read_text().splitlines()
             if separator in line and not line.startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory, run_ansible) -> Path:
    """One render for the module: the tests only read it."""
    tmp_path = tmp_path_factory.mktemp("cluster")
    hosts = {"rabbitmq": {"hosts": {node: {"tigle_rabbitmq_prefix": str(tmp_path / node)}
                                    for node in NODES}}}
    for group, host in [*APP_HOSTS.items(), ("locust_master", LOAD_HOST)]:
        hosts[group] = {"hosts": {host: {"tigle_app_prefix": str(tmp_path / host)}}}
    inventory = tmp_path / "inventory.json"
    inventory.write_text(json.dumps({"all": {"children": hosts, "vars": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}))
    extra = tmp_path / "vars.json"
    extra.write_text(json.dumps({
        **VAULT, "tigle_db_host": "tigle.abc.us-east-1.rds.amazonaws.com",
        "tigle_elb_dns": "tigle-1.us-east-1.elb.amazonaws.com",
        "tigle_rabbitmq_manage_system": False, "tigle_rabbitmq_manage_accounts": False,
        "tigle_app_manage_system": False, "tigle_app_archive_dir": str(tmp_path)}))
    run_ansible("ansible-playbook", "-i", str(inventory), "deploy.yml",
                "--tags", "config", "-e", f"@{extra}")
    return tmp_path


def test_three_broker_hosts_render_one_cluster_of_three_nodes(rendered):
    configs = [settings(rendered / node / "etc/rabbitmq/rabbitmq.conf", "=") for node in NODES]
    names = [settings(rendered / node / "etc/rabbitmq/rabbitmq-env.conf", "=") for node in NODES]
    cookies = {(rendered / node / "var/lib/rabbitmq/.erlang.cookie").read_text() for node in NODES}

    members = {value for key, value in configs[0].items()
               if key.startswith("cluster_formation.classic_config.nodes.")}
    assert members == {f"rabbit@{node}" for node in NODES}
    for config in configs:
        assert config["cluster_formation.peer_discovery_backend"] == "classic_config"
        assert {k: v for k, v in config.items() if "classic_config.nodes" in k} == \
            {k: v for k, v in configs[0].items() if "classic_config.nodes" in k}
    # Each host runs one of the listed nodes, under the name the others know it by.
    assert [env["NODENAME"] for env in names] == [f"rabbit@{node}" for node in NODES]
    assert all(env["USE_LONGNAME"] == "true" for env in names)
    assert {env["SERVER_ADDITIONAL_ERL_ARGS"] for env in names} == {
        '"+sbwt none +sbwtdcpu none +sbwtdio none"'}
    assert cookies == {"COOKIE42"}, "one Erlang cookie, or the nodes refuse each other"


def test_the_app_connects_to_every_node_of_that_cluster_with_quorum_queues(rendered):
    for host in APP_HOSTS.values():
        env = settings(rendered / host / "etc/tigle/tigle.env", "=")
        urls = [urllib.parse.urlsplit(url) for url in env["CELERY_BROKER_URL"].split(";")]
        assert [url.hostname for url in urls] == NODES
        assert {(url.scheme, url.port, url.path, url.username) for url in urls} == {
            ("amqp", 5672, "/tigle", "tigle")}
        assert {urllib.parse.unquote(url.password) for url in urls} == {"p@ss/word"}
        assert env["TIGLE_QUEUE_TYPE"] == "quorum"
        assert env["DATABASE_URL"] == \
            ("mysql://tigle:db-secret@tigle.abc.us-east-1.rds.amazonaws.com:3306/tigle"
         "?ssl_ca=/etc/tigle/database-ca.pem")


def private_address() -> str:
    """This machine's address on its default route, as Ansible's default_ipv4 fact finds it."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: the kernel picks the route
        except OSError:
            return "127.0.0.1"
        return probe.getsockname()[0]


def test_the_metrics_bind_on_the_private_address_for_the_private_ranges_only(rendered):
    for host in APP_HOSTS.values():
        env = settings(rendered / host / "etc/tigle/tigle.env", "=")
        assert env["WORKER_METRICS_LISTEN"] == f"{private_address()}:9101"
        assert env["ANALYTICS_METRICS_LISTEN"] == f"{private_address()}:9102"
        allowed = [ipaddress.ip_network(c) for c in env["METRICS_ALLOWED_CIDRS"].split(",")]
        assert allowed and all(n.is_private for n in allowed)


def test_a_load_generator_gets_none_of_the_apps_secrets(rendered):
    env = settings(rendered / LOAD_HOST / "etc/tigle/tigle.env", "=")
    assert not {"DATABASE_URL", "CELERY_BROKER_URL", "DJANGO_SECRET_KEY"} & env.keys()
    assert "db-secret" not in str(env) and "p@ss" not in str(env) and "k" * 50 not in str(env)

