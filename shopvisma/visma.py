"""Visma eAccounting v2 client: OAuth refresh with rotation, paging, typed errors.

No business rules: it moves JSON and turns Visma's error envelope into typed
errors. Token handling is a small explicit implementation rather than authlib's
OAuth2Session: the one rule that matters here (the rotated refresh token is on
disk *before* the new access token is used, because the old one is void the
moment Visma answers) has to sit between "token response received" and "first
request", and authlib's `update_token` hook runs after its own request
plumbing, with its own retry and error shapes. Twenty lines of form POST are
easier to audit than that interaction.
"""

from __future__ import annotations

import collections
import logging
import random
import re
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode

import requests

from . import redact
from .errors import AuthError, ExitCode, ShopvismaError, UnavailableError
from .http import (
    WaitBudget,
    check_session,
    describe,
    encode_json,
    make_session,
    not_sent,
    retry_after_seconds,
    utc_iso,
)

log = logging.getLogger("shopvisma.visma")

LOGIN_HINT = "run: shopvisma login visma"
SCOPES = ("ea:api", "offline_access", "ea:sales", "ea:accounting_readonly")
RATE_LIMIT = 590  # Visma: 600 requests per minute per client and endpoint; a little headroom
REFRESH_MARGIN = 60.0  # refresh when the access token has less than this left (or a quarter of its life)
_TRY_AGAIN = re.compile(r"try again in (\d+(?:\.\d+)?) second", re.IGNORECASE)


