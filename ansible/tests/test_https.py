"""HTTPS at the load balancer, seen from the app: the environment deploy.yml writes with a
certificate passes Django's deployment checks, and without one keeps plain HTTP working.

The web host is an inventory entry on this machine rendering into a folder of its own
(`--tags config`: the configuration only), as in test_cluster.py.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

from loadtest.stack import ROOT

WEB = "ip-10-42-1-21.ec2.internal"
BROKER = "ip-10-42-1-11.ec2.internal"
HOST = "tigle.example.com"
CERTIFICATE = "arn:aws:acm:us-east-1:123456789012:certificate/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"


def deploy_config(tmp_path: Path, run_ansible, check: bool = True, **extra):
    """deploy.yml's configuration of one web host, with the vault's secrets made as its
    example says (openssl rand -hex)."""
    inventory = tmp_path / "inventory.json"
    inventory.write_text(json.dumps({"all": {"children": {
        "web": {"hosts": {WEB: {"tigle_app_prefix": str(tmp_path / "root")}}},
        # Listed for the app's broker URL only; --limit keeps the broker role off it.
        "rabbitmq": {"hosts": {BROKER: {}}}},
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}))
    variables = tmp_path / "vars.json"
    variables.write_text(json.dumps({
        "vault_db_user": "tigle", "vault_db_password": secrets.token_hex(20),
        "vault_rabbitmq_user": "tigle", "vault_rabbitmq_password": secrets.token_hex(32),
        "vault_django_secret_key": secrets.token_hex(32),
        "tigle_db_host": "tigle.abc.us-east-1.rds.amazonaws.com",
        "tigle_elb_dns": "tigle-1.us-east-1.elb.amazonaws.com",
        "tigle_app_manage_system": False, "tigle_app_archive_dir": str(tmp_path), **extra}))
    return run_ansible("ansible-playbook", "-i", str(inventory), "deploy.yml", "--tags", "config",
                       "--limit", WEB, "-e", f"@{variables}", check=check)


def app_env(tmp_path: Path) -> dict[str, str]:
    """The environment file the host's units read, as a dict."""
    lines = (tmp_path / "root/etc/tigle/tigle.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def deploy_check(env: dict[str, str]) -> subprocess.CompletedProcess:
    """Django's deployment checks in that environment and no other (PATH aside)."""
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env={**env, "PATH": os.environ["PATH"]}, capture_output=True, text=True,
        timeout=120)


def tls_settings(env: dict[str, str]) -> tuple[str, str, str]:
    return (env["DJANGO_SECURE_COOKIES"], env["DJANGO_HSTS_SECONDS"],
            env["DJANGO_CSRF_TRUSTED_ORIGINS"])


def test_with_a_certificate_the_apps_environment_passes_djangos_deploy_checks(
        tmp_path, run_ansible):
    deploy_config(tmp_path, run_ansible, tigle_certificate_arn=CERTIFICATE,
                  tigle_public_host=HOST)
    env = app_env(tmp_path)
    assert tls_settings(env) == ("1", "31536000", f"https://{HOST}")
    result = deploy_check(env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
    assert "WARNING" not in result.stdout + result.stderr


def test_without_one_the_app_stays_on_plain_http_and_django_names_just_what_is_missing(
        tmp_path, run_ansible):
    deploy_config(tmp_path, run_ansible)
    env = app_env(tmp_path)
    # Cookies a browser sends back over plain HTTP, no HSTS: the admin login works.
    assert tls_settings(env) == ("0", "0", "")
    result = deploy_check(env)
    assert result.returncode != 0
    # HSTS and the two secure cookies: what the certificate's settings above supply. Django
    # names the session cookie through its app (W010): its check for the session middleware
    # goes by name, and ours is a subclass (purchases/page_middleware.py).
    assert set(re.findall(r"security\.W\d+", result.stderr)) == {
        "security.W004", "security.W010", "security.W016"}, result.stderr


def test_a_certificate_without_its_host_name_stops_the_deploy_naming_it(tmp_path, run_ansible):
    result = deploy_config(tmp_path, run_ansible, check=False, tigle_certificate_arn=CERTIFICATE)
    assert result.returncode != 0
    assert "tigle_public_host" in result.stdout
    assert not (tmp_path / "root/etc/tigle/tigle.env").exists()
