"""The sandbox's stand-in for identity.vismaonline.com: authorization-code and
refresh-token grants, with Visma's rotation (every refresh voids the refresh token it
used), single-use codes bound to their redirect URI, and access tokens that expire on
the injected clock. Kept apart from the API so each has its own small lock.
"""

from __future__ import annotations

import base64
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode

DEFAULT_SCOPE = "ea:api offline_access ea:sales ea:accounting_readonly"
CODE_TTL = 300.0


@dataclass
class Answer:
    """One HTTP answer of the sandbox (body is JSON-serialisable, or None for no body)."""

    status: int
    body: Any = None
    headers: dict[str, str] | None = None
    hang_up: bool = False  # close the connection without answering


class Identity:
    def __init__(self, client_id: str, client_secret: str, access_token_ttl: float,
                 clock: Callable[[], float]) -> None:
        self.client_id, self.client_secret = client_id, client_secret
        self.access_token_ttl = access_token_ttl
        self.clock = clock
        self._lock = threading.Lock()
        self._access: dict[str, float] = {}  # access token → expiry (clock seconds)
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
        with self._lock:
            expiry = self._access.get(token)
            if expiry is not None and expiry <= self.clock():
                del self._access[token]
                return False
            return expiry is not None

    def handle(self, method: str, path: str, query: dict[str, str], headers: dict[str, str],
               raw: bytes) -> Answer:
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
        self._access[access] = self.clock() + self.access_token_ttl
        self._refresh[refresh] = scope
        return {"access_token": access, "token_type": "Bearer", "expires_in": int(self.access_token_ttl),
                "refresh_token": refresh, "scope": scope}
