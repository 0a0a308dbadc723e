"""VismaClient against the loopback Visma sandbox over real HTTP.

One fake clock drives the sandbox (token expiry, rate-limit window) and the
client (token freshness, sleeps), so rotations and 429 waits are exact and
nothing really sleeps.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from shopvisma.errors import AuthError, ExitCode, UnavailableError
from shopvisma.http import make_session
from shopvisma.visma import (
    AmbiguousWriteError,
    VismaClient,
    VismaError,
    VismaModuleError,
    VismaValidationError,
    authorize_url,
    exchange_code,
)

VismaSandbox = pytest.importorskip("shopvisma.sandbox.visma").VismaSandbox
TokenFile = pytest.importorskip("shopvisma.secrets").TokenFile

SECRET = "sandbox-secret"


class FakeTime:
    def __init__(self, start: float = 1_800_000_000.0):
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


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
def ft() -> FakeTime:
    return FakeTime()


def start(ft: FakeTime, **kw: Any) -> Any:
    return VismaSandbox(clock=ft, **kw).start()


@pytest.fixture
def sb(ft: FakeTime) -> Iterator[Any]:
    sandbox = start(ft)
    try:
        yield sandbox
    finally:
        sandbox.stop()


def seeded_tokens(path: Path, sandbox: Any, cls: type = TokenFile) -> Any:
    tokens = cls(path, sandbox) if cls is RecordingTokenFile else cls(path)
    tokens.save({"visma": {"access_token": "", "refresh_token": sandbox.issue_refresh_token(), "expires_at": 0}})
    return tokens


def client_for(sandbox: Any, tokens: Any, ft: FakeTime, **kw: Any) -> VismaClient:
    kw.setdefault("session", make_session(backoff_factor=0, post_is_read_for=[sandbox.identity_url]))
    return VismaClient(sandbox.api_url, sandbox.identity_url, sandbox.client_id, SECRET, tokens,
                       sleep=ft.sleep, clock=ft, **kw)


def customer_body(sandbox: Any, i: int) -> dict[str, Any]:
    terms = next(iter(sandbox.terms_of_payments))
    return {"Name": f"Buyer {i}", "EmailAddress": f"buyer{i}@example.com", "InvoiceCity": "Lund",
            "InvoicePostalCode": "22100", "IsPrivatePerson": True, "IsActive": True, "TermsOfPaymentId": terms}


# -- tokens --------------------------------------------------------------------------

def test_rotation_with_two_second_tokens(ft: FakeTime, tmp_path: Path) -> None:
    sandbox = start(ft, access_token_ttl=2)
    try:
        tokens = seeded_tokens(tmp_path / "tokens.json", sandbox, RecordingTokenFile)
        client = client_for(sandbox, tokens, ft)
        seen_refresh: list[str] = []
        for _ in range(12):
            client.get("termsofpayments")
            ft.now += 0.9
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


def test_fresh_token_is_not_refreshed(sb: Any, ft: FakeTime, tmp_path: Path) -> None:
    tokens = seeded_tokens(tmp_path / "tokens.json", sb)
    client = client_for(sb, tokens, ft)
    for _ in range(5):
        client.get("units")
    assert client.token_requests == 1
    # A second client (e.g. the next cron run) picks up the stored token without refreshing.
    other = client_for(sb, tokens, ft)
    other.get("units")
    assert other.token_requests == 0


def test_rotation_by_one_client_is_seen_by_another(ft: FakeTime, tmp_path: Path) -> None:
    sandbox = start(ft, access_token_ttl=2)
    try:
        tokens = seeded_tokens(tmp_path / "tokens.json", sandbox)
        a, b = client_for(sandbox, tokens, ft), client_for(sandbox, tokens, ft)
        for _ in range(4):
            a.get("units")
            b.get("units")
            ft.now += 1.9
        assert not [r for r in sandbox.requests if r[2] in (400, 401)]
    finally:
        sandbox.stop()


def test_server_side_expiry_401_refreshes_once(ft: FakeTime, tmp_path: Path) -> None:
    server_clock = FakeTime()
    sandbox = VismaSandbox(clock=server_clock, access_token_ttl=100).start()
    try:
        tokens = seeded_tokens(tmp_path / "tokens.json", sandbox)
        client = client_for(sandbox, tokens, ft)
        client.get("units")
        server_clock.now += 500  # the server thinks the token expired; the client does not
        client.get("units")
        statuses = [s for _, p, s in sandbox.requests if p.startswith("/v2")]
        assert statuses == [200, 401, 200]
        assert client.token_requests == 2
    finally:
        sandbox.stop()


def test_revoked_grant_is_auth_error(sb: Any, ft: FakeTime, tmp_path: Path) -> None:
    tokens = seeded_tokens(tmp_path / "tokens.json", sb)
    client = client_for(sb, tokens, ft)
    client.get("units")
    sb.revoke_grant()
    ft.now += 4000  # the access token expired: a refresh is needed and refused
    with pytest.raises(AuthError) as ei:
        client.get("units")
    assert ei.value.message == "Visma grant is missing or revoked"
    assert ei.value.hint == "run: shopvisma login visma"
    assert ei.value.exit_code == ExitCode.NOPERM


def test_missing_refresh_token_is_auth_error(sb: Any, ft: FakeTime, tmp_path: Path) -> None:
    client = client_for(sb, TokenFile(tmp_path / "none.json"), ft)
    with pytest.raises(AuthError, match="missing or revoked"):
        client.get("units")
    assert client.requests.total() == 0


def test_wrong_client_secret(sb: Any, ft: FakeTime, tmp_path: Path) -> None:
    tokens = seeded_tokens(tmp_path / "tokens.json", sb)
    client = VismaClient(sb.api_url, sb.identity_url, sb.client_id, "not-the-secret-xyz", tokens, clock=ft)
    with pytest.raises(AuthError) as ei:
        client.get("units")
    assert "not-the-secret-xyz" not in str(ei.value)


def test_authorize_url_and_exchange_code(sb: Any, ft: FakeTime, tmp_path: Path) -> None:
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

def test_429_storm_waits_what_the_message_says(ft: FakeTime, tmp_path: Path) -> None:
    sandbox = start(ft, rate_limit_per_minute=3)
    try:
        client = client_for(sandbox, seeded_tokens(tmp_path / "tokens.json", sandbox), ft, jitter=0)
        for _ in range(10):
            client.get("units")
            ft.now += 5
        statuses = [s for _, p, s in sandbox.requests if p.startswith("/v2")]
        assert statuses.count(429) >= 2
        assert "429, 429" not in ", ".join(map(str, statuses))  # never hammered
        # the sandbox's message says ceil(oldest + 60 - now): calls at t, t+5, t+10, then 429 at t+15
        assert ft.sleeps[0] == 45
        assert all(s == int(s) for s in ft.sleeps)
        assert statuses.count(200) == 10
    finally:
        sandbox.stop()


def test_429_jitter_is_small(ft: FakeTime, tmp_path: Path) -> None:
    sandbox = start(ft, rate_limit_per_minute=1)
    try:
        client = client_for(sandbox, seeded_tokens(tmp_path / "tokens.json", sandbox), ft)
        client.get("units")
        client.get("units")
        assert len(ft.sleeps) == 1 and 60 <= ft.sleeps[0] <= 60.5
    finally:
        sandbox.stop()


def test_429_wait_cap_ends_unavailable(ft: FakeTime, tmp_path: Path) -> None:
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


def test_429_on_a_write_is_retried_once_refused(sb: Any, ft: FakeTime, tmp_path: Path) -> None:
    client = client_for(sb, seeded_tokens(tmp_path / "tokens.json", sb), ft, jitter=0)
    sb.inject_fault("POST", "/customers", "429")
    created = client.post("customers", customer_body(sb, 1))
    assert ft.sleeps == [60]  # the injected quota message says 60 seconds
    assert list(sb.customers) == [created["Id"]]
    assert client.write_count == 2 and client.requests[("POST", "customers")] == 2


# -- writes and errors -------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["timeout-after-commit", "500-after-commit", "500"])
def test_ambiguous_write_is_not_retried(sb: Any, ft: FakeTime, tmp_path: Path, kind: str) -> None:
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


def test_get_500_is_retried(sb: Any, ft: FakeTime, tmp_path: Path) -> None:
    client = client_for(sb, seeded_tokens(tmp_path / "tokens.json", sb), ft)
    sb.inject_fault("GET", "/units", "500", times=2)
    assert client.get("units")["Data"]
    statuses = [s for _, p, s in sb.requests if p.startswith("/v2/units")]
    assert statuses == [500, 500, 200]


def test_get_500_persisting_is_unavailable(sb: Any, ft: FakeTime, tmp_path: Path) -> None:
    client = client_for(sb, seeded_tokens(tmp_path / "tokens.json", sb), ft)
    sb.inject_fault("GET", "/units", "500", times=20)
    with pytest.raises(UnavailableError):
        client.get("units")


def test_validation_error_is_typed(sb: Any, ft: FakeTime, tmp_path: Path) -> None:
    client = client_for(sb, seeded_tokens(tmp_path / "tokens.json", sb), ft)
    with pytest.raises(VismaValidationError) as ei:
        client.post("customers", {"Name": "x" * 80, "IsActive": True})
    err = ei.value
    assert err.status == 400 and err.error_code == 2000 and err.error_id
    assert {e["Field"] for e in err.field_errors} >= {"InvoiceCity"}
    assert "InvoiceCity" in str(err)


def test_not_found_is_visma_error(sb: Any, ft: FakeTime, tmp_path: Path) -> None:
    client = client_for(sb, seeded_tokens(tmp_path / "tokens.json", sb), ft)
    with pytest.raises(VismaError) as ei:
        client.get("customers/00000000-0000-0000-0000-000000000000")
    assert ei.value.status == 404 and not isinstance(ei.value, VismaValidationError)


def test_missing_order_module(ft: FakeTime, tmp_path: Path) -> None:
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

def test_iter_list_pages_filters_and_counts(sb: Any, ft: FakeTime, tmp_path: Path) -> None:
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

def test_no_secret_in_errors_or_logs(ft: FakeTime, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    sandbox = start(ft, access_token_ttl=2, rate_limit_per_minute=2)
    texts: list[str] = []
    try:
        tokens = seeded_tokens(tmp_path / "tokens.json", sandbox, RecordingTokenFile)
        first_refresh = tokens.load()["visma"]["refresh_token"]
        client = client_for(sandbox, tokens, ft, max_wait=1000)
        for i in range(4):
            client.get("units")
            ft.now += 1
        sandbox.inject_fault("POST", "/customers", "timeout-after-commit")
        for exc_type, call in [
            (AmbiguousWriteError, lambda: client.post("customers", customer_body(sandbox, 1))),
            (VismaValidationError, lambda: client.post("customers", {"Name": "n"})),
        ]:
            with pytest.raises(exc_type) as ei:
                call()
            texts += [str(ei.value), repr(ei.value), repr(ei.value.__cause__), repr(ei.value.__context__)]
        sandbox.revoke_grant()
        ft.now += 10
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


def test_client_paces_itself_under_the_limit_and_never_meets_a_429(ft: FakeTime, tmp_path: Path) -> None:
    sandbox = start(ft, rate_limit_per_minute=5)
    try:
        client = client_for(sandbox, seeded_tokens(tmp_path / "tokens.json", sandbox), ft, jitter=0, rate_limit=5)
        for _ in range(12):
            client.get("units")
            ft.now += 1
        statuses = [s for _, p, s in sandbox.requests if p.startswith("/v2")]
        assert statuses == [200] * 12
        assert len(ft.sleeps) == 2 and client.paced_seconds > 100  # two full windows waited out
    finally:
        sandbox.stop()
