"""The analytics process's settings, from the same environment as the rest of Tigle.

Standard library only: analytics never imports Django. A bad value raises ConfigError naming
the variable, and the process stops at start.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from analytics.setting_values import host_port_split, number_parse
from analytics.metrics_access import DEFAULT_ALLOWED_CIDRS, Network, cidrs_parse
from purchases.events import queue_type  # standard library only, too

ROOT = Path(__file__).resolve().parent.parent


class ConfigError(ValueError):
    """A setting with a bad value; the message names the variable."""


@dataclass(frozen=True)
class Config:
    listen: str
    state_dir: Path
    broker_url: str
    # The filesystem broker's folder (embedded mode); None on RabbitMQ.
    broker_folder: Path | None
    database_url: str
    checkpoint_seconds: float
    threads: int
    max_rpcs: int
    batch_size: int
    # The catalogue's size: item columns every store's row holds from the start (0: grown as
    # items appear).
    items: int = 0
    # Prometheus metrics: where they are served, and to whom.
    metrics_listen: str = "127.0.0.1:9102"
    metrics_allowed: tuple[Network, ...] = cidrs_parse(DEFAULT_ALLOWED_CIDRS)

    @property
    def embedded_broker(self) -> bool:
        return self.broker_folder is not None


def _get(environ: Mapping[str, str], name: str, default: str) -> str:
    return environ.get(name, "").strip() or default


def _number(environ: Mapping[str, str], name: str, default: float, cast: type, low: float,
            high: float):
    try:
        return number_parse(name, _get(environ, name, str(default)), cast, low, high)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def address_check(name: str, address: str, *, listening: bool = False) -> str:
    try:
        host_port_split(address, listening=listening)
    except ValueError as exc:
        raise ConfigError(f"{name}={exc}") from None
    return address


def _scheme_check(name: str, url: str, schemes: tuple[str, ...]) -> str:
    # A ';'-separated list is a broker cluster's nodes; each must be a URL.
    if any(urlsplit(one).scheme not in schemes for one in url.split(";")):
        raise ConfigError(f"{name}={url_redacted(url)!r}: scheme is not one of "
                          f"{', '.join(schemes)}")
    return url


def url_redacted(url: str) -> str:
    """url (or a ';'-separated list of them) with each password shown as ***: error messages
    end up in logs that more people read than may know the database's password."""
    return ";".join(_password_hidden(one) for one in url.split(";"))


def _password_hidden(url: str) -> str:
    parts = urlsplit(url)
    userinfo, at, host = parts.netloc.rpartition("@")
    if not at or ":" not in userinfo:
        return url
    user = userinfo.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def config_from_env(environ: Mapping[str, str] = os.environ) -> Config:
    # The same defaults as tigle_project/settings.py, so both find the same embedded files.
    var_dir = Path(_get(environ, "TIGLE_VAR_DIR", str(ROOT / "var"))).resolve()
    broker_url = _scheme_check(
        "CELERY_BROKER_URL", _get(environ, "CELERY_BROKER_URL", "filesystem://"),
        ("filesystem", "amqp", "amqps", "pyamqp"),
    )
    folder = None
    if broker_url.startswith("filesystem"):
        folder = Path(urlsplit(broker_url).path or var_dir / "broker")
    try:  # not used here, but a host's processes refuse the same bad environment alike
        queue_type(environ)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return Config(
        listen=address_check("ANALYTICS_LISTEN",
                             _get(environ, "ANALYTICS_LISTEN", "127.0.0.1:50051"), listening=True),
        state_dir=Path(_get(environ, "ANALYTICS_STATE_DIR", str(var_dir / "analytics"))),
        broker_url=broker_url,
        broker_folder=folder,
        database_url=_scheme_check(
            "DATABASE_URL", _get(environ, "DATABASE_URL", f"sqlite:///{var_dir}/tigle.sqlite3"),
            ("sqlite", "mysql", "mysql2"),
        ),
        checkpoint_seconds=_number(environ, "ANALYTICS_CHECKPOINT_SECONDS", 5.0, float, 0.1, 3600),
        threads=_number(environ, "ANALYTICS_THREADS", 8, int, 1, 256),
        max_rpcs=_number(environ, "ANALYTICS_MAX_RPCS", 256, int, 1, 100_000),
        batch_size=_number(environ, "ANALYTICS_BATCH_SIZE", 500, int, 1, 10_000),
        items=_number(environ, "ANALYTICS_ITEMS", 0, int, 0, 10_000_000),
        metrics_listen=address_check("ANALYTICS_METRICS_LISTEN",
                                     _get(environ, "ANALYTICS_METRICS_LISTEN", "127.0.0.1:9102"),
                                     listening=True),
        metrics_allowed=_cidrs(environ),
    )


def _cidrs(environ: Mapping[str, str]) -> tuple[Network, ...]:
    try:
        return cidrs_parse(_get(environ, "METRICS_ALLOWED_CIDRS", DEFAULT_ALLOWED_CIDRS))
    except ValueError as exc:
        raise ConfigError(f"METRICS_ALLOWED_CIDRS: {exc}") from None


def addresses_from_env(environ: Mapping[str, str] = os.environ) -> list[str]:
    """ANALYTICS_ADDRESS: the replicas a client (the CLI) may ask."""
    raw = _get(environ, "ANALYTICS_ADDRESS", "127.0.0.1:50051")
    return [address_check("ANALYTICS_ADDRESS", a.strip()) for a in raw.split(",") if a.strip()]
