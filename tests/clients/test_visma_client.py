"""VismaClient against the loopback Visma sandbox over real HTTP, and against a
scripted fake session for every reading of what Visma's docs leave open.

One fake clock drives the sandbox (token expiry, rate-limit window) and the
client (token freshness, sleeps), so rotations and 429 waits are exact and
nothing really sleeps.
"""

from __future__ import annotations

import email.utils
import json as _json
import logging
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from shopvisma.errors import AuthError, ExitCode, ShopvismaError, UnavailableError
from shopvisma.http import make_session
from shopvisma.visma.auth import SCOPES, authorize_url, exchange_code
from shopvisma.visma.client import VismaClient
from shopvisma.visma.errors import (
    AmbiguousWriteError,
    VismaAuthError,
    VismaCompanyInactiveError,
    VismaError,
    VismaModuleError,
    VismaScopeError,
    VismaStartupGuideError,
    VismaValidationError,
    scope_for,
    scopes_for,
)
from support.clock import FakeClock

VismaSandbox = pytest.importorskip("shopvisma.sandbox.visma.server").VismaSandbox
TokenFile = pytest.importorskip("shopvisma.state.secrets").TokenFile

SECRET = "sandbox-secret"


class RecordingTokenFile(TokenFile):  # type: ignore[misc,valid-type]
    """Notes what the sandbox had seen when each rotation was saved."""

    def __init__(self, path: Path, sandbox: Any):
        super().__init__(path)
        self.sandbox = sandbox
        self.saves: list[tuple[tuple[str, str, int], dict[str, Any]]] = []

    def update(self, section: str, values: dict[str, Any]) -> dict[str, Any]:
        self.saves.append((self.sandbox.requests[-1], dict(values)))
        return super().update(section, values)


@pytest.fixture
def ft() -> FakeClock:
    return FakeClock()


def start(ft: FakeClock, **kw: Any) -> Any:
    return VismaSandbox(clock=ft, **kw).start()


@pytest.fixture
def sb(ft: FakeClock) -> Iterator[Any]:
    sandbox = start(ft)
    try:
        yield sandbox
    finally:
        sandbox.stop()


def seeded_tokens(path: Path, sandbox: Any, cls: type = TokenFile) -> Any:
    tokens = cls(path, sandbox) if cls is RecordingTokenFile else cls(path)
    tokens.save({"visma": {"access_token": "", "refresh_token": sandbox.issue_refresh_token(), "expires_at": 0}})
    return tokens


def client_for(sandbox: Any, tokens: Any, ft: FakeClock, **kw: Any) -> VismaClient:
    kw.setdefault("session", make_session(backoff_factor=0, post_is_read_for=[sandbox.identity_url]))
    return VismaClient(
        sandbox.api_url, sandbox.identity_url, sandbox.client_id, SECRET, tokens, sleep=ft.sleep, clock=ft, **kw
    )


def customer_body(sandbox: Any, i: int) -> dict[str, Any]:
    terms = next(iter(sandbox.terms_of_payments))
    return {
        "Name": f"Buyer {i}",
        "EmailAddress": f"buyer{i}@example.com",
        "InvoiceCity": "Lund",
        "InvoicePostalCode": "22100",
        "IsPrivatePerson": True,
        "IsActive": True,
        "TermsOfPaymentId": terms,
    }


# -- tokens --------------------------------------------------------------------------


def test_rotation_with_two_second_tokens(ft: FakeClock, tmp_path: Path) -> None:
    sandbox = start(ft, access_token_ttl=2)
    try:
        tokens = seeded_tokens(tmp_path / "tokens.json", sandbox, RecordingTokenFile)
        client = client_for(sandbox, tokens, ft)
        seen_refresh: list[str] = []
        for _ in range(12):
            client.get("termsofpayments")
            ft.advance(0.9)
            seen_refresh.append(tokens.load()["visma"]["refresh_token"])
        assert client.token_requests == len(tokens.saves) >= 5
        rotated = [v["refresh_token"] for _, v in tokens.saves]
        assert len(set(rotated)) == len(rotated)  # every refresh got and kept a new token
        # Each rotation was on disk before any API call: the last thing the sandbox saw was the token call.
        assert all(last[:2] == ("POST", "/identity/connect/token") and last[2] == 200 for last, _ in tokens.saves)
        assert not [r for r in sandbox.requests if r[2] in (400, 401)]  # no voided refresh token, no stale access
        assert stat.S_IMODE(os.stat(tmp_path / "tokens.json").st_mode) == 0o600
        saved = tokens.load()["visma"]
        assert saved["refresh_token"] == rotated[-1] and saved["rotated_at"].endswith("Z")
        assert ft.now - 0.9 < saved["expires_at"] <= ft.now - 0.9 + 2
        assert seen_refresh[-1] == rotated[-1]
    finally:
        sandbox.stop()


