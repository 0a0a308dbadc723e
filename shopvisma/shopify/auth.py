"""Shopify access tokens: the client-credentials grant, cached in tokens.json.

Apart from the client because `shopvisma login shopify` needs a token without a
GraphQL client, and the client needs only "a callable that returns a token" (a static
token from the secret store works the same way).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import requests

from shopvisma import redact
from shopvisma.errors import AuthError, UnavailableError
from shopvisma.http import check_session, describe, make_session

LOGIN_HINT = "run: shopvisma login shopify"
RENEW_MARGIN = 3600.0  # renew a client-credentials token with less than 1 h left


def client_credentials_token(
    origin: str,
    client_id: str,
    client_secret: str,
    tokens: Any,
    *,
    session: requests.Session | None = None,
    clock: Callable[[], float] = time.time,
    force: bool = False,
) -> str:
    """The cached client-credentials token, renewed when < 1 h is left or when `force`d.

    There is no refresh token in this grant: a new token is simply requested with
    the client id/secret and cached in tokens.json ("shopify").
    """
    redact.register(client_secret)
    cached = (tokens.load().get("shopify") or {}) if tokens is not None else {}
    if not force and cached.get("access_token") and float(cached.get("expires_at") or 0) - RENEW_MARGIN > clock():
        redact.register(cached["access_token"])
        return str(cached["access_token"])
    session = check_session(session or make_session(post_is_read_for=[origin]))
    try:
        resp = session.post(
            f"{origin.rstrip('/')}/admin/oauth/access_token",
            data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret},
            headers={"Accept": "application/json"},
            timeout=(5, 60),
        )
    except requests.RequestException as exc:
        raise UnavailableError(
            f"Shopify token endpoint {describe(exc)}", hint="the next scheduled run retries"
        ) from None
    if resp.status_code in (400, 401, 403, 404):
        raise AuthError(f"Shopify refused the client credentials (HTTP {resp.status_code})", hint=LOGIN_HINT)
    if resp.status_code != 200:
        raise UnavailableError(
            f"Shopify token endpoint answered HTTP {resp.status_code}", hint="the next scheduled run retries"
        )
    try:
        payload = resp.json()
        token = str(payload["access_token"])
    except (ValueError, KeyError, TypeError):
        raise AuthError("Shopify's token response has no access token", hint=LOGIN_HINT) from None
    redact.register(token)
    section = {"access_token": token, "expires_at": clock() + float(payload.get("expires_in") or 86399)}
    if tokens is not None:
        tokens.update("shopify", section)
    return token


class ShopifyTokenProvider:
    """Callable token source for `ShopifyClient`; `.invalidate()` forces a new token after a 401."""

    def __init__(
        self,
        origin: str,
        client_id: str,
        client_secret: str,
        tokens: Any,
        *,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.origin = origin
        self.client_id = client_id
        self._client_secret = client_secret
        self.tokens = tokens
        self.session = session
        self.clock = clock
        self._force = False
        redact.register(client_secret)

    def __call__(self) -> str:
        token = client_credentials_token(
            self.origin,
            self.client_id,
            self._client_secret,
            self.tokens,
            session=self.session,
            clock=self.clock,
            force=self._force,
        )
        self._force = False
        return token

    def invalidate(self) -> None:
        self._force = True

    def __repr__(self) -> str:
        return f"ShopifyTokenProvider(origin={self.origin!r})"