class VismaError(ShopvismaError):
    """Visma refused a request; carries the envelope's fields for the caller to decide."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        error_code: int | None = None,
        field_errors: list[dict[str, Any]] | None = None,
        error_id: str | None = None,
        hint: str = "",
    ):
        super().__init__(message, hint=hint)
        self.status = status
        self.error_code = error_code
        self.field_errors = field_errors or []
        self.error_id = error_id


class VismaValidationError(VismaError):
    """400 / ErrorCode 2000: the body was refused; the order stays pending with this reason."""

    exit_code = ExitCode.PARTIAL


class VismaModuleError(VismaError):
    """4002: the company lacks the module (sales orders need `sales_standard`)."""

    exit_code = ExitCode.CONFIG


class AmbiguousWriteError(ShopvismaError):
    """A POST/PUT was sent but its outcome is unknown (timeout, dropped connection, 5xx).

    The caller must look the document up by its reference before trying again.
    """

    exit_code = ExitCode.UNAVAILABLE

    def __init__(self, message: str, *, method: str, path: str):
        super().__init__(message, hint="look the document up by its reference before retrying")
        self.method = method
        self.path = path


class _RateLimited(Exception):
    def __init__(self, wait: float):
        self.wait = wait


def authorize_url(
    identity_url: str, client_id: str, redirect_uri: str, state: str, scopes: tuple[str, ...] = SCOPES
) -> str:
    """The URL the user opens to grant access (authorization-code flow)."""
    query = urlencode(
        {
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "scope": " ".join(scopes),
            "state": state,
            "response_type": "code",
            "prompt": "login",
        }
    )
    return f"{identity_url.rstrip('/')}/connect/authorize?{query}"


def _token_section(payload: dict[str, Any], now: float, old_refresh: str | None = None) -> dict[str, Any]:
    access = payload.get("access_token")
    if not access:
        raise AuthError("Visma's token response has no access token", hint=LOGIN_HINT)
    refresh = payload.get("refresh_token") or old_refresh
    redact.register(access, refresh)
    life = float(payload.get("expires_in") or 3600)
    return {
        "access_token": access,
        "refresh_token": refresh,
        "expires_at": now + life,
        "expires_in": life,
        "rotated_at": utc_iso(now),
    }


def _token_post(
    session: requests.Session, identity_url: str, client_id: str, client_secret: str, data: dict[str, str],
    timeout: tuple[float, float],
) -> requests.Response:
    url = f"{identity_url.rstrip('/')}/connect/token"
    try:
        return session.post(
            url, data=data, auth=(client_id, client_secret), timeout=timeout,
            headers={"Content-Type": "application/x-www-form-urlencoded;charset=UTF-8"},
        )
    except requests.RequestException as exc:
        raise UnavailableError(f"Visma identity server {describe(exc)}",
                               hint="the next scheduled run retries") from None


def _token_error(resp: requests.Response) -> ShopvismaError:
    try:
        err = str(resp.json().get("error", ""))
    except ValueError:
        err = ""
    if err == "invalid_grant":
        return AuthError("Visma grant is missing or revoked", hint=LOGIN_HINT)
    if err in ("invalid_client", "unauthorized_client") or resp.status_code == 401:
        return AuthError("Visma rejected the client id/secret",
                         hint="check SHOPVISMA_VISMA_CLIENT_ID / SHOPVISMA_VISMA_CLIENT_SECRET, then " + LOGIN_HINT)
    if resp.status_code >= 500:
        return UnavailableError(f"Visma identity server answered HTTP {resp.status_code}",
                                hint="the next scheduled run retries")
    return AuthError(f"Visma token request refused (HTTP {resp.status_code} {err})".rstrip(), hint=LOGIN_HINT)


def exchange_code(
    identity_url: str, client_id: str, client_secret: str, code: str, redirect_uri: str, tokens: Any,
    session: requests.Session | None = None, *, clock: Callable[[], float] = time.time,
) -> dict[str, Any]:
    """Trade an authorization code for tokens and save them in tokens.json ("visma")."""
    redact.register(client_secret, code)
    session = check_session(session or make_session(post_is_read_for=[identity_url]))
    resp = _token_post(session, identity_url, client_id, client_secret,
                       {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}, (5, 60))
    if resp.status_code != 200:
        raise _token_error(resp)
    section = _token_section(resp.json(), clock())
    tokens.update("visma", section)
    return section


def _endpoint(path: str) -> str:
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
    ):
        self.api_url = api_url.rstrip("/")
        self.identity_url = identity_url.rstrip("/")
        self.client_id = client_id
        self._client_secret = client_secret
        self.tokens = tokens
        self.session = check_session(session or make_session(post_is_read_for=[self.identity_url]))
        self.timeout = timeout
        self.budget = WaitBudget(max_wait, sleep)
        self.clock = clock
        self.jitter = jitter
        self.requests: collections.Counter[tuple[str, str]] = collections.Counter()
        self.rate_limit = rate_limit
        self.paced_seconds = 0.0
        self._sleep = sleep
        self._sent: dict[str, collections.deque[float]] = collections.defaultdict(collections.deque)
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
            resp = _token_post(self.session, self.identity_url, self.client_id, self._client_secret, data, self.timeout)
            if resp.status_code == 429:
                self.budget.wait(self._rate_limit_wait(resp), "Visma token endpoint rate limit")
                continue
            if resp.status_code != 200:
                raise _token_error(resp)
            try:
                payload = resp.json()
            except ValueError:
                raise UnavailableError("Visma identity server returned a non-JSON token response") from None
            new = _token_section(payload, self.clock(), old_refresh=str(refresh))
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
        wait = None
        try:
            match = _TRY_AGAIN.search(str(resp.json().get("DeveloperErrorMessage", "")))
            wait = float(match.group(1)) if match else None
        except (ValueError, AttributeError):
            pass
        if wait is None:
            wait = retry_after_seconds(resp, self.clock)
        if wait is None:
            wait = 60.0  # Visma's window is a minute
        return wait + random.uniform(0, self.jitter)

    def _pace(self, endpoint: str) -> None:
        """Stay under Visma's 600 requests/minute per endpoint instead of running into 429s:
        a backlog then runs at the limit with no refused request (and no wasted round trip).
        These waits are the rate itself, not trouble, so they do not use the wait budget."""
        window = self._sent[endpoint]
        now = self.clock()
        while window and window[0] <= now - 60.0:
            window.popleft()
        if len(window) >= self.rate_limit:
            wait = window[0] + 60.0 - now + 0.05
            self.paced_seconds += wait
            self._sleep(wait)
            now = self.clock()
            while window and window[0] <= now - 60.0:
                window.popleft()
        window.append(now)

    def request(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                body: Any = None) -> dict[str, Any]:
        """One logical call: waits out 429s, refreshes once on 401, maps errors."""
        method = method.upper()
        write = method not in ("GET", "HEAD")
        endpoint = _endpoint(path)
        refreshed = False
        payload = None if body is None else encode_json(body)
        for _ in range(50):
            token = self.access_token()
            self._pace(endpoint)
            self.requests[(method, endpoint)] += 1
            if write:
                self.write_count += 1
            try:
                resp = self.session.request(
                    method, self._url(path), params=params, data=payload, timeout=self.timeout,
                    headers={"Authorization": f"Bearer {token}", "Accept": "application/json",
                             **({"Content-Type": "application/json"} if payload is not None else {})},
                )
            except requests.RequestException as exc:
                what = f"Visma {method} /{endpoint} {describe(exc)}"
                if write and not not_sent(exc):
                    raise AmbiguousWriteError(what + "; the outcome is unknown", method=method, path=path) from None
                raise UnavailableError(what, hint="the next scheduled run retries") from None
            log.debug("Visma %s /%s -> %s", method, endpoint, resp.status_code)
            if resp.status_code == 429:
                self.budget.wait(self._rate_limit_wait(resp), f"Visma rate limit on /{endpoint}")
                continue
            if resp.status_code == 401 and not refreshed:
                refreshed = True
                self.access_token(force=True)
                continue
            if resp.status_code >= 500:
                what = f"Visma {method} /{endpoint} answered HTTP {resp.status_code}"
                if write:
                    raise AmbiguousWriteError(what + "; the outcome is unknown", method=method, path=path)
                raise UnavailableError(what, hint="the next scheduled run retries")
            if resp.status_code >= 400:
                raise self._error(resp, method, endpoint)
            if resp.status_code == 204 or not resp.content:
                return {}
            try:
                return resp.json()
            except ValueError:
                raise UnavailableError(f"Visma {method} /{endpoint} returned a non-JSON body") from None
        raise UnavailableError(f"Visma {method} /{endpoint}: too many retries", hint="the next scheduled run retries")

    def _error(self, resp: requests.Response, method: str, endpoint: str) -> ShopvismaError:
        try:
            env = resp.json()
            if not isinstance(env, dict):
                env = {}
        except ValueError:
            env = {}
        code = env.get("ErrorCode")
        code = int(code) if isinstance(code, int | str) and str(code).isdigit() else None
        dev = str(env.get("DeveloperErrorMessage") or resp.reason or "").strip()
        fields = [e for e in env.get("Errors") or [] if isinstance(e, dict)]
        status = resp.status_code
        detail = "; ".join(f"{e.get('Field') or '?'}: {e.get('Message') or e.get('ErrorCode')}" for e in fields)
        message = f"Visma {method} /{endpoint}: HTTP {status}" + (f" ErrorCode {code}" if code else "")
        message += f": {detail or dev}" if (detail or dev) else ""
        kw: dict[str, Any] = {"status": status, "error_code": code, "field_errors": fields,
                              "error_id": env.get("ErrorId")}
        if code == 4002:
            return VismaModuleError(message, hint='the company lacks the module; set [visma] workflow = "invoice-draft"',
                                    **kw)
        if status == 401 or code == 4005:
            return AuthError(f"Visma refused the access token ({message})", hint=LOGIN_HINT)
        if status == 403 or code == 4006:
            return AuthError(
                f"Visma denied access, the grant lacks a scope ({message})",
                hint="the grant needs scopes " + " ".join(SCOPES) + "; " + LOGIN_HINT,
            )
        if status == 400 and (code in (None, 2000) or fields):
            return VismaValidationError(message, **kw)
        return VismaError(message, **kw)

    # -- convenience ----------------------------------------------------------

    def get(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.request("GET", path, params=params)

    def post(self, path: str, body: Any, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.request("POST", path, params=params, body=body)

    def put(self, path: str, body: Any) -> dict[str, Any]:
        return self.request("PUT", path, body=body)

    def iter_list(self, path: str, *, filter: str | None = None, orderby: str | None = None,
                  pagesize: int = 1000) -> Iterator[dict[str, Any]]:
        """Every item of a list endpoint, one page ($page/$pagesize) at a time."""
        page = 1
        while True:
            params: dict[str, Any] = {"$page": page, "$pagesize": pagesize}
            if filter:
                params["$filter"] = filter
            if orderby:
                params["$orderby"] = orderby
            body = self.get(path, params)
            data = body.get("Data") or []
            yield from data
            meta = body.get("Meta") or {}
            total = int(meta.get("TotalNumberOfPages") or 0)
            if not data or page >= total:
                return
            page += 1
