"""The one form every timestamp of ours is written in: UTC, whole seconds, `Z`.

One owner because the form is a contract in three places: Shopify's search syntax
(`updated_at:>='2026-03-01T12:00:00Z'`), the files in the state dir (the checkpoint's
`prune` compares these strings as text, which is only right when every writer agrees),
and what `status` and the run log show. Imports nothing but `datetime`: it is on every
cron pass's path.
"""

from __future__ import annotations

from datetime import datetime, timezone

_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def utc_now() -> datetime:
    """The current time, aware, in UTC (a naive `now()` would be read as local time)."""
    return datetime.now(timezone.utc)


def parse_iso(value: str) -> datetime:
    """An ISO 8601 date-time as an aware datetime; one without an offset is taken as UTC,
    because that is how every file we wrote before the offset was written reads."""
    dt = datetime.fromisoformat(value.strip())
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def as_utc(value: datetime | float | str) -> datetime:
    """`value` (a datetime, a POSIX timestamp or an ISO string) as an aware datetime in UTC,
    full precision, so callers can compare before they format. Naive means UTC."""
    if isinstance(value, str):
        dt = parse_iso(value)
    elif isinstance(value, datetime):
        dt = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    else:
        dt = datetime.fromtimestamp(value, tz=timezone.utc)
    return dt.astimezone(timezone.utc)


def iso_z(value: datetime | float | str) -> str:
    """`value` (see `as_utc`) as `YYYY-MM-DDTHH:MM:SSZ`. Fractions of a second are dropped,
    not rounded, so a stamp never lies in the future of the moment it records."""
    return as_utc(value).strftime(_FORMAT)
