"""Visma eAccounting v2 client: token refresh with rotation, pacing, paging, typed errors.

No business rules: it moves JSON and turns Visma's error envelope into typed
errors (visma/errors.py). The login and the token-endpoint helpers are in
visma/auth.py, which explains why they are written out instead of using authlib.
"""

from __future__ import annotations

import collections
import logging
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import requests

from shopvisma import redact
from shopvisma.errors import AuthError, UnavailableError
from shopvisma.http import (
    TURNS,
    WaitBudget,
    check_session,
    describe,
    encode_json,
    make_session,
    not_sent,
    retry_after_seconds,
)
from shopvisma.visma.auth import post_token, token_error, token_json, token_section
from shopvisma.visma.errors import (
    LOGIN_HINT,
    AmbiguousWriteError,
    as_int,
    error_from_response,
    message_wait,
    read_envelope,
)

log = logging.getLogger("shopvisma.visma.client")

RATE_LIMIT = 590  # Visma: 600 requests per minute per client and endpoint; a little headroom
REFRESH_MARGIN = 60.0  # refresh when the access token has less than this left (or a quarter of its life)
DEFAULT_RATE_WAIT = 60.0  # Visma's window is a minute: the wait when the 429 names none
MIN_RATE_WAIT = 1.0  # a "Retry-After: 0" must not turn the retry loop into a burst
MAX_PAGES = 10_000  # a list longer than this is a paging loop, not data (500,000 rows at 50 a page)


def _endpoint(path: str) -> str:
    """The first path segment, lower case: what Visma rate-limits and scopes by."""
    return path.strip("/").split("/", 1)[0].split("?", 1)[0].lower()


