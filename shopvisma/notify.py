"""Dead-man's-switch pings after each sync pass (`[notify] healthcheck_url`).

healthchecks.io convention: a request to the URL says "a pass succeeded", a
request to `{url}/fail` says "a pass ran and failed". The monitor alerts both on
a `/fail` and on silence, so a cron job that stopped running is caught too.

A ping must never change the outcome of a sync: the monitoring service being
down is not a reason to exit non-zero or to print anything cron would mail. So
nothing here raises; the caller gets an error string to log, or None.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from shopvisma.errors import ExitCode
from shopvisma.http import is_loopback
from shopvisma.redact import redact

if TYPE_CHECKING:
    import requests

log = logging.getLogger("shopvisma.notify")

SUMMARY_MAX = 500  # healthchecks keeps up to 100 kB, but the body is a one-line summary, not a log
# Exit codes that send no ping: 75 means another pass holds the lock and will ping
# itself; a /fail for it would page someone whenever a pass outlasts the interval.
NO_PING_EXIT_CODES = frozenset({int(ExitCode.TEMPFAIL)})


def _where(url: str) -> str:
    """Host only: a ping URL is a capability (anyone holding it can ping), so it stays out of logs."""
    try:
        return urlsplit(url).hostname or "the healthcheck URL"
    except ValueError:
        return "the healthcheck URL"


def fail_url(url: str) -> str:
    """`{url}/fail`, keeping a query string (e.g. `?rid=…`) after the new path segment."""
    parts = urlsplit(url.strip())
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/fail"))


def ping_body(exit_code: int, summary: str) -> str:
    """One line, redacted and bounded: the body lands in a third-party dashboard."""
    line = " ".join(redact(summary or "").split())
    text = f"exit {int(exit_code)}: {line}" if line else f"exit {int(exit_code)}"
    return text if len(text) <= SUMMARY_MAX else text[: SUMMARY_MAX - 1] + "…"


def ping_healthcheck(
    url: str, *, exit_code: int, summary: str, timeout: float = 10.0, session: requests.Session | None = None
) -> str | None:
    """POST `url` (exit 0) or `url/fail` (anything else) with the body "exit N: summary".

    Returns None when the monitor accepted the ping, else a short, secret-free
    reason for the log. Never raises. One attempt only: a missed success ping is
    absorbed by the monitor's grace period, and the next pass pings again.
    """
    try:
        import requests

        from shopvisma import __version__

        parts = urlsplit(url.strip())
        if parts.scheme != "https" and not (parts.scheme == "http" and is_loopback(parts.hostname or "")):
            return f"healthcheck ping not sent: {_where(url)} is not an https:// URL"
        target = url.strip() if int(exit_code) == 0 else fail_url(url)
        body = ping_body(exit_code, summary).encode("utf-8")
        http: Any = session if session is not None else requests.Session()
        try:
            resp = http.post(
                target,
                data=body,
                headers={"Content-Type": "text/plain; charset=utf-8", "User-Agent": f"shopvisma/{__version__}"},
                timeout=timeout,
                allow_redirects=False,  # a redirect to http:// would leave https; pings never need one
            )
            status = resp.status_code
            resp.close()
        finally:
            if session is None:
                http.close()
        if not 200 <= status < 300:
            return f"healthcheck ping to {_where(url)} was answered with HTTP {status}"
        return None
    except Exception as exc:  # noqa: BLE001 - monitoring must never fail the sync
        from shopvisma.http import describe

        return redact(f"healthcheck ping to {_where(url)} failed: {describe(exc)}")


def notify_after_pass(
    url: str, exit_code: int, summary: str, *, timeout: float = 10.0, session: requests.Session | None = None
) -> str | None:
    """What `sync` calls after every pass (not dry-run): no URL or exit 75 → no ping.

    A failed ping is logged (shopvisma.log) and returned, never raised.
    """
    if not url or int(exit_code) in NO_PING_EXIT_CODES:
        return None
    problem = ping_healthcheck(url, exit_code=exit_code, summary=summary, timeout=timeout, session=session)
    if problem:
        log.warning("%s", problem)
    return problem