def test_fresh_token_is_not_refreshed(sb: Any, ft: FakeClock, tmp_path: Path) -> None:
    tokens = seeded_tokens(tmp_path / "tokens.json", sb)
    client = client_for(sb, tokens, ft)
    for _ in range(5):
        client.get("units")
    assert client.token_requests == 1
    # A second client (e.g. the next cron run) picks up the stored token without refreshing.
    other = client_for(sb, tokens, ft)
    other.get("units")
    assert other.token_requests == 0


def test_rotation_by_one_client_is_seen_by_another(ft: FakeClock, tmp_path: Path) -> None:
    sandbox = start(ft, access_token_ttl=2)
    try:
        tokens = seeded_tokens(tmp_path / "tokens.json", sandbox)
        a, b = client_for(sandbox, tokens, ft), client_for(sandbox, tokens, ft)
        for _ in range(4):
            a.get("units")
            b.get("units")
            ft.advance(1.9)
        assert not [r for r in sandbox.requests if r[2] in (400, 401)]
    finally:
        sandbox.stop()


def test_server_side_expiry_401_refreshes_once(ft: FakeClock, tmp_path: Path) -> None:
    server_clock = FakeClock()
    sandbox = VismaSandbox(clock=server_clock, access_token_ttl=100).start()
    try:
        tokens = seeded_tokens(tmp_path / "tokens.json", sandbox)
        client = client_for(sandbox, tokens, ft)
        client.get("units")
        server_clock.advance(500)  # the server thinks the token expired; the client does not
        client.get("units")
        statuses = [s for _, p, s in sandbox.requests if p.startswith("/v2")]
        assert statuses == [200, 401, 200]
        assert client.token_requests == 2
    finally:
        sandbox.stop()


def test_revoked_grant_is_auth_error(sb: Any, ft: FakeClock, tmp_path: Path) -> None:
    tokens = seeded_tokens(tmp_path / "tokens.json", sb)
    client = client_for(sb, tokens, ft)
    client.get("units")
    sb.revoke_grant()
    ft.advance(4000)  # the access token expired: a refresh is needed and refused
    with pytest.raises(AuthError) as ei:
        client.get("units")
    assert ei.value.message == "Visma grant is missing or revoked"
    assert ei.value.hint == "run: shopvisma login visma"
    assert ei.value.exit_code == ExitCode.NOPERM


def test_missing_refresh_token_is_auth_error(sb: Any, ft: FakeClock, tmp_path: Path) -> None:
    client = client_for(sb, TokenFile(tmp_path / "none.json"), ft)
    with pytest.raises(AuthError, match="missing or revoked"):
        client.get("units")
    assert client.requests.total() == 0


def test_wrong_client_secret(sb: Any, ft: FakeClock, tmp_path: Path) -> None:
    tokens = seeded_tokens(tmp_path / "tokens.json", sb)
    client = VismaClient(sb.api_url, sb.identity_url, sb.client_id, "not-the-secret-xyz", tokens, clock=ft)
    with pytest.raises(AuthError) as ei:
        client.get("units")
    assert "not-the-secret-xyz" not in str(ei.value)


def test_authorize_url_and_exchange_code(sb: Any, ft: FakeClock, tmp_path: Path) -> None:
    redirect = "https://example.com/callback"
    url = authorize_url(sb.identity_url, sb.client_id, redirect, "st4te")
    q = parse_qs(urlsplit(url).query)
    assert q["scope"] == ["ea:api offline_access ea:sales ea:accounting_readonly"]
    assert q["response_type"] == ["code"] and q["state"] == ["st4te"]
    loc = requests.get(url, allow_redirects=False, timeout=5).headers["Location"]
    back = parse_qs(urlsplit(loc).query)
    assert back["state"] == ["st4te"]
    tokens = TokenFile(tmp_path / "tokens.json")
    section = exchange_code(sb.identity_url, sb.client_id, SECRET, back["code"][0], redirect, tokens, clock=ft)
    assert tokens.load()["visma"]["refresh_token"] == section["refresh_token"]
    client = client_for(sb, tokens, ft)
    client.get("units")
    assert client.token_requests == 0
    with pytest.raises(AuthError) as ei:  # a code works once
        exchange_code(sb.identity_url, sb.client_id, SECRET, back["code"][0], redirect, tokens, clock=ft)
    assert back["code"][0] not in str(ei.value)


# -- rate limits -----------------------------------------------------------------------


def test_429_storm_waits_what_the_message_says(ft: FakeClock, tmp_path: Path) -> None:
    sandbox = start(ft, rate_limit_per_minute=3)
    try:
        client = client_for(sandbox, seeded_tokens(tmp_path / "tokens.json", sandbox), ft, jitter=0)
        for _ in range(10):
            client.get("units")
            ft.advance(5)
        statuses = [s for _, p, s in sandbox.requests if p.startswith("/v2")]
        assert statuses.count(429) >= 2
        assert "429, 429" not in ", ".join(map(str, statuses))  # never hammered
        # the sandbox's message says ceil(oldest + 60 - now): calls at t, t+5, t+10, then 429 at t+15
        assert ft.sleeps[0] == 45
        assert all(s == int(s) for s in ft.sleeps)
        assert statuses.count(200) == 10
    finally:
        sandbox.stop()