class VismaClient:
    """HTTP to Visma eAccounting with token rotation, 429 waits and typed errors.

    `.requests` counts every request sent, keyed by (method, endpoint), so tests
    and the benchmark can assert "zero writes"; token calls are counted apart in
    `.token_requests`.
    """

    def __init__(
        self,
        api_url: str,
        identity_url: str,
        client_id: str,
        client_secret: str,
        tokens: Any,
        *,
        session: requests.Session | None = None,
        timeout: tuple[float, float] = (5, 60),
        max_wait: float = 300,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        jitter: float = 0.5,
        rate_limit: int = RATE_LIMIT,
        max_pages: int = MAX_PAGES,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.identity_url = identity_url.rstrip("/")
        self.client_id = client_id
        self._client_secret = client_secret
        self.tokens = tokens
        self.session = check_session(session or make_session(post_is_read_for=[self.identity_url]))
        self.timeout = timeout
        self.budget = WaitBudget(max_wait, sleep, clock=clock)
        self.clock = clock
        self.jitter = jitter
        self.requests: collections.Counter[tuple[str, str]] = collections.Counter()
        self.rate_limit = rate_limit
        self.max_pages = max_pages
        self.paced_seconds = 0.0
        self._sleep = sleep
        self._sent: dict[str, collections.deque[float]] = collections.defaultdict(collections.deque)
        self._in_flight: collections.Counter[str] = collections.Counter()  # sent, no answer yet
        self.write_count = 0
        self.token_requests = 0
        self._token: dict[str, Any] | None = None
        redact.register(client_secret)

    # -- tokens ---------------------------------------------------------------

    def _load_section(self) -> dict[str, Any]:
        section = dict(self.tokens.load().get("visma") or {})
        redact.register(section.get("access_token"), section.get("refresh_token"))
        return section

    def _fresh(self, section: dict[str, Any]) -> bool:
        """Usable for a while yet: short-lived tokens (tests) get a quarter of their life as margin."""
        life = float(section.get("expires_in") or 3600)
        margin = min(REFRESH_MARGIN, life / 4)
        return bool(section.get("access_token")) and float(section.get("expires_at") or 0) - margin > self.clock()

    def access_token(self, *, force: bool = False) -> str:
        """A usable access token, refreshing (and saving the rotation) when needed."""
        if not force and self._token and self._fresh(self._token):
            return str(self._token["access_token"])
        section = self._load_section()
        stale = self._token.get("access_token") if self._token else None
        # Another client in this process may already have rotated: use its token.
        if self._fresh(section) and (not force or section.get("access_token") != stale):
            self._token = section
            return str(section["access_token"])
        self._token = self._refresh(section)
        return str(self._token["access_token"])

    def _refresh(self, section: dict[str, Any]) -> dict[str, Any]:
        refresh = section.get("refresh_token")
        if not refresh:
            raise AuthError("Visma grant is missing or revoked", hint=LOGIN_HINT)
        data = {"grant_type": "refresh_token", "refresh_token": str(refresh)}
        for _ in range(20):
            self.token_requests += 1
            resp = post_token(self.session, self.identity_url, self.client_id, self._client_secret, data, self.timeout)
            if resp.status_code == 429:
                self.budget.wait(self._rate_limit_wait(resp), "Visma token endpoint rate limit")
                continue
            if resp.status_code != 200:
                raise token_error(resp)
            new = token_section(token_json(resp), self.clock(), old_refresh=str(refresh))
            # The old refresh token is void now: the new one goes to disk first.
            self.tokens.update("visma", new)
            log.info("Visma tokens rotated")
            return new
        raise UnavailableError("Visma token endpoint kept refusing", hint="the next scheduled run retries")

    # -- requests -------------------------------------------------------------

    def _url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            raise ValueError("pass a path relative to the API base, not a URL")
        return f"{self.api_url}/{path.lstrip('/')}"

    def _rate_limit_wait(self, resp: requests.Response) -> float:
        """Visma says how long in its message, the throttling library behind it may also send
        Retry-After: both are honoured (the longer wins), neither means a whole window."""
        told = [
            w
            for w in (message_wait(read_envelope(resp).message), retry_after_seconds(resp, self.clock))
            if w is not None
        ]
        wait = max(told) if told else DEFAULT_RATE_WAIT
        return max(wait, MIN_RATE_WAIT) + random.uniform(0, self.jitter)

    def _pace(self, endpoint: str) -> None:
        """Stay under Visma's 600 requests/minute per endpoint instead of running into 429s:
        a backlog then runs at the limit with no refused request (and no wasted round trip).
        These waits are the rate itself, not trouble, so they do not use the wait budget."""
        window = self._sent[endpoint]
        while True:
            now = self.clock()
            while window and window[0] <= now - 60.0:
                window.popleft()
            # With orders in flight side by side a request is counted from the moment it is sent
            # until 60 s after its answer: Visma counts it when it arrives, somewhere in between,
            # and a busy network or server can bunch arrivals up.
            if len(window) + self._in_flight[endpoint] < self.rate_limit:
                break
            wait = window[0] + 60.0 - now + 0.05 if window else 0.05
            self.paced_seconds += wait
            with TURNS.waiting():  # another order may use another endpoint meanwhile
                self._sleep(wait)
        self._in_flight[endpoint] += 1

    @contextmanager
    def _counted(self, endpoint: str) -> Iterator[None]:
        try:
            yield
        finally:
            self._in_flight[endpoint] -= 1
            self._sent[endpoint].append(self.clock())

    def _send(self, method: str, path: str, params: dict[str, Any] | None, body: Any) -> requests.Response:
        """One logical call: waits out 429s, refreshes once on 401, maps errors; the
        successful answer is returned whole (a create's Location header may be needed)."""
        write = method not in ("GET", "HEAD")
        endpoint = _endpoint(path)
        refreshed = False
        payload = None if body is None else encode_json(body)
        for _ in range(50):
            self._pace(endpoint)  # may give the turn away: take the token after it
            token = self.access_token()
            self.requests[(method, endpoint)] += 1
            if write:
                self.write_count += 1
            try:
                with self._counted(endpoint), TURNS.waiting():  # the round trip: other orders run meanwhile
                    resp = self.session.request(
                        method,
                        self._url(path),
                        params=params,
                        data=payload,
                        timeout=self.timeout,
                        headers={
                            "Authorization": f"Bearer {token}",
                            "Accept": "application/json",
                            **({"Content-Type": "application/json"} if payload is not None else {}),
                        },
                    )
                    received = self.clock()  # when Visma answered, not when this order got its turn back
            except requests.RequestException as exc:
                what = f"Visma {method} /{endpoint} {describe(exc)}"
                if write and not not_sent(exc):
                    raise AmbiguousWriteError(what + "; the outcome is unknown", method=method, path=path) from None
                raise UnavailableError(what, hint="the next scheduled run retries") from None
            status = resp.status_code
            log.debug("Visma %s /%s -> %s", method, endpoint, status)
            code = read_envelope(resp).code if 400 <= status < 500 and status != 429 else None
            if status == 429 or code == 4010:
                self.budget.wait_until(received + self._rate_limit_wait(resp), f"Visma rate limit on /{endpoint}")
                continue
            if (status == 401 or code == 4005) and not refreshed:
                refreshed = True
                # Another order in flight may have renewed the token already: one rotation, not two.
                if self.access_token() == token:
                    self.access_token(force=True)
                continue
            if status >= 500 or status == 408:
                what = f"Visma {method} /{endpoint} answered HTTP {status}"
                if write:
                    raise AmbiguousWriteError(what + "; the outcome is unknown", method=method, path=path)
                raise UnavailableError(what, hint="the next scheduled run retries")
            if status >= 400:
                raise error_from_response(resp, method, endpoint)
            return resp
        raise UnavailableError(f"Visma {method} /{endpoint}: too many retries", hint="the next scheduled run retries")

    @staticmethod
    def _json(resp: requests.Response, method: str, path: str) -> Any:
        if resp.status_code == 204 or not resp.content:
            return {}
        try:
            return resp.json()
        except ValueError:
            what = f"Visma {method} /{_endpoint(path)} returned a non-JSON body"
            if method not in ("GET", "HEAD"):  # it was accepted, but what it made is not known
                raise AmbiguousWriteError(what, method=method, path=path) from None
            raise UnavailableError(what, hint="the next scheduled run retries") from None

    def request(self, method: str, path: str, *, params: dict[str, Any] | None = None, body: Any = None) -> Any:
        """The decoded answer ({} when there is none)."""
        method = method.upper()
        return self._json(self._send(method, path, params, body), method, path)

    # -- convenience ----------------------------------------------------------

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self.request("GET", path, params=params)

    def post(self, path: str, body: Any, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """The created object, whether Visma answers 200 or 201, with it or (Location only) without.
        A create with no object and no Location is a write of unknown result: callers look the
        object up by its natural key, exactly as after a timeout."""
        resp = self._send("POST", path, params, body)
        doc = self._json(resp, "POST", path)
        if isinstance(doc, dict) and doc:
            return doc
        where = self._relative(resp.headers.get("Location") or "")
        if where:
            return self._object(self.get(where), "POST", path)
        raise AmbiguousWriteError(
            f"Visma POST /{_endpoint(path)} answered {resp.status_code} without the object it made",
            method="POST",
            path=path,
        )

    def put(self, path: str, body: Any) -> dict[str, Any]:
        """The stored object after the update, always: a PUT may answer 200 with it or 204 / an
        empty body, and callers verify totals on what this returns (so never on {})."""
        doc = self.request("PUT", path, body=body)
        if isinstance(doc, dict) and doc:
            return doc
        return self._object(self.get(path), "PUT", path)

    def _object(self, doc: Any, method: str, path: str) -> dict[str, Any]:
        if isinstance(doc, dict) and doc:
            return doc
        raise AmbiguousWriteError(
            f"Visma {method} /{_endpoint(path)} succeeded but the object cannot be read back", method=method, path=path
        )

    def _relative(self, location: str) -> str:
        """A Location header as a path under the API base ("" when it points elsewhere)."""
        split, api = urlsplit(location), urlsplit(self.api_url)
        base = api.path.rstrip("/") + "/"
        if not location or (split.netloc and split.netloc != api.netloc) or not split.path.startswith(base):
            return ""
        return split.path[len(base) :]

    def iter_list(
        self, path: str, *, filter: str | None = None, orderby: str | None = None, pagesize: int = 1000
    ) -> Iterator[dict[str, Any]]:
        """Every item of a list endpoint, one page ($page/$pagesize) at a time.

        Visma may serve fewer rows than asked for (a silent cap on $pagesize), so the end is
        read from Meta (pages, or failing that the row count), never from a short page; with
        no Meta at all it goes on until an empty page. A server that clamps $page to the last
        page (the same rows again) ends the list too, and `max_pages` bounds it all."""
        seen = 0
        previous: list[Any] = []
        for page in range(1, self.max_pages + 1):
            params: dict[str, Any] = {"$page": page, "$pagesize": pagesize}
            if filter:
                params["$filter"] = filter
            if orderby:
                params["$orderby"] = orderby
            body: Any = self.get(path, params)
            raw = body if isinstance(body, list) else body.get("Data") if isinstance(body, dict) else None
            if not isinstance(raw, list | None) or not all(isinstance(item, dict) for item in raw or []):
                # Read as "no rows", a lookup by reference would create a second document.
                raise UnavailableError(
                    f"Visma GET /{_endpoint(path)} answered a list in a shape it does not "
                    "document (not {Meta, Data: [objects]})",
                    hint="the next scheduled run retries; if it persists, report it",
                )
            if isinstance(body, list):  # an endpoint that answers a bare array of objects is one page
                yield from body
                return
            data: list[dict[str, Any]] = raw or []
            ids = [item.get("Id") for item in data]
            if not data or (ids == previous and None not in ids):
                return
            previous = ids
            yield from data
            seen += len(data)
            meta = body.get("Meta")
            meta = meta if isinstance(meta, dict) else {}
            pages, results = as_int(meta.get("TotalNumberOfPages")), as_int(meta.get("TotalNumberOfResults"))
            if pages is None and results is None:
                continue
            if (pages is None or page >= pages) and (results is None or seen >= results):
                return
        raise UnavailableError(
            f"Visma GET /{_endpoint(path)}: still more rows after {self.max_pages} pages",
            hint="the list did not end as its Meta said; the next scheduled run retries",
        )
