"""Transport pieces shared by the Shopify and Visma clients.

Two layers of retry, on purpose:

* urllib3 ``Retry`` on the session's adapters handles transport blips: a
  connection that could not be opened (never sent, so safe for any method),
  and read errors / 500-504 only for methods that are reads. Its backoff is
  short (sub-second to a few seconds) and bounded by the retry count.
* `WaitBudget` handles the waits a server *tells* us to make (Visma's 429 with
  "Try again in N seconds", Shopify's THROTTLED cost status, ``Retry-After``).
  Those can be a minute long, must be summed across a whole pass (one cron run
  must not sit out an API storm forever) and must be testable with a fake
  sleep. stamina/tenacity measure their timeout per call with the real clock
  and cannot take an injected sleep, and there is no backoff policy to tune
  (the server dictates the wait), so a library would only contribute the loop:
  the clients keep that loop explicit and small.

requests and urllib3 are imported where they are used, not at module import: config
checks (`is_loopback`) and JSON output (`encode_json`) come from here too, and `status`
or `--json` must not pay ~90 ms for an HTTP stack they never use.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from shopvisma.errors import UnavailableError

if TYPE_CHECKING:
    import requests
    from urllib3.util.retry import Retry

log = logging.getLogger("shopvisma.http")

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
TRANSIENT_STATUSES = (500, 502, 503, 504)


def _retry(methods: Iterable[str], retries: int, backoff_factor: float) -> Retry:
    """The transport retry policy of one adapter: `methods` are the ones safe to repeat."""
    from urllib3.util.retry import Retry

    return Retry(
        total=retries,
        connect=retries,  # connect failures: the request never left, safe for any method
        read=retries,  # read errors: only for `allowed_methods`
        status=retries,
        other=0,
        redirect=0,
        allowed_methods=frozenset(m.upper() for m in methods),
        status_forcelist=TRANSIENT_STATUSES,
        backoff_factor=backoff_factor,
        backoff_max=8.0,
        # A long Retry-After would be a real, uncapped sleep here; those are
        # left to the clients' WaitBudget instead (429 is not in the forcelist).
        respect_retry_after_header=False,
        raise_on_status=False,
        raise_on_redirect=False,
    )


def make_session(
    *,
    backoff_factor: float = 0.5,
    retries: int = 3,
    post_is_read_for: Iterable[str] = (),
) -> requests.Session:
    """A session whose adapters retry transport errors and 5xx on reads only.

    `post_is_read_for` lists URL prefixes where POST is a read and therefore
    safe to repeat (Shopify GraphQL queries, OAuth token calls).
    """
    import requests
    from requests.adapters import HTTPAdapter

    session = requests.Session()
    adapter = HTTPAdapter(max_retries=_retry(READ_METHODS, retries, backoff_factor))
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    for prefix in post_is_read_for:
        session.mount(prefix, HTTPAdapter(max_retries=_retry(READ_METHODS | {"POST"}, retries, backoff_factor)))
    session.headers["User-Agent"] = "shopvisma"
    return session


def check_session(session: requests.Session) -> requests.Session:
    """Refuse a session with TLS verification turned off: never a silent downgrade."""
    if session.verify is False:
        raise ValueError("TLS certificate verification must not be disabled")
    return session


def not_sent(exc: BaseException) -> bool:
    """True when a requests error proves the request never reached the server."""
    import requests
    from urllib3.exceptions import ConnectTimeoutError, MaxRetryError

    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(exc, requests.exceptions.ConnectionError) and exc.args:
        inner = exc.args[0]
        if isinstance(inner, MaxRetryError) and isinstance(inner.reason, ConnectTimeoutError):
            return True  # includes NewConnectionError (refused, DNS)
    return False


def retry_after_seconds(resp: requests.Response, now: Callable[[], float] = time.time) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP date), if any."""
    value = resp.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        import email.utils  # an HTTP-date Retry-After is rare: not imported on every run

        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, when.timestamp() - now())


