"""Checks of single config values: types, URLs, the shop name, statuses, tags.

Apart from config/settings.py (which knows the tables and builds Settings) so that each check reads
on its own; every check raises Problem, and config/settings.py collects them, so a user sees every
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

from shopvisma.http import is_loopback
from shopvisma.redact import redact_url

URL = "url"  # marker: a str that must be an https (or loopback http) URL


class Problem(Exception):
    """One invalid key; collected so a user sees every problem in one run."""

    def __init__(self, key: str, what: str, hint: str = "") -> None:
        super().__init__(what)
        self.key, self.what, self.hint = key, what, hint


def unknown_key(dotted: str, candidates: list[str]) -> Problem:
    """The problem of a key nobody reads, with the closest known key as its hint: a typo
    silently ignored would change what is transferred."""
    last = dotted.rsplit(".", 1)[-1]
    same_leaf = [c for c in candidates if c.rsplit(".", 1)[-1] == last and c != dotted]
    import difflib  # only when a key is wrong

    close = same_leaf or difflib.get_close_matches(dotted, candidates, n=1, cutoff=0.6)
    hint = f"did you mean `{close[0]}`?" if close else "see docs/configuration.md for the known keys"
    return Problem(dotted, "unknown key (unknown keys are errors, not ignored)", hint)


def type_name(value: Any) -> str:
    """A TOML value's type in the words a config file's author knows ("a table", not dict)."""
    return {
        dict: "a table",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        int: "an integer",
        float: "a number",
    }.get(type(value), type(value).__name__)


def convert(value: Any, ann: Any, key: str) -> Any:
    """Check one TOML value against an annotation; the generic path for [mapping]."""
    origin, args = typing.get_origin(ann), typing.get_args(ann)
    if ann == URL:
        if not isinstance(value, str):
            raise Problem(key, f"must be a string URL, not {type_name(value)}")
        return _check_url(value, key)
    if origin in (typing.Union, types.UnionType):  # X | None: TOML has no null, so check X
        inner = [a for a in args if a is not type(None)]
        return convert(value, inner[0], key)
    if origin is Literal:
        if value not in args:
            choices = ", ".join(f'"{a}"' for a in args)
            import difflib

            close = difflib.get_close_matches(str(value), [str(a) for a in args], n=1)
            raise Problem(key, f"{value!r} is not one of {choices}", f'did you mean "{close[0]}"?' if close else "")
        return value
    if ann is bool:
        if not isinstance(value, bool):
            raise Problem(key, f"must be true or false, not {type_name(value)}")
        return value
    if ann is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise Problem(key, f"must be an integer, not {type_name(value)}")
        return value
    if ann is Decimal:
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise Problem(key, f'must be a decimal number (e.g. "0.05"), not {type_name(value)}')
        try:
            number = Decimal(str(value).strip())  # via str: never binary float arithmetic
        except InvalidOperation:
            raise Problem(key, f"{value!r} is not a decimal number", 'write it like "0.05"') from None
        if not number.is_finite():
            raise Problem(key, f"{value!r} is not a finite number")
        return number
    if ann is str:
        if not isinstance(value, str):
            raise Problem(key, f"must be a string, not {type_name(value)}", "put the value in double quotes")
        return value
    if ann is datetime:
        return _check_datetime(value, key)
    if origin in (tuple, list, set, frozenset):
        if not isinstance(value, list):
            raise Problem(key, f"must be a list, not {type_name(value)}", f'e.g. {key.rsplit(".", 1)[-1]} = ["…"]')
        return tuple(convert(v, args[0], f"{key}[{i}]") for i, v in enumerate(value))
    if origin is dict or ann is dict:
        if not isinstance(value, dict):
            raise Problem(key, f'must be a table (e.g. {{ "25" = "…" }}), not {type_name(value)}')
        vtype = args[1] if len(args) == 2 else Any
        return {str(k): (v if vtype is Any else convert(v, vtype, f"{key}.{k}")) for k, v in value.items()}
    if isinstance(ann, type) and isinstance(value, ann):
        return value
    raise Problem(key, f"has a type this version cannot read ({ann!r})")


def _check_datetime(value: Any, key: str) -> datetime:
    """A config date-time must carry its zone: a go-live date read as local time would
    move by hours between the machine that wrote it and the one that runs cron."""
    hint = 'write it with a time zone, e.g. "2026-01-01T00:00:00Z"'
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, (date, time)):
        raise Problem(key, f"{value} has no time and time zone", hint)
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            raise Problem(key, f"{value!r} is not an ISO 8601 date-time", hint) from None
    else:
        raise Problem(key, f"must be an ISO 8601 date-time string, not {type_name(value)}", hint)
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise Problem(key, f"{value!s} has no time zone", hint)
    return parsed


def _check_url(value: str, key: str) -> str:
    """Only https leaves the machine: a token sent over plain http to a non-loopback host is a leak."""
    url = value.strip().rstrip("/")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise Problem(key, f"{redact_url(url)!r} is not a valid URL") from None
    if parts.username or parts.password:
        raise Problem(
            key,
            f"{redact_url(url)!r} must not contain a user name or password",
            "credentials belong in the secret store (`shopvisma login`)",
        )
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Problem(key, f"{url!r} is not an http(s) URL with a host", "e.g. https://example.com/path")
    if parts.scheme != "https" and not is_loopback(parts.hostname):
        raise Problem(
            key,
            f"{url!r} is not https:// (plain http is refused except on a loopback address)",
            "use https://, or 127.0.0.1/localhost for a local emulator",
        )
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
        raise Problem(key, "is empty", 'set it to your store\'s domain, e.g. shop = "example.myshopify.com"')
    if not _SHOP_RE.match(host):
        raise Problem(key, f"{value!r} is not a shop domain", 'e.g. shop = "example.myshopify.com"')
    return host if "." in host else f"{host}.myshopify.com"


def url_origin(url: str) -> str:
    """scheme://host[:port] of `url`: where an api_url override's token endpoint lives."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def check_statuses(values: tuple[str, ...], allowed: tuple[str, ...], key: str, kind: str) -> tuple[str, ...]:
    """`values` deduplicated, each one a status Shopify's search knows (else a Problem):
    an unknown status would select no order at all, silently."""
    for i, status in enumerate(values):
        if status not in allowed:
            import difflib

            close = difflib.get_close_matches(status.lower(), allowed, n=1)
            raise Problem(
                f"{key}[{i}]",
                f"{status!r} is not a Shopify {kind} status (lower case: {', '.join(allowed)})",
                f'did you mean "{close[0]}"?' if close else "",
            )
    return tuple(dict.fromkeys(values))


def clean_tags(values: tuple[str, ...]) -> tuple[str, ...]:
    """Tags trimmed, empty ones dropped, duplicates removed (first one kept, in order)."""
    return tuple(dict.fromkeys(t.strip() for t in values if t.strip()))
