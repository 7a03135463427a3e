"""Settings entries for the outside services, each built from its URL: the database, the
idempotency cache and the broker transport's options. Imported by settings.py only."""
from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

from analytics.config import url_redacted
from purchases.mysql_tls import mysql_ssl


def database(url: str) -> dict:
    """DATABASES['default'] for DATABASE_URL."""
    try:
        config = environ.Env.db_url_config(url)
    except Exception as exc:  # django-environ raises several types for a bad URL
        raise ImproperlyConfigured(f"DATABASE_URL={url_redacted(url)!r}: {exc}") from None
    if config["ENGINE"].endswith("sqlite3"):
        Path(config["NAME"]).parent.mkdir(parents=True, exist_ok=True)
        # WAL and a write lock taken up front let web and worker share the file.
        config["OPTIONS"] = {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    else:
        options = config.setdefault("OPTIONS", {})
        options.pop("ssl_ca", None)  # not a driver argument: mysql_ssl() turns it into one
        if ssl := mysql_ssl(url):
            options["ssl"] = ssl
        options.update(
            {
                "charset": "utf8mb4",
                "isolation_level": "read committed",
                # A database that stops answering must fail a query, not hang the worker's
                # event loop or a request thread.
                "connect_timeout": 5,
                "read_timeout": 30,
                "write_timeout": 30,
            }
        )
        # Persistent connections, checked before reuse (the seed's pooled JDBC, milestone 2).
        config["CONN_MAX_AGE"] = 600
        config["CONN_HEALTH_CHECKS"] = True
    return config


def idempotency_cache(redis_url: str, database_name: str) -> dict:
    """CACHES['idempotency'] in Redis; without REDIS_URL the keys live in a table instead
    (purchases/idempotency_table.py)."""
    return {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": redis_url,
        "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        # Keys are scoped by database: one Redis can serve several deployments or test runs.
        "KEY_PREFIX": f"tigle:{database_name}",
    }


def broker_transport_options(url: str, *, durable: bool, var_dir: Path) -> dict:
    """CELERY_BROKER_TRANSPORT_OPTIONS: publisher confirms, or the filesystem broker's folders."""
    if not url.startswith("filesystem"):
        return {"confirm_publish": durable}
    # filesystem:///some/dir keeps the broker there; plain filesystem:// uses var/broker/.
    folder = Path(urlsplit(url).path or var_dir / "broker")
    for sub in ("queue", "control"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    return {
        "data_folder_in": str(folder / "queue"),
        "data_folder_out": str(folder / "queue"),
        "control_folder": str(folder / "control"),
    }