def test_429_jitter_is_small(ft: FakeClock, tmp_path: Path) -> None:
    sandbox = start(ft, rate_limit_per_minute=1)
    try:
        client = client_for(sandbox, seeded_tokens(tmp_path / "tokens.json", sandbox), ft)
        client.get("units")
        client.get("units")
        assert len(ft.sleeps) == 1 and 60 <= ft.sleeps[0] <= 60.5
    finally:
        sandbox.stop()


def test_429_wait_cap_ends_unavailable(ft: FakeClock, tmp_path: Path) -> None:
    sandbox = start(ft, rate_limit_per_minute=1)
    try:
        client = client_for(sandbox, seeded_tokens(tmp_path / "tokens.json", sandbox), ft, max_wait=100)
        with pytest.raises(UnavailableError) as ei:
            for _ in range(5):
                client.get("units")
        assert ei.value.exit_code == ExitCode.UNAVAILABLE
        assert sum(ft.sleeps) <= 100
    finally:
        sandbox.stop()


def test_429_on_a_write_is_retried_once_refused(sb: Any, ft: FakeClock, tmp_path: Path) -> None:
    client = client_for(sb, seeded_tokens(tmp_path / "tokens.json", sb), ft, jitter=0)
    sb.inject_fault("POST", "/customers", "429")
    created = client.post("customers", customer_body(sb, 1))
    assert ft.sleeps == [60]  # the injected quota message says 60 seconds
    assert list(sb.customers) == [created["Id"]]
    assert client.write_count == 2 and client.requests[("POST", "customers")] == 2


# -- writes and errors -------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["timeout-after-commit", "500-after-commit", "500"])
def test_ambiguous_write_is_not_retried(sb: Any, ft: FakeClock, tmp_path: Path, kind: str) -> None:
    client = client_for(sb, seeded_tokens(tmp_path / "tokens.json", sb), ft)
    sb.inject_fault("POST", "/customers", kind)
    with pytest.raises(AmbiguousWriteError) as ei:
        client.post("customers", customer_body(sb, 1))
    assert ei.value.method == "POST" and ei.value.path == "customers"
    posts = [r for r in sb.requests if r[0] == "POST" and r[1].startswith("/v2")]
    assert len(posts) == 1 and client.write_count == 1
    assert len(sb.customers) == (0 if kind == "500" else 1)
    # the caller's lookup by reference finds what was committed
    found = list(client.iter_list("customers", filter="EmailAddress eq 'buyer1@example.com'"))
    assert len(found) == len(sb.customers)


def test_get_500_is_retried(sb: Any, ft: FakeClock, tmp_path: Path) -> None:
    client = client_for(sb, seeded_tokens(tmp_path / "tokens.json", sb), ft)
    sb.inject_fault("GET", "/units", "500", times=2)
    assert client.get("units")["Data"]
    statuses = [s for _, p, s in sb.requests if p.startswith("/v2/units")]
    assert statuses == [500, 500, 200]


def test_get_500_persisting_is_unavailable(sb: Any, ft: FakeClock, tmp_path: Path) -> None:
    client = client_for(sb, seeded_tokens(tmp_path / "tokens.json", sb), ft)
    sb.inject_fault("GET", "/units", "500", times=20)
    with pytest.raises(UnavailableError):
        client.get("units")


def test_validation_error_is_typed(sb: Any, ft: FakeClock, tmp_path: Path) -> None:
    client = client_for(sb, seeded_tokens(tmp_path / "tokens.json", sb), ft)
    with pytest.raises(VismaValidationError) as ei:
        client.post("customers", {"Name": "x" * 80, "IsActive": True})
    err = ei.value
    assert err.status == 400 and err.error_code == 2000 and err.error_id
    assert {e["Field"] for e in err.field_errors} >= {"InvoiceCity"}
    assert "InvoiceCity" in str(err)


def test_not_found_is_visma_error(sb: Any, ft: FakeClock, tmp_path: Path) -> None:
    client = client_for(sb, seeded_tokens(tmp_path / "tokens.json", sb), ft)
    with pytest.raises(VismaError) as ei:
        client.get("customers/00000000-0000-0000-0000-000000000000")
    assert ei.value.status == 404 and not isinstance(ei.value, VismaValidationError)


def test_missing_order_module(ft: FakeClock, tmp_path: Path) -> None:
    sandbox = start(ft, order_module=False)
    try:
        client = client_for(sandbox, seeded_tokens(tmp_path / "tokens.json", sandbox), ft)
        with pytest.raises(VismaModuleError) as ei:
            client.get("orders")
        assert ei.value.error_code == 4002
        assert 'workflow = "invoice-draft"' in ei.value.hint
    finally:
        sandbox.stop()


# -- paging and counting ------------------------------------------------------------------


