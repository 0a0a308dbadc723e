"""A loopback emulator of Visma eAccounting API v2 and its identity server.

Tests, `shopvisma demo` and `shopvisma sandbox` point the real client at it. It keeps the
parts of Visma's behaviour that break integrations: rotating refresh tokens, expiring
access tokens, per-endpoint rate limits, scopes, the error envelope, strict
required fields and max lengths (from schema.json, extracted from Visma's specs),
server-computed VAT and totals, and faults injected after a write was committed.
See docs/sandbox-visma.md for what is approximate. Where Visma's docs leave a behaviour
open, `quirks` (visma_quirks.py) switches the emulator to another plausible reading, so the
product's suite can run under each (docs/sandbox.md, "Readings").

Fault hooks for the reliability suite (tests/faults/test_faults.py): `on_commit` runs after a
write is saved and before its answer is sent (a test SIGKILLs the client there), a
"hang" fault holds a request until `release()`, `latency` slows every request (long
passes outlive short access tokens; bench/ adds a network's round trip), and
`issued_secrets()` lists every token and code handed out so a test can grep the client's
output for them.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from shopvisma.sandbox.visma.identity import Answer as _Answer
from shopvisma.sandbox.visma.identity import Identity, missing_scope
from shopvisma.sandbox.visma.invoicing import add_bank_account, book_draft
from shopvisma.sandbox.visma.invoicing import route as route_invoicing
from shopvisma.sandbox.visma.model import ApiError, Json, field_error, parse_body, scalar_properties, validation_error
from shopvisma.sandbox.visma.quirks import (
    QuirkSet,
    RateLimiter,
    envelope,
    list_page,
    present,
    quota_answer,
    served_status,
)
from shopvisma.sandbox.visma.records import (
    INVOICE_FIELDS,
    State,
    create_article,
    create_customer,
    find,
    not_found,
    save_draft,
    save_order,
)

FAULT_KINDS = ("500", "timeout-after-commit", "500-after-commit", "429", "hang", "400", "garbage")
HANG_TIMEOUT = 30.0  # a held request goes on by itself after this, so a forgotten release() cannot wedge a test


@dataclass
class _Fault:
    method: str
    path_prefix: str
    kind: str
    times: int


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)  # the HTTP boundary: JSON numbers, as Visma's doubles
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


class VismaSandbox:
    """In-process Visma eAccounting v2 + identity server over loopback HTTP."""

    def __init__(
        self,
        *,
        client_id: str = "sandbox-client",
        client_secret: str = "sandbox-secret",
        access_token_ttl: float = 3600.0,
        rate_limit_per_minute: int | None = None,
        order_module: bool = True,
        show_prices_excl_vat_pc: bool = False,
        company_currency: str = "SEK",
        clock: Callable[[], float] = time.time,
        quirks: Iterable[str] = (),
        latency_seconds: float = 0.0,
    ) -> None:
        """latency_seconds: added to every request (API, identity, 429 answers) before it is
        handled, as a network round trip would; `latency` can be changed while running."""
        self.client_id, self.client_secret = client_id, client_secret
        self.access_token_ttl = access_token_ttl
        self.rate_limit_per_minute = rate_limit_per_minute
        self.clock = clock
        self._lock = threading.RLock()
        # One live set, shared with the company state and the identity server (see `quirks`).
        self._quirks = QuirkSet(quirks)
        if not order_module:
            self._quirks.add("no-order-module")
        self._state = State(company_currency, show_prices_excl_vat_pc, self._quirks)
        from shopvisma.sandbox.visma.ledger import Ledger

        self.ledger = Ledger()  # fiscal years, chart of accounts, vouchers (ledger.py)
        s = self._state
        self.customers, self.articles, self.drafts = s.customers, s.articles, s.drafts
        self.orders, self.invoices, self.units = s.orders, s.invoices, s.units
        self.codings, self.vatcodes, self.terms_of_payments = s.codings, s.vatcodes, s.terms_of_payments
        self.company_settings = s.company_settings
        # Bank accounts (seeded: 1930, 1940, 1580, an inactive 1920), accepted invoice payments
        # (Visma has no GET for them: tests read this list), and the stand-in currency rates.
        self.bank_accounts, self.payments, self.currency_rates = s.bank_accounts, s.payments, s.currency_rates
        self.requests: list[tuple[str, str, int]] = []
        self._identity = Identity(client_id, client_secret, access_token_ttl, clock, self._quirks)
        self._faults: list[_Fault] = []
        # Called as on_commit(method, path, answer_body) after a write is saved, before the answer goes out.
        self.on_commit: Callable[[str, str, Json], None] | None = None
        # (method, endpoint, body) of the last accepted writes, for the contract test
        self.accepted: deque[tuple[str, str, Json]] = deque(maxlen=5000)
        self.latency = float(latency_seconds)  # seconds added to every request (outside the lock)
        self._inflight = 0  # requests being handled (writes() waits for them)
        self.max_inflight = 0  # the most handled at once: shows a client's [sync] concurrency
        self.hanging = threading.Event()  # set once a request is held by a "hang" fault
        self._release = threading.Event()
        self._issued: list[str] = []  # every access/refresh token and authorization code handed out
        self._limiter = RateLimiter(clock)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.api_url = self.identity_url = ""

    @property
    def quirks(self) -> QuirkSet:
        """The readings served now (visma_quirks.QUIRKS); add or remove names at any time."""
        return self._quirks

    @quirks.setter
    def quirks(self, names: Iterable[str]) -> None:
        wanted = QuirkSet(names)  # check every name before changing anything
        self._quirks.clear()
        self._quirks.update(wanted)

    # ------------------------------------------------------------------ lifecycle
    def _bind(self, host: str, port: int) -> ThreadingHTTPServer:
        sandbox = self

        class Handler(_Handler):
            pass

        Handler.sandbox = sandbox
        server = ThreadingHTTPServer((host, port), Handler)
        server.daemon_threads = True
        bound_port = server.server_address[1]
        self.api_url = f"http://{host}:{bound_port}/v2"
        self.identity_url = f"http://{host}:{bound_port}/identity"
        self._server = server
        return server

    def start(self, host: str = "127.0.0.1", port: int = 0) -> VismaSandbox:
        server = self._bind(host, port)
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="visma-sandbox", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(
        self, host: str = "127.0.0.1", port: int = 0, ready: Callable[[VismaSandbox], None] | None = None
    ) -> None:
        """Foreground mode for `shopvisma sandbox`; `ready` is called once the port is bound."""
        server = self._bind(host, port)
        if ready is not None:
            ready(self)
        try:
            server.serve_forever()
        finally:
            server.server_close()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> VismaSandbox:
        return self.start() if self._server is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ test controls
    def writes(self) -> int:
        """Accepted /v2 writes. Waits (up to 2 s) for requests still being handled: a client
        SIGKILLed from `on_commit` dies before its request is logged, and a test reading this
        the moment it died would miss that write."""
        deadline = time.monotonic() + 2.0
        while self._inflight and time.monotonic() < deadline:
            time.sleep(0.005)
        with self._lock:
            return sum(
                1
                for m, p, s in self.requests
                if m in ("POST", "PUT", "DELETE") and p.startswith("/v2") and 200 <= s < 300
            )

    def issue_refresh_token(self) -> str:
        return self._identity.issue_refresh_token()

    def revoke_grant(self) -> None:
        self._identity.revoke_grant()

    def approve_draft(self, draft_id: str) -> Json:
        """A user booking the draft in Visma's UI: the same invoice as POST .../convert."""
        with self._lock:
            try:
                return book_draft(self._state, draft_id, self.clock())
            except ApiError as exc:
                raise KeyError(draft_id) from exc

    def add_bank_account(self, name: str, ledger_account_number: int, bank_account_type: int = 1, **extra: Any) -> Json:
        """A company bank account (extra: is_active, is_default_cheque_account, currency_code)."""
        with self._lock:
            return add_bank_account(
                self._state, name, ledger_account_number, bank_account_type, now=self.clock(), **extra
            )

    def release(self) -> None:
        """Let every request held by a "hang" fault (now or later) go on."""
        self._release.set()

    def issued_secrets(self) -> list[str]:
        """Every token and authorization code the identity server handed out, for leak greps."""
        with self._lock:
            return list(self._issued)

    def grant_refusals(self) -> int:
        """Token requests refused with 400 (invalid_grant: a voided or revoked refresh token)."""
        with self._lock:
            return sum(1 for m, p, s in self.requests if p == "/identity/connect/token" and s == 400)

    def inject_fault(self, method: str, path_prefix: str, kind: str, times: int = 1) -> None:
        """Kinds: "500"/"429"/"400" answer instead of the API; "garbage" answers 200 with a
        body of the wrong shape; "hang" holds the request until release(); "timeout-after-commit"
        and "500-after-commit" save the write, then hang up or answer 500."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; use one of {FAULT_KINDS}")
        with self._lock:
            self._faults.append(_Fault(method.upper(), path_prefix, kind, times))

    # ------------------------------------------------------------------ dispatch
    def handle(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> _Answer:
        with self._lock:
            self._inflight += 1
            self.max_inflight = max(self.max_inflight, self._inflight)
        try:
            return self._handle(method, target, headers, raw)
        finally:
            with self._lock:
                self._inflight -= 1

    def _handle(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> _Answer:
        if self.latency:
            time.sleep(self.latency)
        parts = urlsplit(target)
        path, query = parts.path, {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        if path.startswith("/identity/"):
            answer = self._identity.handle(method, path, query, headers, raw)
        elif path == "/v2" or path.startswith("/v2/"):
            answer = self._api(method, path, query, headers, raw)
        else:
            answer = _Answer(404, self._envelope(ApiError(404, 3000, "No resource matches the request URI.")))
        with self._lock:
            self.requests.append((method, path, 0 if answer.hang_up else answer.status))
            if path.startswith("/identity/") and answer.status in (200, 302):
                body = answer.body if isinstance(answer.body, dict) else {}
                self._issued += [str(body[k]) for k in ("access_token", "refresh_token") if body.get(k)]
                location = (answer.headers or {}).get("Location", "")
                self._issued += [
                    code for k, codes in parse_qs(urlsplit(location).query).items() if k == "code" for code in codes
                ]
        return answer

    def _take_fault(self, method: str, path: str, after_commit: bool) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.method != method or fault.kind.endswith("after-commit") != after_commit:
                    continue
                if any(p.startswith(fault.path_prefix) for p in (path, path[len("/v2") :], path[len("/v2/") :])):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def _envelope(self, err: ApiError) -> Json:
        return envelope(err, self._quirks)

    def _quota(self, wait: int) -> _Answer:
        body, headers = quota_answer(self.rate_limit_per_minute or 600, wait, self._quirks)
        return _Answer(429, body, headers)

    # ------------------------------------------------------------------ API
    def _api(self, method: str, path: str, query: dict[str, str], headers: dict[str, str], raw: bytes) -> _Answer:
        segments = [s for s in path[len("/v2") :].split("/") if s]
        endpoint = segments[0].lower() if segments else ""
        wait = self._limiter.wait(endpoint, self.rate_limit_per_minute) if self.rate_limit_per_minute else None
        if wait is not None:
            return self._quota(wait)
        fault = self._take_fault(method, path, after_commit=False)
        if fault is not None and fault.kind == "hang":
            self.hanging.set()
            self._release.wait(HANG_TIMEOUT)
        elif fault is not None:
            if fault.kind == "429":
                return self._quota(60)
            if fault.kind == "400":
                return _Answer(
                    400,
                    self._envelope(
                        validation_error(
                            [field_error("Rows[0].Text", "Injected fault: the field is not valid.", "Invalid")]
                        )
                    ),
                )
            if fault.kind == "garbage":
                return _Answer(200, ["not", "what", "the", "spec", "says"])
            return _Answer(500, self._envelope(ApiError(500, 1000, "Injected fault: internal server error.")))
        try:
            self._admit(method, endpoint, headers, segments[2].lower() if len(segments) > 2 else None)
            answer = self._route(method, endpoint, segments[1:], query, raw)
        except ApiError as err:
            extra = {"WWW-Authenticate": "Bearer"} if err.status == 401 else None
            return _Answer(err.status, self._envelope(err), extra)
        if 200 <= answer.status < 300 and method in ("POST", "PUT", "DELETE"):
            if raw.strip():  # every body the emulator accepted, for the contract test
                self.accepted.append((method, endpoint, json.loads(raw.decode("utf-8"), parse_float=Decimal)))
            if self.on_commit is not None:
                self.on_commit(method, path, answer.body if isinstance(answer.body, dict) else {})
            fault = self._take_fault(method, path, after_commit=True)
            if fault is not None and fault.kind == "timeout-after-commit":
                return _Answer(answer.status, hang_up=True)
            if fault is not None:
                return _Answer(500, self._envelope(ApiError(500, 1000, "Injected fault after the write was saved.")))
        status, keep_body = served_status(method, answer.status, self._quirks)
        return answer if status == answer.status else _Answer(status, answer.body if keep_body else None)

    def _admit(self, method: str, endpoint: str, headers: dict[str, str], action: str | None = None) -> None:
        """Refusals before a call runs, in an ASP.NET pipeline's order: the bearer token (401),
        its scopes (an authorization policy: 403 / 4006), then the company (startup guide
        403 / 4003, module 403 / 4002; Visma's 403 bodies carry `Errors: []`)."""
        auth = headers.get("authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        granted = self._identity.token_scopes(token)
        if granted is None:
            raise ApiError(401, 4005, "AuthorizationException - Authorization has been denied for this request.")
        lacking = missing_scope(endpoint, method, granted, action)
        if lacking is not None:
            raise ApiError(
                403,
                4006,
                "NoAccessToScopes - The access token lacks a scope this endpoint requires "
                f"(any of: {', '.join(lacking)}).",
                [],
            )
        if "startup-guide" in self._quirks:
            raise ApiError(403, 4003, "StartupGuideNotCompleted - The startup guide has not been completed.", [])
        if endpoint == "orders" and not self._state.order_module:
            raise ApiError(403, 4002, "NoAccessToModule - The company does not have access to this module.", [])

    def _tables(self, endpoint: str) -> tuple[dict[str, Json], list[str] | tuple[str, ...]] | None:
        s = self._state
        seeded = {
            "units": s.units,
            "articleaccountcodings": s.codings,
            "vatcodes": s.vatcodes,
            "termsofpayments": s.terms_of_payments,
        }
        if endpoint in seeded:
            table = seeded[endpoint]
            return table, list(next(iter(table.values())).keys())
        typed = {
            "customers": (s.customers, "CustomerApi"),
            "articles": (s.articles, "ArticleApi"),
            "customerinvoicedrafts": (s.drafts, "CustomerInvoiceDraftApi"),
            "orders": (s.orders, "OrderApi"),
            "bankaccounts": (s.bank_accounts, "BankAccountApi"),
        }
        if endpoint in typed:
            table, schema_name = typed[endpoint]
            return table, scalar_properties(schema_name)
        if endpoint == "customerinvoices":
            return s.invoices, INVOICE_FIELDS
        return None

    def _route(self, method: str, endpoint: str, rest: list[str], query: dict[str, str], raw: bytes) -> _Answer:
        from shopvisma.sandbox.visma.ledger import ENDPOINTS as LEDGER_ENDPOINTS

        if endpoint in LEDGER_ENDPOINTS:
            with self._lock:
                return self.ledger.route(method, endpoint, rest, query, raw, self._quirks, self.clock())
        if endpoint == "companysettings" and not rest and method == "GET":
            with self._lock:
                return _Answer(200, self._state.settings())
        with self._lock:
            handled = route_invoicing(self._state, method, endpoint, rest, query, raw, self.clock())
        if handled is not None:
            return _Answer(*handled)
        tables = self._tables(endpoint)
        if tables is None or len(rest) > 1:
            raise ApiError(404, 3000, "No resource matches the request URI.")
        table, properties = tables
        if method == "GET":
            with self._lock:
                if rest:
                    record = find(table, rest[0])
                    if record is None:
                        raise not_found(rest[0])
                    return _Answer(200, copy.deepcopy(present(endpoint, record, self._quirks)))
                page = list_page(endpoint, list(table.values()), properties, query, self._quirks, self.clock())
                return _Answer(200, copy.deepcopy(page))
        writers: dict[str, Callable[..., Json]] = {
            "customers": create_customer,
            "articles": create_article,
            "customerinvoicedrafts": save_draft,
            "orders": save_order,
        }
        writer = writers.get(endpoint)
        if writer is None or (rest and endpoint in ("customers", "articles")):
            raise ApiError(405, 1000, f"The requested resource does not support http method '{method}'.")
        if method == "DELETE" and rest:
            with self._lock:
                record = find(table, rest[0])
                if record is None:
                    raise not_found(rest[0])
                del table[record["Id"]]
            return _Answer(204)
        if (method == "POST" and rest) or (method == "PUT" and not rest) or method not in ("POST", "PUT"):
            raise ApiError(405, 1000, f"The requested resource does not support http method '{method}'.")
        body = parse_body(raw)
        with self._lock:
            if rest:
                saved = writer(self._state, body, self.clock(), rest[0])
                return _Answer(200, copy.deepcopy(present(endpoint, saved, self._quirks)))
            saved = writer(self._state, body, self.clock())
            return _Answer(201, copy.deepcopy(present(endpoint, saved, self._quirks)))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes; avoid 40 ms delayed-ACK stalls
    sandbox: VismaSandbox

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        answer = self.sandbox.handle(self.command, self.path, headers, raw)
        if answer.hang_up:
            self.close_connection = True
            return
        payload = b"" if answer.body is None else json.dumps(answer.body, default=_json_default).encode()
        try:
            self.send_response(answer.status)
            if answer.body is not None:
                self.send_header("Content-Type", "application/json; charset=utf-8")
            for name, value in (answer.headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client died (a fault test killed it): nobody to answer

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve  # noqa: N815 - http.server names them

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Silent: the sandbox records requests in VismaSandbox.requests instead."""