def describe(exc: BaseException) -> str:
    """A short, secret-free description of a transport error (no URL, no headers)."""
    import requests

    if isinstance(exc, requests.exceptions.Timeout):
        return "timed out"
    if not_sent(exc):
        return "could not connect"
    return f"connection failed ({type(exc).__name__})"


@dataclass
class WaitBudget:
    """The total time one pass may spend waiting on servers that asked us to wait.

    Waits are summed as chosen, not measured, so a fake `sleep` in tests sees
    exactly the waits the clients computed.
    """

    max_wait: float
    sleep: Callable[[float], None] = time.sleep
    spent: float = 0.0
    waits: list[float] = field(default_factory=list)
    clock: Callable[[], float] = time.monotonic  # wait_until's clock (the client's, so a fake one in tests)
    _charged_until: float = float("-inf")

    def wait_until(self, end: float, what: str) -> None:
        """Wait until `end` on `clock`. With orders in flight side by side several may be told
        to wait at once: the time is charged once, not once per order (only the part of the
        wait no earlier one covers), and a wait another order already sat out is no wait."""
        now = self.clock()
        seconds = max(0.0, end - now)
        charge = max(0.0, end - max(now, self._charged_until))
        self._check(charge, what)
        self.spent += charge
        self._charged_until = max(self._charged_until, end)
        if seconds > 0:
            self.waits.append(seconds)
            log.info("%s: waiting %.1f s", what, seconds)
            with TURNS.waiting():
                self.sleep(seconds)

    def _check(self, seconds: float, what: str) -> None:
        if self.spent + seconds > self.max_wait:
            raise UnavailableError(
                f"{what}: still refused after waiting {self.spent:.0f} s in this run "
                f"(next wait {seconds:.0f} s would exceed the {self.max_wait:.0f} s cap)",
                hint="the next scheduled run continues where this one stopped",
            )

    def wait(self, seconds: float, what: str) -> None:
        seconds = max(0.0, float(seconds))
        self._check(seconds, what)
        self.spent += seconds
        self.waits.append(seconds)
        log.info("%s: waiting %.1f s", what, seconds)
        with TURNS.waiting():
            self.sleep(seconds)


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or localhost: where plain http is allowed (sandbox, tests), because
    nothing sent there leaves the machine; config URLs and the healthcheck ping both ask."""
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


def encode_json(body: Any, *, indent: int | None = None) -> bytes:
    """JSON with every Decimal written as the exact number literal it is ("12.50" → 12.50).

    Money stays Decimal up to the wire: json cannot emit a Decimal as a number, so each
    one is swapped for a unique marker string and the marker replaced by its literal.
    """
    literals: dict[str, str] = {}

    def swap(value: Any) -> Any:
        if isinstance(value, Decimal):
            marker = f"\u0000dec{len(literals)}\u0000"
            literals[json.dumps(marker)] = format(
                value.normalize() if value == value.to_integral_value() else value, "f"
            )
            return marker
        if isinstance(value, dict):
            return {k: swap(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [swap(v) for v in value]
        return value

    text = json.dumps(swap(body), ensure_ascii=False, indent=indent, default=str)
    for marker, literal in literals.items():
        text = text.replace(marker, literal)
    return text.encode("utf-8")


class Turns:
    """Orders of one chunk run on a few threads, but only one of them runs Python at a time:
    a worker holds its turn while it plans, decides and writes state, and gives it up only
    around blocking I/O (a request, a pacing wait). So the pass keeps the reasoning of
    single-threaded code (no lock around the checkpoint, the caches or the counters) and
    overlaps only the round trips, as an async client would, without a second HTTP stack.
    Outside a worker (the main thread, concurrency 1) `waiting()` is a no-op."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._local = threading.local()

    @contextmanager
    def turn(self) -> Iterator[None]:
        self._lock.acquire()
        self._local.held = True
        try:
            yield
        finally:
            self._local.held = False
            self._lock.release()

    @contextmanager
    def waiting(self) -> Iterator[None]:
        if not getattr(self._local, "held", False):
            yield
            return
        self._local.held = False
        self._lock.release()
        try:
            yield
        finally:
            self._lock.acquire()
            self._local.held = True


TURNS = Turns()  # one per process: every client's blocking call gives the turn away
