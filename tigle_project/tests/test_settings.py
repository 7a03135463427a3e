"""A bad setting stops the process at start, naming the variable."""
import json
import os
import subprocess
import sys

import pytest

from loadtest.stack import ROOT

CHECK = "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)"


def start(tmp_path, code: str = CHECK, **env):
    base = {k: v for k, v in os.environ.items()
            if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "DJANGO_SECRET_KEY", "REDIS_URL")}
    base.update(TIGLE_VAR_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="tigle_project.settings")
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**base, **env},
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TIGLE_WRITE_MODE", "fast"),
        ("TIGLE_DURABLE", "maybe"),
        ("TIGLE_QUEUE_TYPE", "stream"),
        ("DJANGO_DEBUG", "sure"),
        ("DATABASE_URL", "postgres://x/y"),
        ("CELERY_BROKER_URL", "sqs://"),
        ("ANALYTICS_ADDRESS", "localhost"),
        ("ANALYTICS_ADDRESS", "analytics:0"),  # a port to listen on, not to ask
        ("WORKER_METRICS_LISTEN", "0.0.0.0"),
        ("REDIS_URL", "memcached://x"),
        ("TIGLE_BATCH_SIZE", "0"),
        ("DJANGO_SECURE_COOKIES", "maybe"),
        ("DJANGO_HSTS_SECONDS", "a year"),
        # An origin needs its scheme: https://tigle.example.com.
        ("DJANGO_CSRF_TRUSTED_ORIGINS", "tigle.example.com"),
    ],
)
def test_it_refuses_to_start_naming_the_bad_setting(tmp_path, name, value):
    result = start(tmp_path, DJANGO_SECRET_KEY="k", **{name: value})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and name in result.stderr


def test_it_refuses_an_unknown_queue_type_and_a_bad_node_in_a_broker_list(tmp_path):
    # The queue type is read where the topology is built, before the settings module runs.
    result = start(tmp_path, DJANGO_SECRET_KEY="k", TIGLE_QUEUE_TYPE="mirrored")
    assert result.returncode != 0 and "TIGLE_QUEUE_TYPE='mirrored'" in result.stderr
    result = start(tmp_path, DJANGO_SECRET_KEY="k",
                   CELERY_BROKER_URL="amqp://guest@a:5672//;sqs://b")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and "CELERY_BROKER_URL" in result.stderr


def test_it_asks_mysql_for_tls_when_the_url_names_a_ca_bundle(tmp_path):
    show = "import django, json; django.setup(); from django.conf import settings; " \
           "print(json.dumps(settings.DATABASES['default']['OPTIONS']))"
    result = start(tmp_path, show, DJANGO_SECRET_KEY="k",
                   DATABASE_URL="mysql://tigle:pw@db.example:3306/tigle?ssl_ca=/etc/tigle/rds-ca.pem")
    assert result.returncode == 0, result.stderr
    options = json.loads(result.stdout.splitlines()[-1])
    # mysqlclient's own argument; the URL's name for it would be an unknown keyword there.
    assert options["ssl"] == {"ca": "/etc/tigle/rds-ca.pem"} and "ssl_ca" not in options


def test_it_refuses_a_production_configuration_without_a_secret_key(tmp_path):
    result = start(tmp_path, DATABASE_URL="mysql://root@127.0.0.1:3306/tigle")
    assert result.returncode != 0 and "DJANGO_SECRET_KEY" in result.stderr


def test_it_keeps_a_generated_secret_key_in_the_embedded_mode(tmp_path):
    assert start(tmp_path).returncode == 0
    key = (tmp_path / "secret_key").read_text()
    assert len(key) > 40 and oct((tmp_path / "secret_key").stat().st_mode)[-3:] == "600"
    assert start(tmp_path).returncode == 0
    assert (tmp_path / "secret_key").read_text() == key


@pytest.mark.parametrize(("url", "transport"), [
    ("amqp://guest:guest@127.0.0.1:5672//", "kombu.transport.pyamqp.Transport"),
    # kombu's SSL transport class is what switches TLS on.
    ("amqps://guest:guest@mq.example:5671//", "kombu.transport.pyamqp.SSLTransport"),
    ("filesystem://", "purchases.broker.filesystem_broker.Transport"),
])
def test_celery_talks_to_rabbitmq_through_kombus_own_transport(tmp_path, url, transport):
    show = ("import django; django.setup(); from tigle_project.celery_app import app; "
            "kind = type(app.connection_for_write().transport); "
            "print(f'{kind.__module__}.{kind.__qualname__}')")
    result = start(tmp_path, show, DJANGO_SECRET_KEY="k", CELERY_BROKER_URL=url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [transport]


def test_mysql_urls_get_djangos_own_mysql_engine(tmp_path):
    show = ("import django; django.setup(); from django.conf import settings; "
            "print(settings.DATABASES['default']['ENGINE'])")
    result = start(tmp_path, show, DJANGO_SECRET_KEY="k",
                   DATABASE_URL="mysql://tigle:pw@db.example:3306/tigle")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["django.db.backends.mysql"]


@pytest.mark.parametrize("name", ["DATABASE_URL", "CELERY_BROKER_URL"])
def test_a_refused_url_is_named_without_its_password(tmp_path, name):
    result = start(tmp_path, DJANGO_SECRET_KEY="k",
                   **{name: "amqp://guest@a:5672//;postgres://tigle:s3cret@db:5432/tigle"})
    assert result.returncode != 0 and name in result.stderr
    assert "s3cret" not in result.stderr and "tigle:***@db:5432" in result.stderr


@pytest.mark.parametrize(("name", "value"), [
    ("WEB_CONCURRENCY", "0"), ("WEB_THREADS", "many"), ("WEB_THREADS", "0"),
])
def test_the_web_server_refuses_to_start_naming_a_bad_size(tmp_path, name, value):
    """A web of no processes would start, listen and answer nothing."""
    result = subprocess.run(
        [sys.executable, "-m", "gunicorn", "-c", "python:tigle_project.gunicorn_conf",
         "--bind", "127.0.0.1:0", "tigle_project.wsgi"],
        cwd=ROOT, env={**os.environ, "DJANGO_SECRET_KEY": "k", name: value},
        capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert f"{name}={value!r}" in result.stderr

