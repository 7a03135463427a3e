"""Logging filters named in settings.LOGGING."""
from __future__ import annotations

import logging


class ClientMistakeOneLine(logging.Filter):
    """Django logs a request it finds suspicious (a Host header not in ALLOWED_HOSTS, too
    many fields) as an ERROR with a traceback: anyone on the internet could fill the log
    with them. It stays one WARNING line, naming what was refused."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("django.security."):
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.exc_info = record.exc_text = None
        return True
