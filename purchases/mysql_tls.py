"""TLS to MySQL, asked for by DATABASE_URL's `?ssl_ca=<CA bundle>`; web and worker read it
here (analytics reads it the same way in analytics/rebuild.py, importing no more of
purchases/ than its event module).

MySQL 8.4 (RDS's default) logs users in with caching_sha2_password, which Debian's MariaDB
client library (built with GnuTLS) can only complete over TLS; the bundle also lets the
client check it talks to RDS.
"""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit


def mysql_ssl(database_url: str) -> dict[str, str] | None:
    """mysqlclient's `ssl` argument for the URL; None when it asks for no TLS."""
    ca = parse_qs(urlsplit(database_url).query).get("ssl_ca")
    return {"ca": ca[-1]} if ca else None
