"""Visma OAuth: the authorization-code login and the token-endpoint helpers.

Token handling is a small explicit implementation rather than authlib's OAuth2Session:
the one rule that matters here (the rotated refresh token is on disk *before* the new
access token is used, because the old one is void the moment Visma answers) has to sit
between "token response received" and "first request", and authlib's `update_token`
hook runs after its own request plumbing, with its own retry and error shapes. Twenty
lines of form POST are easier to audit than that interaction. The refresh itself is the
client's (`VismaClient._refresh`), because it shares the client's wait budget.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import requests

from shopvisma import redact
from shopvisma.errors import AuthError, ShopvismaError, UnavailableError
from shopvisma.http import check_session, describe, make_session
from shopvisma.timefmt import iso_z
from shopvisma.visma.errors import LOGIN_HINT

SCOPES = ("ea:api", "offline_access", "ea:sales", "ea:accounting_readonly")


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


def token_section(payload: Any, now: float, old_refresh: str | None = None) -> dict[str, Any]:
    """A token response as the tokens.json "visma" section; secrets registered for redaction.
    Visma may leave the refresh token out when it did not rotate: the old one is kept then."""
    if not isinstance(payload, dict):
        raise UnavailableError(
            "Visma identity server returned a token response that is not a JSON object",
            hint="the next scheduled run retries",
        )
    access = payload.get("access_token")
    if not access:
        raise AuthError("Visma's token response has no access token", hint=LOGIN_HINT)
    refresh = payload.get("refresh_token") or old_refresh
    redact.register(access, refresh)
    try:
        life = float(payload.get("expires_in") or 3600)
    except (TypeError, ValueError):
        life = 3600.0  # Visma documents one hour; an unreadable value must not end the run
    return {
        "access_token": access,
        "refresh_token": refresh,
        "expires_at": now + life,
        "expires_in": life,
        "rotated_at": iso_z(now),
        # What the grant covers, when Visma says (doctor shows it; a 4006 still decides).
        "scope": str(payload.get("scope") or "") or None,
    }


def token_json(resp: requests.Response) -> Any:
    """The decoded token response; an HTML error page from a proxy is "try again", not a bug."""
    try:
        return resp.json()
    except ValueError:
        raise UnavailableError(
            "Visma identity server returned a non-JSON token response", hint="the next scheduled run retries"
        ) from None


def post_token(
    session: requests.Session,
    identity_url: str,
    client_id: str,
    client_secret: str,
    data: dict[str, str],
    timeout: tuple[float, float],
) -> requests.Response:
    """One form POST to /connect/token with the client id/secret as HTTP Basic (Visma's way)."""
    url = f"{identity_url.rstrip('/')}/connect/token"
    try:
        return session.post(
            url,
            data=data,
            auth=(client_id, client_secret),
            timeout=timeout,
            headers={"Content-Type": "application/x-www-form-urlencoded;charset=UTF-8"},
        )
    except requests.RequestException as exc:
        raise UnavailableError(
            f"Visma identity server {describe(exc)}", hint="the next scheduled run retries"
        ) from None


def token_error(resp: requests.Response) -> ShopvismaError:
    """The typed error of a refused token request: which of them means "log in again" decides
    whether cron mails an actionable 77 or a transient 69."""
    try:
        body = resp.json()
    except ValueError:
        body = None
    err = str(body.get("error") or "") if isinstance(body, dict) else ""
    if resp.status_code == 429:
        return UnavailableError("Visma identity server rate limit", hint="the next scheduled run retries")
    if err == "invalid_grant":
        return AuthError("Visma grant is missing or revoked", hint=LOGIN_HINT)
    if err in ("invalid_client", "unauthorized_client") or resp.status_code == 401:
        return AuthError(
            "Visma rejected the client id/secret",
            hint="check SHOPVISMA_VISMA_CLIENT_ID / SHOPVISMA_VISMA_CLIENT_SECRET, then " + LOGIN_HINT,
        )
    if resp.status_code >= 500:
        return UnavailableError(
            f"Visma identity server answered HTTP {resp.status_code}", hint="the next scheduled run retries"
        )
    return AuthError(f"Visma token request refused (HTTP {resp.status_code} {err})".rstrip(), hint=LOGIN_HINT)


def exchange_code(
    identity_url: str,
    client_id: str,
    client_secret: str,
    code: str,
    redirect_uri: str,
    tokens: Any,
    session: requests.Session | None = None,
    *,
    clock: Callable[[], float] = time.time,
) -> dict[str, Any]:
    """Trade an authorization code for tokens and save them in tokens.json ("visma")."""
    redact.register(client_secret, code)
    session = check_session(session or make_session(post_is_read_for=[identity_url]))
    resp = post_token(
        session,
        identity_url,
        client_id,
        client_secret,
        {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri},
        (5, 60),
    )
    if resp.status_code != 200:
        raise token_error(resp)
    section = token_section(token_json(resp), clock())
    tokens.update("visma", section)
    return section
