"""Checks of single config values: types, URLs, the shop name, statuses, tags.

Apart from config.py (which knows the tables and builds Settings) so that each check reads
on its own; every check raises _Problem, and config.py collects them, so a user sees every
problem of a file in one run (exit 78).
"""

from __future__ import annotations

import re
import types
import typing
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any, Literal
from urllib.parse import urlsplit

_URL = "url"  # marker: a str that must be an https (or loopback http) URL


class _Problem(Exception):
    """One invalid key; collected so a user sees every problem in one run."""

    def __init__(self, key: str, what: str, hint: str = ""):
        super().__init__(what)
        self.key, self.what, self.hint = key, what, hint


def _unknown(dotted: str, candidates: list[str]) -> _Problem:
    last = dotted.rsplit(".", 1)[-1]
    same_leaf = [c for c in candidates if c.rsplit(".", 1)[-1] == last and c != dotted]
    import difflib  # only when a key is wrong

    close = same_leaf or difflib.get_close_matches(dotted, candidates, n=1, cutoff=0.6)
    hint = f"did you mean `{close[0]}`?" if close else "see docs/configuration.md for the known keys"
    return _Problem(dotted, "unknown key (unknown keys are errors, not ignored)", hint)


def _tname(value: Any) -> str:
    return {dict: "a table", list: "a list", str: "a string", bool: "a boolean", int: "an integer",
            float: "a number"}.get(type(value), type(value).__name__)


def _convert(value: Any, ann: Any, key: str) -> Any:
    """Check one TOML value against an annotation; the generic path for [mapping]."""
    origin, args = typing.get_origin(ann), typing.get_args(ann)
    if ann == _URL:
        if not isinstance(value, str):
            raise _Problem(key, f"must be a string URL, not {_tname(value)}")
        return _check_url(value, key)
    if origin in (typing.Union, types.UnionType):  # X | None: TOML has no null, so check X
        inner = [a for a in args if a is not type(None)]
        return _convert(value, inner[0], key)
    if origin is Literal:
        if value not in args:
            choices = ", ".join(f'"{a}"' for a in args)
            import difflib

            close = difflib.get_close_matches(str(value), [str(a) for a in args], n=1)
            raise _Problem(key, f"{value!r} is not one of {choices}", f'did you mean "{close[0]}"?' if close else "")
        return value
    if ann is bool:
        if not isinstance(value, bool):
            raise _Problem(key, f"must be true or false, not {_tname(value)}")
        return value
    if ann is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Problem(key, f"must be an integer, not {_tname(value)}")
        return value
    if ann is Decimal:
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise _Problem(key, f"must be a decimal number (e.g. \"0.05\"), not {_tname(value)}")
        try:
            number = Decimal(str(value).strip())  # via str: never binary float arithmetic
        except InvalidOperation:
            raise _Problem(key, f"{value!r} is not a decimal number", 'write it like "0.05"') from None
        if not number.is_finite():
            raise _Problem(key, f"{value!r} is not a finite number")
        return number
    if ann is str:
        if not isinstance(value, str):
            raise _Problem(key, f"must be a string, not {_tname(value)}", "put the value in double quotes")
        return value
    if ann is datetime:
        return _check_datetime(value, key)
    if origin in (tuple, list, set, frozenset):
        if not isinstance(value, list):
            raise _Problem(key, f"must be a list, not {_tname(value)}", f'e.g. {key.rsplit(".", 1)[-1]} = ["…"]')
        return tuple(_convert(v, args[0], f"{key}[{i}]") for i, v in enumerate(value))
    if origin is dict or ann is dict:
        if not isinstance(value, dict):
            raise _Problem(key, f"must be a table (e.g. {{ \"25\" = \"…\" }}), not {_tname(value)}")
        vtype = args[1] if len(args) == 2 else Any
        return {str(k): (v if vtype is Any else _convert(v, vtype, f"{key}.{k}")) for k, v in value.items()}
    if isinstance(ann, type) and isinstance(value, ann):
        return value
    raise _Problem(key, f"has a type this version cannot read ({ann!r})")


def _check_datetime(value: Any, key: str) -> datetime:
    hint = 'write it with a time zone, e.g. "2026-01-01T00:00:00Z"'
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, (date, time)):
        raise _Problem(key, f"{value} has no time and time zone", hint)
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            raise _Problem(key, f"{value!r} is not an ISO 8601 date-time", hint) from None
    else:
        raise _Problem(key, f"must be an ISO 8601 date-time string, not {_tname(value)}", hint)
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise _Problem(key, f"{value!s} has no time zone", hint)
    return parsed


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or localhost: where plain http is allowed (sandbox, tests)."""
    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        return True
    if re.fullmatch(r"127(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}", host):
        return True
    if ":" not in host and not re.fullmatch(r"[\d.]+", host):
        return False  # a host name: no need for ipaddress
    try:
        import ipaddress  # ~2 ms, and only for a literal address

        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _redact(url: str) -> str:
    """The URL without user info, for messages: a password must not reach a cron mail."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1]).geturl()


def _check_url(value: str, key: str) -> str:
    """Only https leaves the machine: a token sent over plain http to a non-loopback host is a leak."""
    url = value.strip().rstrip("/")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise _Problem(key, f"{_redact(url)!r} is not a valid URL") from None
    if parts.username or parts.password:
        raise _Problem(key, f"{_redact(url)!r} must not contain a user name or password",
                       "credentials belong in the secret store (`shopvisma login`)")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _Problem(key, f"{url!r} is not an http(s) URL with a host", "e.g. https://example.com/path")
    if parts.scheme != "https" and not is_loopback(parts.hostname):
        raise _Problem(key, f"{url!r} is not https:// (plain http is refused except on a loopback address)",
                       "use https://, or 127.0.0.1/localhost for a local emulator")
    return url


_SHOP_RE = re.compile(r"^[a-z0-9][a-z0-9-]*(\.[a-z0-9-]+)*$")


def normalize_shop(value: str, key: str = "shopify.shop") -> str:
    """Accept "example", "example.myshopify.com", a URL of either, or an admin.shopify.com/store/x URL."""
    text = value.strip().lower()
    if "://" in text:
        parts = urlsplit(text)
        host, path = parts.hostname or "", parts.path
    else:
        host, _, path = text.partition("/")
    if host == "admin.shopify.com":
        match = re.match(r"/?store/([a-z0-9-]+)", path)
        host = match.group(1) if match else ""
    if not host:
        raise _Problem(key, "is empty", 'set it to your store\'s domain, e.g. shop = "example.myshopify.com"')
    if not _SHOP_RE.match(host):
        raise _Problem(key, f"{value!r} is not a shop domain", 'e.g. shop = "example.myshopify.com"')
    return host if "." in host else f"{host}.myshopify.com"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _statuses(values: tuple[str, ...], allowed: tuple[str, ...], key: str, kind: str) -> tuple[str, ...]:
    for i, status in enumerate(values):
        if status not in allowed:
            import difflib

            close = difflib.get_close_matches(status.lower(), allowed, n=1)
            raise _Problem(f"{key}[{i}]", f"{status!r} is not a Shopify {kind} status (lower case: {', '.join(allowed)})",
                           f'did you mean "{close[0]}"?' if close else "")
    return tuple(dict.fromkeys(values))


def _tags(values: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(t.strip() for t in values if t.strip()))
