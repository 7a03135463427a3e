"""Environment parsing that fails loudly, naming the variable (healthchecks' envbool/envint)."""
from __future__ import annotations

import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

from analytics.config import url_redacted
from analytics.setting_values import host_port_split, number_parse
from analytics.metrics_access import DEFAULT_ALLOWED_CIDRS, cidrs_parse


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, "").strip() or default


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = env_str(name, default).lower()
    if value not in choices:
        raise ImproperlyConfigured(f"{name}={value!r} is not one of {', '.join(choices)}")
    return value


def env_bool(name: str, default: bool) -> bool:
    value = env_str(name, "1" if default else "0").lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name}={value!r} is not a boolean (use 1 or 0)")


def _env_number(name: str, default: float, cast: type, low: float, high: float):
    try:
        return number_parse(name, env_str(name, str(default)), cast, low, high)
    except ValueError as exc:
        raise ImproperlyConfigured(str(exc)) from None


def env_float(name: str, default: float, *, low: float, high: float) -> float:
    return _env_number(name, default, float, low, high)


def env_int(name: str, default: int, *, low: int, high: int) -> int:
    return _env_number(name, default, int, low, high)


def env_url(name: str, default: str, schemes: tuple[str, ...]) -> str:
    """A URL, or a ';'-separated list of them (kombu's form for a broker cluster's nodes)."""
    value = env_str(name, default)
    for url in value.split(";"):
        scheme = urlsplit(url).scheme
        if scheme not in schemes:
            raise ImproperlyConfigured(
                f"{name}={url_redacted(value)!r}: scheme {scheme!r} is not one of "
                f"{', '.join(schemes)}"
            )
    return value


def env_addresses(name: str, default: str) -> list[str]:
    """A comma-separated list of host:port to connect to."""
    addresses = [a.strip() for a in env_str(name, default).split(",") if a.strip()]
    for address in addresses:
        _address_checked(name, address, listening=False)
    if not addresses:
        raise ImproperlyConfigured(f"{name} is empty")
    return addresses


def env_listen(name: str, default: str) -> str:
    """One host:port to listen on; port 0 picks a free one."""
    return _address_checked(name, env_str(name, default).strip(), listening=True)


def _address_checked(name: str, address: str, *, listening: bool) -> str:
    try:
        host_port_split(address, listening=listening)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}={exc}") from None
    return address


def env_origins(name: str) -> list[str]:
    """Comma-separated origins, scheme://host[:port], as CSRF_TRUSTED_ORIGINS takes them."""
    origins = [o.strip() for o in env_str(name, "").split(",") if o.strip()]
    for origin in origins:
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path or parts.query:
            raise ImproperlyConfigured(
                f"{name}: {origin!r} is not scheme://host (e.g. https://tigle.example.com)"
            )
    return origins


def env_cidrs(name: str) -> tuple:
    """Comma-separated address ranges; unset: loopback and the private ranges."""
    try:
        return cidrs_parse(env_str(name, DEFAULT_ALLOWED_CIDRS))
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}: {exc}") from None


def kept_secret(path: Path) -> str:
    """A random secret made once and kept in a file, for the embedded mode only."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(50))
        try:
            # link() fails if another process won the race; then its secret is the one.
            os.link(temp, path)
        except FileExistsError:
            pass
        finally:
            os.unlink(temp)
    return path.read_text().strip()