def test_iter_list_pages_filters_and_counts(sb: Any, ft: FakeClock, tmp_path: Path) -> None:
    client = client_for(sb, seeded_tokens(tmp_path / "tokens.json", sb), ft)
    for i in range(7):
        client.post("/customers", customer_body(sb, i))
    got = list(client.iter_list("customers", pagesize=3))
    assert sorted(c["EmailAddress"] for c in got) == sorted(f"buyer{i}@example.com" for i in range(7))
    assert client.requests[("GET", "customers")] == 3
    one = list(client.iter_list("customers", filter="EmailAddress eq 'buyer4@example.com'", pagesize=3))
    assert [c["Name"] for c in one] == ["Buyer 4"]
    assert list(client.iter_list("customers", filter="EmailAddress eq 'nobody@example.com'")) == []
    assert client.requests[("POST", "customers")] == 7 and client.write_count == 7
    assert client.requests[("GET", "customers")] == 5


# -- secrets ------------------------------------------------------------------------------


def test_no_secret_in_errors_or_logs(ft: FakeClock, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    sandbox = start(ft, access_token_ttl=2, rate_limit_per_minute=2)
    texts: list[str] = []
    try:
        tokens = seeded_tokens(tmp_path / "tokens.json", sandbox, RecordingTokenFile)
        first_refresh = tokens.load()["visma"]["refresh_token"]
        client = client_for(sandbox, tokens, ft, max_wait=1000)
        for _ in range(4):
            client.get("units")
            ft.advance(1)
        sandbox.inject_fault("POST", "/customers", "timeout-after-commit")
        for exc_type, call in [
            (AmbiguousWriteError, lambda: client.post("customers", customer_body(sandbox, 1))),
            (VismaValidationError, lambda: client.post("customers", {"Name": "n"})),
        ]:
            with pytest.raises(exc_type) as ei:
                call()
            texts += [str(ei.value), repr(ei.value), repr(ei.value.__cause__), repr(ei.value.__context__)]
        sandbox.revoke_grant()
        ft.advance(10)
        with pytest.raises(AuthError) as ei2:
            client.get("units")
        texts += [str(ei2.value), repr(ei2.value.__context__)]
    finally:
        sandbox.stop()
    secrets_used = {SECRET, first_refresh}
    for _, values in tokens.saves:
        secrets_used |= {values["access_token"], values["refresh_token"]}
    blob = "\n".join(texts) + caplog.text + repr(client.__dict__.get("requests"))
    for s in secrets_used:
        assert s not in blob


def test_client_paces_itself_under_the_limit_and_never_meets_a_429(ft: FakeClock, tmp_path: Path) -> None:
    sandbox = start(ft, rate_limit_per_minute=5)
    try:
        client = client_for(sandbox, seeded_tokens(tmp_path / "tokens.json", sandbox), ft, jitter=0, rate_limit=5)
        for _ in range(12):
            client.get("units")
            ft.advance(1)
        statuses = [s for _, p, s in sandbox.requests if p.startswith("/v2")]
        assert statuses == [200] * 12
        assert len(ft.sleeps) == 2 and client.paced_seconds > 100  # two full windows waited out
    finally:
        sandbox.stop()


# == every reading of what Visma's docs leave open, against a scripted fake session =========
# These need no sandbox: each test scripts Visma's answers exactly, so a reading the sandbox
# does not serve (or serves differently) is still pinned down here.
API = "https://visma.test/v2"
IDENTITY = "https://identity.test"


def answer(
    status: int = 200, body: Any = None, headers: dict[str, str] | None = None, raw: bytes | None = None
) -> requests.Response:
    resp = requests.Response()
    resp.status_code = status
    resp._content = raw if raw is not None else (b"" if body is None else _json.dumps(body).encode())
    resp.headers.update(headers or {})
    resp.headers.setdefault("Content-Type", "application/json")
    resp.reason = {
        200: "OK",
        201: "Created",
        204: "No Content",
        400: "Bad Request",
        401: "Unauthorized",
        403: "Forbidden",
        404: "Not Found",
        429: "Too Many Requests",
    }.get(status, "")
    return resp


Handler = Callable[[str, str, dict[str, Any]], requests.Response]


class FakeSession(requests.Session):
    """Answers API calls from `handler(method, path, params)` (or a script of answers, the last
    one repeating) and token calls with a fresh token; records what was sent."""

    def __init__(self, handler: Handler | list[requests.Response]):
        super().__init__()
        self.handler = handler
        self.sent: list[tuple[str, str, dict[str, Any]]] = []
        self.token_posts = 0

    def request(self, method: str, url: str, *args: Any, params: Any = None, **kw: Any) -> requests.Response:  # type: ignore[override]
        path = url[len(API) :]
        self.sent.append((method, path, dict(params or {})))
        if callable(self.handler):
            return self.handler(method, path, dict(params or {}))
        return self.handler.pop(0) if len(self.handler) > 1 else self.handler[0]

    def post(self, url: str, *args: Any, **kw: Any) -> requests.Response:  # type: ignore[override]
        assert url == f"{IDENTITY}/connect/token"
        self.token_posts += 1
        return answer(
            200,
            {
                "access_token": f"access-{self.token_posts}",
                "refresh_token": f"r-{self.token_posts}",
                "expires_in": 3600,
            },
        )


class MemoryTokens:
    def __init__(self, now: float):
        self.data: dict[str, Any] = {
            "visma": {"access_token": "access-0", "refresh_token": "r-0", "expires_at": now + 3600, "expires_in": 3600}
        }

    def load(self) -> dict[str, Any]:
        return _json.loads(_json.dumps(self.data))

    def update(self, section: str, values: dict[str, Any]) -> dict[str, Any]:
        self.data[section] = {**self.data.get(section, {}), **values}
        return self.data[section]


def fake_client(
    ft: FakeClock, handler: Handler | list[requests.Response], **kw: Any
) -> tuple[VismaClient, FakeSession]:
    session = FakeSession(handler)
    kw.setdefault("jitter", 0)
    client = VismaClient(
        API, IDENTITY, "client", "secret-xyz", MemoryTokens(ft.now), session=session, sleep=ft.sleep, clock=ft, **kw
    )
    return client, session


def envelope(code: Any, message: str = "", errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "ErrorCode": code,
        "DeveloperErrorMessage": message,
        "ErrorId": "3fa7da17-eeb2-48f6-997d-0be158f4cba4",
        "Errors": errors if errors is not None else [],
    }


# -- the error envelope ------------------------------------------------------------------


def test_4002_with_empty_errors_on_orders_is_the_sales_orders_module(ft: FakeClock) -> None:
    client, _ = fake_client(
        ft, [answer(403, envelope(4002, "NoAccessToModule - The company does not have access to this module."))]
    )
    with pytest.raises(VismaModuleError) as ei:
        client.get("orders")
    err = ei.value
    assert err.exit_code == ExitCode.CONFIG == 78 and err.status == 403 and err.error_code == 4002
    assert "sales orders module" in err.message and "sales_standard" in err.message
    assert 'workflow = "invoice-draft"' in err.hint and "activate" in err.hint


def test_4002_module_on_another_endpoint_names_it(ft: FakeClock) -> None:
    client, _ = fake_client(ft, [answer(403, envelope(4002, "NoAccessToModule"))])
    with pytest.raises(VismaModuleError) as ei:
        client.get("vatcodes")
    assert "/vatcodes" in ei.value.message and ei.value.exit_code == 78
    assert "workflow" not in ei.value.hint


def test_4002_api_standard_names_the_api_module(ft: FakeClock) -> None:
    client, _ = fake_client(
        ft, [answer(403, envelope(4002, "ForbiddenRequestException - No access to module: api_standard"))]
    )
    with pytest.raises(VismaModuleError) as ei:
        client.get("customers")
    assert "api_standard" in ei.value.message and ei.value.exit_code == 78
    assert "Apps and extensions" in ei.value.hint


@pytest.mark.parametrize("inner", ["4002", 4002, None])
def test_4002_with_field_errors_is_a_refused_create(ft: FakeClock, inner: Any) -> None:
    errors = [{"Field": "Rows[0].ArticleId", "ErrorCode": inner, "Message": "The article is inactive", "Key": None}]
    client, _ = fake_client(ft, [answer(400, envelope(4002, "CanNotBeCreatedOrUpdated", errors))])
    with pytest.raises(VismaValidationError) as ei:
        client.post("customerinvoicedrafts", {"CustomerId": "c"})
    assert ei.value.exit_code == ExitCode.PARTIAL == 1
    assert "Rows[0].ArticleId" in str(ei.value) and ei.value.field_errors == errors
    assert not isinstance(ei.value, VismaModuleError)


@pytest.mark.parametrize("code", [4003, "4003", " 4003 "])
def test_startup_guide_not_completed(ft: FakeClock, code: Any) -> None:
    client, _ = fake_client(ft, [answer(403, envelope(code, "StartupGuideNotCompleted"))])
    with pytest.raises(VismaStartupGuideError) as ei:
        client.get("companysettings")
    assert ei.value.exit_code == 78 and ei.value.error_code == 4003
    assert ei.value.hint == (
        "finish the startup guide in Visma eAccounting (log in to the company in the browser), then run the sync again"
    )


def test_company_not_active(ft: FakeClock) -> None:
    client, _ = fake_client(ft, [answer(403, envelope(4004, "CompanyNotActive"))])
    with pytest.raises(VismaCompanyInactiveError) as ei:
        client.get("customers")
    assert ei.value.exit_code == 78 and "not active" in ei.value.message


@pytest.mark.parametrize("status,code", [(401, 4005), (401, None), (403, 4005)])
def test_refused_token_refreshes_once_then_asks_for_login(ft: FakeClock, status: int, code: Any) -> None:
    client, session = fake_client(ft, [answer(status, envelope(code, "AuthorizationException"))])
    with pytest.raises(VismaAuthError) as ei:
        client.get("customers")
    assert isinstance(ei.value, AuthError) and ei.value.exit_code == ExitCode.NOPERM == 77
    assert ei.value.hint == "run: shopvisma login visma"
    assert session.token_posts == 1 and len(session.sent) == 2


@pytest.mark.parametrize(
    "method,path,scopes",
    [
        ("GET", "vatcodes", ("ea:accounting", "ea:accounting_readonly")),
        ("POST", "vouchers", ("ea:accounting",)),
        ("GET", "customers", ("ea:sales", "ea:sales_readonly")),
        ("PUT", "customerinvoicedrafts/abc", ("ea:sales",)),
        ("GET", "articleaccountcodings", ("ea:sales", "ea:sales_readonly")),
    ],
)
def test_missing_scope_names_the_scope(ft: FakeClock, method: str, path: str, scopes: tuple[str, ...]) -> None:
    client, _ = fake_client(ft, [answer(403, envelope(4006, "NoAccessToScopes"))])
    with pytest.raises(VismaScopeError) as ei:
        client.request(method, path, body={} if method != "GET" else None)
    err = ei.value
    assert isinstance(err, AuthError) and err.exit_code == 77 and err.scopes == scopes
    assert scopes[-1] in err.message and "shopvisma login visma" in err.hint and scopes[0] in err.hint


def test_scopes_for_the_configuration() -> None:
    assert scopes_for("invoice-draft") == SCOPES
    assert scopes_for("order", payments=True) == (
        "ea:api",
        "offline_access",
        "ea:sales",
        "ea:accounting_readonly",
        "ea:purchase_readonly",
    )
    assert scopes_for("invoice", payouts=True) == ("ea:api", "offline_access", "ea:sales", "ea:accounting")
    assert scope_for("bankaccounts") == ("ea:purchase", "ea:purchase_readonly")
    assert scope_for("somethingnew", "POST") == ()


_STATUSES = [400, 401, 402, 403, 404, 405, 406, 408, 409, 410, 411, 412, 413, 414, 415, 418, 422, 423, 451, 499]
_BODIES: list[Any] = [
    None,
    b"<html>Bad Request</html>",
    ["not", "an", "object"],
    {"Message": "An error occurred."},
    *[
        envelope(c)
        for c in (
            None,
            2000,
            3000,
            3001,
            3002,
            3003,
            4000,
            4001,
            4002,
            4003,
            4004,
            4005,
            4006,
            9999,
            "abc",
            True,
            2000.0,
        )
    ],
    envelope(2000, errors=[{"Field": None, "ErrorCode": 2000, "Message": None}]),
    {"ErrorCode": 2000, "Errors": "not a list"},
]


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("status", _STATUSES)
def test_no_visma_answer_is_an_internal_error(ft: FakeClock, status: int, method: str) -> None:
    """Whatever 4xx Visma answers, the exit code is one the contract gives to Visma's doing."""
    for body in _BODIES:
        raw = body if isinstance(body, bytes) else None
        client, _ = fake_client(ft, [answer(status, None if raw else body, raw=raw)], max_wait=5)
        with pytest.raises(ShopvismaError) as ei:
            client.request(method, "customers", body={} if method == "POST" else None)
        assert ei.value.exit_code in (ExitCode.PARTIAL, ExitCode.UNAVAILABLE, ExitCode.NOPERM, ExitCode.CONFIG), (
            status,
            body,
            ei.value,
        )
        assert ei.value.hint or isinstance(ei.value, VismaValidationError), (status, body)


def test_malformed_success_answers_are_not_internal_errors(ft: FakeClock) -> None:
    client, _ = fake_client(ft, [answer(200, raw=b"<html>maintenance</html>")])
    with pytest.raises(UnavailableError):
        client.get("customers")
    client, _ = fake_client(ft, [answer(201, raw=b"<html>ok</html>")])
    with pytest.raises(AmbiguousWriteError):
        client.post("customers", {})


# -- 429 ---------------------------------------------------------------------------------

QUOTA = "API calls quota exceeded! maximum admitted 600 per Minute."


@pytest.mark.parametrize(
    "message,headers,wait",
    [
        (QUOTA + " Try again in 55 seconds.", {}, 55),
        (QUOTA, {"Retry-After": "30"}, 30),
        (QUOTA + " Try again in 55 seconds.", {"Retry-After": "70"}, 70),
        (QUOTA + " Try again in 55 seconds.", {"Retry-After": "10"}, 55),
        (QUOTA, {}, 60),
        ("", {"Retry-After": "garbage"}, 60),
        (QUOTA + " Try again in 2 minutes.", {}, 120),
        (QUOTA, {"Retry-After": "0"}, 1),
    ],
)
def test_429_wait_from_message_header_both_or_neither(
    ft: FakeClock, message: str, headers: dict[str, str], wait: float
) -> None:
    client, session = fake_client(ft, [answer(429, envelope(4010, message), headers), answer(200, {"Data": []})])
    assert client.get("units") == {"Data": []}
    assert ft.sleeps == [wait] and len(session.sent) == 2


def test_429_retry_after_as_http_date(ft: FakeClock) -> None:
    when = email.utils.formatdate(ft.now + 120, usegmt=True)
    client, _ = fake_client(ft, [answer(429, {"ErrorCode": 4010}, {"Retry-After": when}), answer(200, {})])
    client.get("units")
    assert len(ft.sleeps) == 1 and 119 <= ft.sleeps[0] <= 121


def test_4010_on_another_status_is_a_rate_limit_too(ft: FakeClock) -> None:
    client, _ = fake_client(ft, [answer(400, envelope(4010, QUOTA + " Try again in 12 seconds.")), answer(200, {})])
    client.get("units")
    assert ft.sleeps == [12]


def test_429_wait_cap_is_unavailable_per_client(ft: FakeClock) -> None:
    client, _ = fake_client(ft, [answer(429, envelope(4010, QUOTA + " Try again in 50 seconds."))], max_wait=120)
    with pytest.raises(UnavailableError):
        client.get("units")
    assert sum(ft.sleeps) <= 120


# -- paging ------------------------------------------------------------------------------


def paged(rows: int, *, served: int = 50, meta: str = "full", clamp: bool = False) -> Handler:
    """A list endpoint with `rows` rows that serves at most `served` a page whatever is asked."""

    def handler(method: str, path: str, params: dict[str, Any]) -> requests.Response:
        page = int(params["$page"])
        size = min(int(params["$pagesize"]), served)
        pages = max(1, -(-rows // size))
        if clamp:
            page = min(page, pages)
        data = [{"Id": f"id-{i}", "Name": f"row {i}"} for i in range((page - 1) * size, min(rows, page * size))]
        body: dict[str, Any] = {"Data": data}
        if meta == "full":
            body["Meta"] = {
                "CurrentPage": page,
                "PageSize": size,
                "TotalNumberOfPages": pages,
                "TotalNumberOfResults": rows,
                "ServerTimeUtc": "2026-01-01T00:00:00Z",
            }
        elif meta == "results":
            body["Meta"] = {"TotalNumberOfResults": rows}
        elif meta == "pages-of-asked":  # pages counted for the size asked, not the size served
            body["Meta"] = {
                "TotalNumberOfPages": max(1, -(-rows // int(params["$pagesize"]))),
                "TotalNumberOfResults": rows,
            }
        elif meta == "strings":
            body["Meta"] = {"TotalNumberOfPages": str(pages), "TotalNumberOfResults": str(rows)}
        return answer(200, body)

    return handler


@pytest.mark.parametrize(
    "meta,requests_made",
    [
        ("full", 3),
        ("results", 3),
        ("pages-of-asked", 3),
        ("strings", 3),
        ("none", 4),
    ],
)
def test_a_silently_capped_page_size_still_reads_every_row(ft: FakeClock, meta: str, requests_made: int) -> None:
    client, session = fake_client(ft, paged(120, meta=meta))
    got = list(client.iter_list("customers"))
    assert [r["Id"] for r in got] == [f"id-{i}" for i in range(120)]
    assert len(session.sent) == requests_made
    assert all(p["$pagesize"] == 1000 for _, _, p in session.sent)


def test_an_exact_multiple_of_the_page_size_without_meta_ends_on_the_empty_page(ft: FakeClock) -> None:
    client, session = fake_client(ft, paged(100, meta="none"))
    assert len(list(client.iter_list("customers"))) == 100
    assert [p["$page"] for _, _, p in session.sent] == [1, 2, 3]


def test_a_server_that_clamps_the_page_number_ends_the_list(ft: FakeClock) -> None:
    client, session = fake_client(ft, paged(120, meta="none", clamp=True))
    got = [r["Id"] for r in client.iter_list("customers")]
    assert got == [f"id-{i}" for i in range(120)] and len(session.sent) == 4


def test_an_empty_list_is_one_request(ft: FakeClock) -> None:
    client, session = fake_client(ft, paged(0))
    assert list(client.iter_list("customers")) == [] and len(session.sent) == 1


def test_paging_is_bounded(ft: FakeClock) -> None:
    client, session = fake_client(ft, paged(10**9, meta="none"), max_pages=5)
    with pytest.raises(UnavailableError, match="5 pages"):
        list(client.iter_list("customers"))
    assert len(session.sent) == 5


def test_filter_and_orderby_are_sent_on_every_page(ft: FakeClock) -> None:
    client, session = fake_client(ft, paged(60))
    list(client.iter_list("customers", filter="Name eq 'x'", orderby="Name"))
    assert [(p["$filter"], p["$orderby"]) for _, _, p in session.sent] == [("Name eq 'x'", "Name")] * 2


# -- write answers -----------------------------------------------------------------------

STORED = {"Id": "d1", "TotalAmount": 125.0, "YourReference": "#1001"}


@pytest.mark.parametrize("put_answer", [answer(204), answer(200), answer(200, {}), answer(202)])
def test_put_without_the_object_reads_it_back(ft: FakeClock, put_answer: requests.Response) -> None:
    def handler(method: str, path: str, params: dict[str, Any]) -> requests.Response:
        return put_answer if method == "PUT" else answer(200, STORED)

    client, session = fake_client(ft, handler)
    assert client.put("customerinvoicedrafts/d1", {"Rows": []}) == STORED
    assert [(m, p) for m, p, _ in session.sent] == [
        ("PUT", "/customerinvoicedrafts/d1"),
        ("GET", "/customerinvoicedrafts/d1"),
    ]


def test_put_with_the_object_does_not_read_it_back(ft: FakeClock) -> None:
    client, session = fake_client(ft, [answer(200, STORED)])
    assert client.put("customerinvoicedrafts/d1", {}) == STORED and len(session.sent) == 1


@pytest.mark.parametrize("status", [200, 201])
def test_create_answers_200_or_201(ft: FakeClock, status: int) -> None:
    client, session = fake_client(ft, [answer(status, STORED)])
    assert client.post("customerinvoicedrafts", {}) == STORED and len(session.sent) == 1


@pytest.mark.parametrize("location", [f"{API}/customerinvoicedrafts/d1", "/v2/customerinvoicedrafts/d1"])
def test_create_with_only_a_location_reads_it(ft: FakeClock, location: str) -> None:
    def handler(method: str, path: str, params: dict[str, Any]) -> requests.Response:
        return answer(201, headers={"Location": location}) if method == "POST" else answer(200, STORED)

    client, session = fake_client(ft, handler)
    assert client.post("customerinvoicedrafts", {}) == STORED
    assert session.sent[-1][:2] == ("GET", "/customerinvoicedrafts/d1")


def test_create_with_nothing_to_show_is_ambiguous(ft: FakeClock) -> None:
    """The caller then looks the object up by its natural key, as after a timeout."""
    client, _ = fake_client(ft, [answer(201)])
    with pytest.raises(AmbiguousWriteError):
        client.post("customers", {})


# -- the same readings served by the sandbox's quirks -------------------------------------


@pytest.fixture
def quirky(ft: FakeClock, tmp_path: Path) -> Iterator[Callable[..., tuple[Any, VismaClient]]]:
    pytest.importorskip("shopvisma.sandbox.visma.quirks")
    started: list[Any] = []

    def make(*quirks: str, **kw: Any) -> tuple[Any, VismaClient]:
        sandbox = start(ft, quirks=quirks)
        started.append(sandbox)
        return sandbox, client_for(
            sandbox, seeded_tokens(tmp_path / f"t{len(started)}.json", sandbox), ft, jitter=0, **kw
        )

    yield make
    for sandbox in started:
        sandbox.stop()


def test_sandbox_page_cap_and_put_204(quirky: Callable[..., tuple[Any, VismaClient]]) -> None:
    sandbox, client = quirky("page-cap-50", "put-204", "create-200")
    for i in range(120):
        client.post("customers", customer_body(sandbox, i))
    assert len({c["Id"] for c in client.iter_list("customers")}) == 120
    assert client.requests[("GET", "customers")] == 3
    customer = sandbox.customers[next(iter(sandbox.customers))]
    draft = {
        "CustomerId": customer["Id"],
        "RotReducedInvoicingType": 0,
        "EuThirdParty": False,
        "YourReference": "#1001",
        "Rows": [],
        "InvoiceCustomerName": customer["Name"],
        "InvoicePostalCode": customer["InvoicePostalCode"],
        "InvoiceCity": customer["InvoiceCity"],
        "InvoiceCountryCode": "SE",
        "CustomerIsPrivatePerson": customer["IsPrivatePerson"],
    }
    made = client.post("customerinvoicedrafts", draft)
    updated = client.put(f"customerinvoicedrafts/{made['Id']}", {**draft, "YourReference": "#1002"})
    assert updated["Id"] == made["Id"] and updated["YourReference"] == "#1002"
    assert client.requests[("GET", "customerinvoicedrafts")] == 1  # the 204 was read back


@pytest.mark.parametrize(
    "quirk,error,code",
    [
        ("startup-guide", VismaStartupGuideError, 78),
        ("no-order-module", VismaModuleError, 78),
        ("no-sales-scope", VismaScopeError, 77),
    ],
)
def test_sandbox_blocking_readings(
    quirky: Callable[..., tuple[Any, VismaClient]], quirk: str, error: type[Exception], code: int
) -> None:
    _, client = quirky(quirk)
    with pytest.raises(error) as ei:
        client.get("orders")
    assert ei.value.exit_code == code  # type: ignore[attr-defined]


def test_sandbox_refused_filter_is_a_validation_error(quirky: Callable[..., tuple[Any, VismaClient]]) -> None:
    _, client = quirky("filter-whitelist")
    with pytest.raises(VismaValidationError):
        list(client.iter_list("customers", filter="EmailAddress eq 'a@example.com'"))


@pytest.mark.parametrize("quirk", ["retry-after-only", "retry-after-header"])
def test_sandbox_retry_after_readings(ft: FakeClock, tmp_path: Path, quirk: str) -> None:
    pytest.importorskip("shopvisma.sandbox.visma.quirks")
    sandbox = VismaSandbox(clock=ft, rate_limit_per_minute=1, quirks=[quirk]).start()
    try:
        client = client_for(sandbox, seeded_tokens(tmp_path / "tokens.json", sandbox), ft, jitter=0)
        client.get("units")
        client.get("units")
        assert ft.sleeps == [60]
    finally:
        sandbox.stop()
