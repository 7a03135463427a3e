"""Tigle settings: everything comes from the environment; with nothing set, the embedded mode runs."""
from __future__ import annotations

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from tigle_project.env import (
    env_addresses,
    env_bool,
    env_cidrs,
    env_choice,
    env_float,
    env_int,
    env_listen,
    env_origins,
    env_str,
    env_url,
    kept_secret,
)
from tigle_project.service_config import broker_transport_options, database, idempotency_cache

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("TIGLE_VAR_DIR", str(BASE_DIR / "var"))).resolve()

DATABASE_URL = env_url(
    "DATABASE_URL", f"sqlite:///{VAR_DIR}/tigle.sqlite3", ("sqlite", "mysql", "mysql2")
)
CELERY_BROKER_URL = env_url(
    "CELERY_BROKER_URL", "filesystem://", ("filesystem", "amqp", "amqps", "pyamqp")
)
# Embedded: neither outside service configured, so a demo can run with nothing set up.
EMBEDDED = "DATABASE_URL" not in os.environ and CELERY_BROKER_URL.startswith("filesystem")

DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = env_str("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not (DEBUG or EMBEDDED):
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is not set; it is required unless DJANGO_DEBUG=1 or the "
            "embedded mode (no DATABASE_URL, filesystem broker)"
        )
    SECRET_KEY = kept_secret(VAR_DIR / "secret_key")
ALLOWED_HOSTS = [
    h.strip() for h in env_str("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",")
]

# HTTPS ends at the load balancer, which says so in X-Forwarded-Proto (replacing any a client
# sent). The header is believed from any peer, which is safe only because the app port is
# reachable from the load balancer and the VPC alone (the web security group, ansible/);
# gunicorn_conf.py believes it the same way, so wsgi.url_scheme agrees with is_secure().
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Only where the public side is HTTPS: a browser never returns a Secure cookie over plain
# HTTP (make up, the demo, the tests), and the admin login would fail there.
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", False)
# HSTS goes out on HTTPS answers only; 0 sends none, so plain HTTP keeps working.
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 0, low=0, high=2 * 365 * 86400)
# The public host name is Tigle's own: nothing under it has to stay reachable over HTTP.
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
CSRF_TRUSTED_ORIGINS = env_origins("DJANGO_CSRF_TRUSTED_ORIGINS")
# The load balancer redirects HTTP to HTTPS before Django sees it. What does reach the app
# over plain HTTP comes from inside the VPC, the load balancer's health checks and Prometheus,
# and must get an answer, not a redirect.
SECURE_SSL_REDIRECT = False
SILENCED_SYSTEM_CHECKS = [
    "security.W008",  # SECURE_SSL_REDIRECT off: the reason is just above.
    # HSTS preload binds the whole registered domain, every other host of it included, and
    # its owner asks for it at hstspreload.org: not something one host's header decides.
    "security.W021",
]

TIGLE_WRITE_MODE = env_choice("TIGLE_WRITE_MODE", "queue", ("queue", "sync"))
TIGLE_DURABLE = env_bool("TIGLE_DURABLE", True)
# make bench's ceiling: answer 201 to every purchase without validating or recording it.
# Never in production: nothing would be recorded.
TIGLE_BENCH_CEILING = env_bool("TIGLE_BENCH_CEILING", False)
# Worker batches: flushed at this many purchases or after this many seconds, whichever is first.
TIGLE_BATCH_SIZE = env_int("TIGLE_BATCH_SIZE", 500, low=1, high=10_000)
TIGLE_BATCH_SECONDS = env_float("TIGLE_BATCH_SECONDS", 0.2, low=0.001, high=60)
# How long a request waits for the broker (connect and publisher confirm) before a 503.
TIGLE_PUBLISH_TIMEOUT = env_float("TIGLE_PUBLISH_TIMEOUT", 5.0, low=0.1, high=60)
REDIS_URL = env_str("REDIS_URL", "")
if REDIS_URL:
    env_url("REDIS_URL", REDIS_URL, ("redis", "rediss", "unix"))
