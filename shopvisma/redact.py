"""Secrets never reach output, logs or exceptions.

Every secret the process loads is registered here the moment it is read, and
every line bound for a log file or stderr passes through `redact`. Patterns
catch token shapes we never registered (a token echoed back by a server).
"""

from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit

_KNOWN: set[str] = set()
_PATTERNS = [
    re.compile(r"shp(at|ss|ca|pa)_[0-9A-Za-z]{8,}"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"(?i)((?:access|refresh)_token|client_secret|code)=([^&\s]+)"),
]


def register(*values: str | None) -> None:
    """Remember secret values so they are masked wherever they would be printed."""
    for v in values:
        if v and len(v) >= 6:
            _KNOWN.add(v)


def redact(text: str) -> str:
    """`text` with every registered secret and every token-shaped string masked."""
    for v in sorted(_KNOWN, key=len, reverse=True):
        if v in text:
            text = text.replace(v, "***")
    text = _PATTERNS[0].sub("shp***", text)
    text = _PATTERNS[1].sub(lambda m: m.group(1) + "***", text)
    text = _PATTERNS[2].sub(lambda m: m.group(1) + "=***", text)
    return text


def redact_url(url: str) -> str:
    """The URL without user info, for messages: a password in a URL must not reach a cron
    mail, and it is not a registered secret (the user typed it into the config)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1]).geturl()


class RedactingFilter(logging.Filter):
    """Applied to every log handler, so no code path has to remember to redact."""

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.msg, record.args = redact(msg), None
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True
