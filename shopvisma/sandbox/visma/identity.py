"""The sandbox's stand-in for identity.vismaonline.com: authorization-code and
refresh-token grants, with Visma's rotation (every refresh voids the refresh token it
used), single-use codes bound to their redirect URI, and access tokens that expire on
the injected clock. Kept apart from the API so each has its own small lock.

Scopes are modelled: a token carries the scopes its grant asked for, and SCOPE_RULES
(from the 2026 OpenAPI's "Requires any of the following scopes" per path) decides which
endpoints it may call; the API answers 403 / 4006 NoAccessToScopes otherwise.
"""

from __future__ import annotations

import base64
import secrets
import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode

# What `issue_refresh_token()` grants ("as if the user had logged in"), and what an authorize
# request without `scope` gets: everything the product could need, so no default test trips a scope.
DEFAULT_SCOPE = "ea:api offline_access ea:sales ea:accounting ea:purchase_readonly"
CODE_TTL = 300.0
API_SCOPE = "ea:api"  # docs/authentication: mandatory for every eAccounting call
SALES_SCOPES = frozenset({"ea:sales", "ea:sales_readonly"})  # what the "no-sales-scope" reading takes away

_SALES_READ, _SALES_WRITE = ("ea:sales", "ea:sales_readonly"), ("ea:sales",)
_ACCOUNTING_READ, _ACCOUNTING_WRITE = ("ea:accounting", "ea:accounting_readonly"), ("ea:accounting",)
# endpoint (first path segment) → (any of these for GET, any of these for other methods), copied
# from the 2026 OpenAPI path descriptions (tests/sandbox/test_sandbox_visma_quirks.py checks the copy).
# One deliberate exception: /companysettings needs only ea:api here (the spec says ea:sales or
# ea:sales_readonly), so a client can still read which company it reached when the grant
# lacks the sales scopes; docs/sandbox-visma.md lists it as approximate.
SCOPE_RULES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    **{
        e: (_SALES_READ, _SALES_WRITE)
        for e in ("customers", "articles", "customerinvoicedrafts", "orders", "units", "articleaccountcodings")
    },
    "customerinvoices": (_SALES_READ, _SALES_READ),  # the spec lets ea:sales_readonly POST here
    "termsofpayments": (_SALES_READ + ("ea:purchase", "ea:purchase_readonly"),) * 2,
    "vatcodes": (_ACCOUNTING_READ, _ACCOUNTING_WRITE),
    "accounts": (_ACCOUNTING_READ, _ACCOUNTING_WRITE),
    "vouchers": (_ACCOUNTING_READ, _ACCOUNTING_WRITE),
    "fiscalyears": (_SALES_READ + _ACCOUNTING_READ, ("ea:sales", "ea:accounting")),
    "bankaccounts": (("ea:purchase", "ea:purchase_readonly"), ("ea:purchase",)),
}
# (endpoint, action) → the same pair, for /{endpoint}/{id}/{action} paths whose rule differs from
# their endpoint's: the 2026 spec lets ea:sales_readonly POST /customerinvoices, but a payment
# needs ea:sales (tests/sandbox/test_sandbox_visma_invoicing.py checks every routed action).
ACTION_SCOPE_RULES: dict[tuple[str, str], tuple[tuple[str, ...], tuple[str, ...]]] = {
    ("customerinvoices", "payments"): (_SALES_READ, _SALES_WRITE),
}


def missing_scope(
    endpoint: str, method: str, granted: Collection[str], action: str | None = None
) -> tuple[str, ...] | None:
    """The scopes (any one would do) a call lacks, or None when the token may make it."""
    if API_SCOPE not in granted:
        return (API_SCOPE,)
    rule = ACTION_SCOPE_RULES.get((endpoint, action or "")) or SCOPE_RULES.get(endpoint)
    if rule is None:
        return None
    wanted = rule[0] if method == "GET" else rule[1]
    return None if set(wanted) & set(granted) else wanted


@dataclass
class Answer:
    """One HTTP answer of the sandbox (body is JSON-serialisable, or None for no body)."""

    status: int
    body: Any = None
    headers: dict[str, str] | None = None
    hang_up: bool = False  # close the connection without answering