ANALYTICS_ADDRESS = env_addresses("ANALYTICS_ADDRESS", "127.0.0.1:50051")
# How long a top-N query waits for analytics (all its retries included) before a 503.
TIGLE_ANALYTICS_TIMEOUT = env_float("TIGLE_ANALYTICS_TIMEOUT", 1.0, low=0.01, high=60)
# Prometheus metrics (purchases/metrics.py): who may read the web's /metrics and the
# worker's, and where the worker serves them.
METRICS_ALLOWED_CIDRS = env_cidrs("METRICS_ALLOWED_CIDRS")
WORKER_METRICS_LISTEN = env_listen("WORKER_METRICS_LISTEN", "127.0.0.1:9101")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "purchases",
    "purchases.dashboard",
]
MIDDLEWARE = [
    # Outermost: it sees the answer as every other one left it.
    "purchases.head_requests.head_without_body",
    "django.middleware.security.SecurityMiddleware",
    # gunicorn serves the admin's and the API docs' static files itself; no web server needed.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Under gevent the admin and the dashboard page, which wait on MySQL, run on native threads.
    "purchases.page_threads.PagesOnNativeThreadsMiddleware",
    # Sessions, logins and messages: Django's own, skipped on the JSON API's paths
    # (purchases/page_middleware.py). CSRF and framing stay by their names for every path:
    # `check --deploy` looks for them by name, and an API answer keeps X-Frame-Options.
    "purchases.page_middleware.PageSessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "purchases.page_middleware.PageAuthenticationMiddleware",
    "purchases.page_middleware.PageMessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
# Messages (the admin's) kept in the session: the default also reads a signed cookie, and
# builds its signer on every request, purchases included.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"
ROOT_URLCONF = "tigle_project.urls"
WSGI_APPLICATION = "tigle_project.wsgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

DATABASES = {"default": database(DATABASE_URL)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The API reads at most 64 KiB of body; larger requests get a 413 (see purchases/apis.py).
PURCHASE_MAX_BODY = 64 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = PURCHASE_MAX_BODY

CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
if REDIS_URL:
    CACHES["idempotency"] = idempotency_cache(REDIS_URL, DATABASES["default"]["NAME"])

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns on every request without it
# Served straight from the installed apps, so no collectstatic step is needed to deploy.
WHITENOISE_USE_FINDERS = True

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "UNAUTHENTICATED_USER": None,
    "EXCEPTION_HANDLER": "purchases.apis.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Tigle purchases API",
    "DESCRIPTION": (
        "Record the purchases of a supermarket chain's stores, and ask which items sell "
        "most in a store and which stores sell most of an item. Compatible with GianTigle "
        "1.0.0 clients. Every answer is JSON; an error's `message` names the field at fault."
    ),
    "VERSION": "1.0.0",
    # The schema document describes the API, not itself.
    "SERVE_INCLUDE_SCHEMA": False,
    # Path parameters in the order the path has them, not alphabetical.
    "SORT_OPERATION_PARAMETERS": False,
    "TAGS": [
        {"name": "purchases", "description": "Record what customers bought."},
        {"name": "rankings", "description": "Best-selling items and stores."},
        {"name": "health", "description": "For load balancers and monitoring."},
    ],
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "displayRequestDuration": True},
    # Served from this app, not a CDN: the docs page works on a closed network too.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
}


CELERY_BROKER_TRANSPORT_OPTIONS = broker_transport_options(
    CELERY_BROKER_URL, durable=TIGLE_DURABLE, var_dir=VAR_DIR)
if CELERY_BROKER_URL.startswith("filesystem"):
    CELERY_BROKER_URL = "filesystem://"
    # Writes each message file whole before it appears (see purchases/broker/filesystem_broker.py).
    CELERY_BROKER_TRANSPORT = "purchases.broker.filesystem_broker:Transport"
CELERY_BROKER_HEARTBEAT = 10
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_PROTOCOL = 2
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_DEFAULT_QUEUE = "purchases.db"
# The batch consumer holds up to two batches unacked; the broker stops sending past that.
CELERY_WORKER_PREFETCH_MULTIPLIER = 2 * TIGLE_BATCH_SIZE
# Celery restores a reduced prefetch through task acks it makes itself; the batcher acks
# messages directly, so a reduction after a reconnect would never be lifted.
CELERY_WORKER_ENABLE_PREFETCH_COUNT_REDUCTION = False
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Celery's default, said out loud: a pool_restart would drop the batcher's pending messages
# (unacked, so not lost) until the next reconnect; restart the worker process instead.
CELERY_WORKER_POOL_RESTARTS = False

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "filters": {"client_mistakes": {"()": "tigle_project.log_filters.ClientMistakeOneLine"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain",
                             "filters": ["client_mistakes"]}},
    "root": {"handlers": ["console"], "level": "INFO"},
    "loggers": {"django.request": {"level": "ERROR"}},
}