class Identity:
    def __init__(
        self,
        client_id: str,
        client_secret: str,
        access_token_ttl: float,
        clock: Callable[[], float],
        quirks: Collection[str] = (),
    ) -> None:
        self.client_id, self.client_secret = client_id, client_secret
        self.access_token_ttl = access_token_ttl
        self.clock = clock
        self.quirks = quirks  # the sandbox's live set: "no-sales-scope" applies to tokens already issued too
        self._lock = threading.Lock()
        self._access: dict[str, tuple[float, str]] = {}  # access token → (expiry in clock seconds, scope)
        self._refresh: dict[str, str] = {}  # live refresh token → granted scope
        self._codes: dict[str, tuple[str, str, float]] = {}  # code → (redirect_uri, scope, expiry)

    def issue_refresh_token(self) -> str:
        with self._lock:
            token = "sbx-rt-" + secrets.token_urlsafe(24)
            self._refresh[token] = DEFAULT_SCOPE
            return token

    def revoke_grant(self) -> None:
        with self._lock:
            self._refresh.clear()

    def access_token_is_live(self, token: str) -> bool:
        return self.token_scopes(token) is not None

    def token_scopes(self, token: str) -> set[str] | None:
        """The scopes a live access token carries; None when it is unknown or expired."""
        with self._lock:
            entry = self._access.get(token)
            if entry is None:
                return None
            if entry[0] <= self.clock():
                del self._access[token]
                return None
            return self._effective(entry[1])

    def _effective(self, scope: str) -> set[str]:
        granted = set(scope.split())
        return granted - SALES_SCOPES if "no-sales-scope" in self.quirks else granted

    def handle(self, method: str, path: str, query: dict[str, str], headers: dict[str, str], raw: bytes) -> Answer:
        if path == "/identity/connect/authorize" and method == "GET":
            return self._authorize(query)
        if path != "/identity/connect/token":
            return Answer(404, {"error": "not_found"})
        if method != "POST":
            return Answer(405, {"error": "invalid_request"})
        form = {k: v[-1] for k, v in parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True).items()}
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        auth = headers.get("authorization", "")
        if auth.lower().startswith("basic "):
            try:
                client_id, _, client_secret = base64.b64decode(auth[6:]).decode().partition(":")
            except ValueError:
                client_id = None
        if client_id != self.client_id or client_secret != self.client_secret:
            return Answer(401, {"error": "invalid_client"})
        grant = form.get("grant_type")
        with self._lock:
            if grant == "authorization_code":
                entry = self._codes.pop(form.get("code", ""), None)
                if entry is None or entry[0] != form.get("redirect_uri") or entry[2] < self.clock():
                    return Answer(400, {"error": "invalid_grant"})
                return Answer(200, self._issue(entry[1]), {"Cache-Control": "no-store"})
            if grant == "refresh_token":
                scope = self._refresh.pop(form.get("refresh_token", ""), None)
                if scope is None:
                    return Answer(400, {"error": "invalid_grant"})
                return Answer(200, self._issue(scope), {"Cache-Control": "no-store"})
        return Answer(400, {"error": "unsupported_grant_type"})

    def _authorize(self, query: dict[str, str]) -> Answer:
        """No login page: the 'user' consents at once and is sent back with a code."""
        redirect_uri = query.get("redirect_uri", "")
        if query.get("client_id") != self.client_id or not redirect_uri:
            return Answer(400, {"error": "invalid_client" if redirect_uri else "invalid_request"})
        sep = "&" if "?" in redirect_uri else "?"
        if query.get("response_type") != "code":
            params = {"error": "unsupported_response_type", "state": query.get("state", "")}
            return Answer(302, None, {"Location": redirect_uri + sep + urlencode(params)})
        code = "sbx-code-" + secrets.token_urlsafe(16)
        with self._lock:
            self._codes[code] = (redirect_uri, query.get("scope") or DEFAULT_SCOPE, self.clock() + CODE_TTL)
        params = {"code": code, "state": query.get("state", "")}
        return Answer(302, None, {"Location": redirect_uri + sep + urlencode(params)})

    def _issue(self, scope: str) -> dict[str, Any]:
        access = "sbx-at-" + secrets.token_urlsafe(24)
        refresh = "sbx-rt-" + secrets.token_urlsafe(24)
        self._access[access] = (self.clock() + self.access_token_ttl, scope)
        self._refresh[refresh] = scope
        served = " ".join(s for s in scope.split() if s in self._effective(scope))
        return {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": int(self.access_token_ttl),
            "refresh_token": refresh,
            "scope": served,
        }
