"""A loopback emulator of the Shopify Admin GraphQL API (orders only), for tests, the benchmark and `demo`.

It executes the product's real documents with graphql-core against a subset of the
published 2025-01 schema (schema.graphql), so a field Shopify does not have is
rejected here too. Orders are stored in the GraphQL response shape of `Order`; connections
are plain lists, wrapped into `{nodes, edges, pageInfo}` when served. Cost, the leaky
bucket, auth (static token and client-credentials grant) and injected faults behave like
Shopify as far as docs/sandbox-shopify.md says.
"""

from __future__ import annotations

import copy
import json
import re
import secrets
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from graphql import GraphQLError, build_schema, execute_sync, parse, validate
from graphql.language import FragmentDefinitionNode, OperationDefinitionNode

from shopvisma.sandbox.shopify.bulk import RESULT_PATH as BULK_RESULT_PATH
from shopvisma.sandbox.shopify.bulk import BulkState, install_bulk_resolvers, operation_cost, serve_result
from shopvisma.sandbox.shopify.graphql import coerce_variables, graphql_error_json, install_resolvers
from shopvisma.sandbox.shopify.mutations import install_mutation_resolvers, take_fault
from shopvisma.sandbox.shopify.search import to_instant
from shopvisma.sandbox.shopify.transactions import SANDBOX_TXN_BASE, complete, link, refund_transactions

SCHEMA_PATH = Path(__file__).with_name("schema.graphql")
MAX_QUERY_COST = 1000
INVALID_TOKEN = "[API] Invalid API key or access token (unrecognized login or wrong password)"
RATE_LIMIT_DOCS = "https://shopify.dev/api/usage/rate-limits"
DEFAULT_SCOPES = ("read_orders", "write_orders", "read_customers", "read_products")  # the static token's
CLIENT_SCOPES = ("read_orders", "read_customers", "read_products")  # what the client-credentials grant reports
FAULTS = ("500", "throttle", "401", "bulk_failed", "500_after")
_SCHEMA_LOCK = threading.Lock()
_SCHEMA: Any = None
_CHECKED: dict[str, tuple[Any, list[dict[str, Any]]]] = {}  # query text -> (document, validation errors)


def load_schema() -> Any:
    """The executable subset schema, built once per process (building it takes ~50 ms)."""
    global _SCHEMA
    with _SCHEMA_LOCK:
        if _SCHEMA is None:
            from shopvisma.sandbox.shopify.payouts import install_payout_resolvers

            payouts_sdl = SCHEMA_PATH.with_name("payouts.graphql").read_text(encoding="utf-8")
            schema = build_schema(SCHEMA_PATH.read_text(encoding="utf-8") + "\n" + payouts_sdl)
            install_resolvers(schema)
            install_bulk_resolvers(schema)
            install_mutation_resolvers(schema)
            install_payout_resolvers(schema)
            _SCHEMA = schema
        return _SCHEMA


def iso(t: float) -> str:
    return datetime.fromtimestamp(int(t), tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _later(previous: str | None, now: float) -> str:
    """`now`, but strictly after `previous`: an update must be visible to `updated_at:>` polling."""
    prev = to_instant(previous)
    t = datetime.fromtimestamp(int(now), tz=timezone.utc)
    if prev is not None and t <= prev:
        t = prev + timedelta(seconds=1)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _zero_bag(currency: str, presentment: str) -> dict[str, Any]:
    return {
        "shopMoney": {"amount": "0.0", "currencyCode": currency},
        "presentmentMoney": {"amount": "0.0", "currencyCode": presentment},
    }


def normalize_order(order: dict[str, Any]) -> dict[str, Any]:
    """Fill the non-null fields a sparse order (e.g. a captured real one) may lack."""
    o = copy.deepcopy(order)
    gid = o["id"]
    o.setdefault("legacyResourceId", gid.rsplit("/", 1)[-1])
    o.setdefault("createdAt", o.get("processedAt") or "2026-01-01T00:00:00Z")
    o.setdefault("updatedAt", o["createdAt"])
    o.setdefault("processedAt", o["createdAt"])
    o.setdefault("test", False)
    o.setdefault("closed", bool(o.get("closedAt")))
    o.setdefault("displayFulfillmentStatus", "UNFULFILLED")
    for key in ("tags", "discountCodes", "lineItems", "shippingLines", "refunds"):
        o.setdefault(key, [])
    cur = o.get("currencyCode") or (o.get("totalPriceSet") or {}).get("shopMoney", {}).get("currencyCode", "USD")
    pres = o.get("presentmentCurrencyCode") or (o.get("totalPriceSet") or {}).get("presentmentMoney", {}).get(
        "currencyCode", cur
    )
    o.setdefault("currencyCode", cur)
    o.setdefault("presentmentCurrencyCode", pres)
    o.setdefault("taxesIncluded", False)
    for key in ("totalPriceSet", "totalShippingPriceSet", "totalTipReceivedSet", "totalRefundedSet"):
        o.setdefault(key, _zero_bag(cur, pres))
    if o["refunds"]:  # Shopify keeps totalRefundedSet equal to the refunds' sum
        o["totalRefundedSet"] = {
            side: {
                "amount": str(sum((Decimal(r["totalRefundedSet"][side]["amount"]) for r in o["refunds"]), Decimal(0))),
                "currencyCode": code,
            }
            for side, code in (("shopMoney", cur), ("presentmentMoney", pres))
        }
    for li in o["lineItems"]:
        li.setdefault("discountAllocations", [])
        li.setdefault("taxLines", [])
        li.setdefault("taxable", bool(li["taxLines"]))
        li.setdefault("isGiftCard", False)
        li.setdefault("requiresShipping", True)
        li.setdefault("currentQuantity", li.get("quantity", 0))
        li.setdefault("name", li.get("title", ""))
    for sl in o["shippingLines"]:
        sl.setdefault("taxLines", [])
        sl.setdefault("discountedPriceSet", sl.get("originalPriceSet"))
    link(o)  # transactions: refunds' ones listed on the order too, parents linked
    return o


class ShopifySandbox:
    """An in-process Shopify Admin API (orders, cost, throttling, auth) on a loopback port."""

    def __init__(
        self,
        *,
        orders: list[dict] | None = None,
        access_token: str = "shpat_sandbox",
        client_id: str = "sandbox-shopify-client",
        client_secret: str = "sandbox-shopify-secret",
        client_token_ttl: float = 86399,
        bucket_size: float = 1000.0,
        restore_rate: float = 100.0,
        api_version: str = "2025-07",
        clock: Callable[[], float] = time.time,
        bulk_seconds: float = 0.0,
        scopes: Iterable[str] = DEFAULT_SCOPES,
        client_scopes: Iterable[str] = CLIENT_SCOPES,
        search_lag_seconds: float = 0.0,
        latency_seconds: float = 0.0,
    ) -> None:
        """latency_seconds: added to every request before it is answered (a network round
        trip; `latency` can be changed while running).
        search_lag_seconds: every order's update is visible to `orders(query:)` searches
        this long after its `updatedAt` (on `clock`); until then a search matches and sorts
        the version it saw before (a new order: not at all), as Shopify's search index lags
        writes. make_late() does it for one order's latest update.
        scopes: what the static `access_token` may do (default: read and write orders);
        client_scopes: what a client-credentials token gets (default read-only, as the grant
        has always reported). add_access_token() makes more static tokens, e.g. without
        write_orders to see the ACCESS_DENIED answer."""
        self.access_token = access_token
        self.scopes = frozenset(scopes)
        self.client_scopes = tuple(client_scopes)
        self.token_scopes: dict[str, frozenset[str]] = {}  # further static tokens
        self.mutation_faults: list[str] = []  # faults only a mutation request consumes
        self.metafield_seq = 0
        self._txn_seq = 0
        self.client_id = client_id
        self.client_secret = client_secret
        self.client_token_ttl = client_token_ttl
        self.bucket_size = float(bucket_size)
        self.restore_rate = float(restore_rate)
        self.api_version = api_version
        self.clock = clock
        self.orders: dict[str, dict] = {}
        self.search_lag_seconds = float(search_lag_seconds)
        self.latency = float(latency_seconds)  # seconds added to every request (outside the lock)
        self._late: dict[str, tuple[str, float]] = {}  # gid -> (updatedAt of the late version, seconds)
        self._indexed: dict[str, dict] = {}  # gid -> the version searches still see (shallow copy)
        self.requests: list[dict] = []
        self.token_requests: list[dict] = []
        self.client_tokens: dict[str, float] = {}  # token -> expiry on self.clock
        self.faults: list[str] = []
        self.bulk = BulkState(seconds=bulk_seconds)  # bulk query operations (shopify_bulk.py)
        from shopvisma.sandbox.shopify.payouts import PayoutStore

        self.payouts = PayoutStore()  # Shopify Payments: payouts and balance transactions (payouts.py)
        self.bulk_downloads: list[dict] = []  # [{"id", "status", "bytes"}] per GET of a bulk result URL
        self.lock = threading.RLock()
        self._available = self.bucket_size
        self._bucket_at = clock()
        self._token_seq = 0
        self._refund_seq = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.origin = ""
        self.api_url = ""
        self.schema = load_schema()
        for order in orders or []:
            self.add_order(order)

    # ----------------------------------------------------------------- lifecycle
    def start(self, host: str = "127.0.0.1", port: int = 0) -> ShopifySandbox:
        self._server = ThreadingHTTPServer((host, port), _make_handler(self))
        self._server.daemon_threads = True
        self.origin = f"http://{host}:{self._server.server_address[1]}"
        self.api_url = f"{self.origin}/admin/api/{self.api_version}/graphql.json"
        self._thread = threading.Thread(target=self._server.serve_forever, name="shopify-sandbox", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        self.bulk.close()

    def __enter__(self) -> ShopifySandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----------------------------------------------------------------- data
    def add_order(self, order: dict) -> dict:
        stored = normalize_order(order)
        with self.lock:
            if stored["id"] in self.orders:
                self._remember_indexed(self.orders[stored["id"]])
            self.orders[stored["id"]] = stored
        return stored

    # ----------------------------------------------------------------- search-index lag
    def make_late(self, ref: str, seconds: float) -> dict:
        """The order's latest update (by GID or name, e.g. "#1001") becomes visible to searches
        only `seconds` after its `updatedAt`: until then they see the version before it (an
        order created by that update: none). A later update ends it (the global lag applies)."""
        with self.lock:
            order = self.orders.get(ref) or next(o for o in self.orders.values() if o.get("name") == ref)
            self._late[order["id"]] = (str(order.get("updatedAt") or ""), float(seconds))
            return order

    def _visible_at(self, order: dict) -> float:
        updated = to_instant(order.get("updatedAt"))
        if updated is None:
            return 0.0
        late = self._late.get(order["id"])
        lag = late[1] if late is not None and late[0] == order.get("updatedAt") else self.search_lag_seconds
        return updated.timestamp() + lag

    def _remember_indexed(self, order: dict) -> None:
        """Before a write: the version a lagging search keeps seeing until the new one shows
        (the version it saw: this one if it is visible by now, else the one remembered)."""
        if self._visible_at(order) <= self.clock():
            self._indexed[order["id"]] = dict(order)  # writes replace top-level values

    def search_view(self, now: datetime) -> list[tuple[dict, dict]]:
        """(what a search matches and sorts on, the live order served) for `orders(query:)`."""
        with self.lock:
            if not self.search_lag_seconds and not self._late:
                return [(o, o) for o in self.orders.values()]
            t = now.timestamp()
            out: list[tuple[dict, dict]] = []
            for gid, order in self.orders.items():
                if self._visible_at(order) <= t:
                    out.append((order, order))
                elif gid in self._indexed:
                    out.append((self._indexed[gid], order))
            return out

    def update_order(self, gid: str, **changes: Any) -> dict:
        with self.lock:
            order = self.orders[gid]
            self._remember_indexed(order)
            order.update(copy.deepcopy(changes))
            if "transactions" in changes or "refunds" in changes:
                link(order)
            order["updatedAt"] = _later(order.get("updatedAt"), self.clock())
            return order

    def set_transactions(
        self,
        gid: str,
        transactions: list[dict[str, Any]],
        *,
        refunds: dict[str, list[str]] | None = None,
        touch: bool = True,
    ) -> list[dict[str, Any]]:
        """Replace an order's payment history, for a test that needs exact transactions.

        Items may be partial: kind/status/gateway default to SALE/SUCCESS/shopify_payments,
        `amount: "12.50"` fills `amountSet` with that in both currencies (default: the order
        total), `parentTransaction` may be a GID string, a missing `id` is assigned.
        refunds: refund GID -> the ids of its REFUND transactions (what `Refund.transactions`
        serves); without it a refund keeps those of its transactions whose ids remain.
        displayFinancialStatus is left alone (set it with update_order); `updatedAt` moves
        unless touch=False, as a new transaction updates a Shopify order.
        """
        with self.lock:
            order = self.orders[gid]
            if touch:
                self._remember_indexed(order)
            done = []
            for txn in transactions:
                self._txn_seq += 1
                done.append(complete(txn, order, SANDBOX_TXN_BASE + self._txn_seq))
            by_id = {t["id"]: t for t in done}
            for refund in order.get("refunds") or []:
                if refunds is not None and refund["id"] in refunds:
                    refund["transactions"] = [by_id[i] for i in refunds[refund["id"]]]
                else:
                    kept = refund.get("transactions") or []
                    refund["transactions"] = [by_id[t["id"]] for t in kept if t["id"] in by_id]
            order["transactions"] = done
            link(order)
            if touch:
                order["updatedAt"] = _later(order.get("updatedAt"), self.clock())
            return done

    def add_refund(self, gid: str, refund: dict) -> dict:
        """Append a refund; the financial status follows what has been refunded (shop money).

        Unless the refund brings its own `transactions`, the money goes back through the
        order's payments: one REFUND SUCCESS per payment used (cards before gift cards),
        `parentTransaction` that payment; more than was paid is left without a transaction.
        """
        with self.lock:
            order = self.orders[gid]
            self._remember_indexed(order)
            refund = copy.deepcopy(refund)
            self._refund_seq += 1
            refund.setdefault("id", f"gid://shopify/Refund/{900000 + self._refund_seq}")
            refund.setdefault("createdAt", _later(order.get("updatedAt"), self.clock()))
            refund.setdefault("note", None)
            refund.setdefault("refundLineItems", [])
            refund.setdefault("refundShippingLines", [])
            if "transactions" not in refund:
                refund["transactions"] = refund_transactions(order, refund, SANDBOX_TXN_BASE + self._txn_seq + 1)
                self._txn_seq += len(refund["transactions"])
            order.setdefault("refunds", []).append(refund)
            link(order)
            refunded = sum(
                (Decimal(r["totalRefundedSet"]["shopMoney"]["amount"]) for r in order["refunds"]), Decimal(0)
            )
            refunded_p = sum(
                (Decimal(r["totalRefundedSet"]["presentmentMoney"]["amount"]) for r in order["refunds"]), Decimal(0)
            )
            order["totalRefundedSet"] = {
                "shopMoney": {
                    "amount": str(refunded),
                    "currencyCode": order["totalPriceSet"]["shopMoney"]["currencyCode"],
                },
                "presentmentMoney": {
                    "amount": str(refunded_p),
                    "currencyCode": order["totalPriceSet"]["presentmentMoney"]["currencyCode"],
                },
            }
            total = Decimal(order["totalPriceSet"]["shopMoney"]["amount"])
            order["displayFinancialStatus"] = "REFUNDED" if refunded >= total else "PARTIALLY_REFUNDED"
            order["updatedAt"] = _later(max(order.get("updatedAt") or "", refund["createdAt"]), self.clock())
            return refund

    def inject_fault(self, kind: str, times: int = 1, *, on: str = "any") -> None:
        """Queue a fault. "500_after" runs the request (a mutation is applied) and answers 500,
        as a response lost after Shopify committed. on="mutation": only a mutation request
        consumes it, so a test can fail the write-back and not the reads before it."""
        if kind not in FAULTS or on not in ("any", "mutation") or (kind == "bulk_failed" and on != "any"):
            raise ValueError(f"unknown fault {kind!r} on {on!r}")
        with self.lock:
            if kind == "bulk_failed":  # consumed by the next bulkOperationRunQuery, not by any request
                self.bulk.fail_next += times
            elif on == "mutation":
                self.mutation_faults.extend([kind] * times)
            else:
                self.faults.extend([kind] * times)

    # ----------------------------------------------------------------- bucket
    def throttle_status(self) -> dict[str, float]:
        with self.lock:
            self._refill()
            return {
                "maximumAvailable": self.bucket_size,
                "currentlyAvailable": int(self._available),
                "restoreRate": self.restore_rate,
            }

    def _refill(self) -> None:
        now = self.clock()
        self._available = min(self.bucket_size, self._available + max(0.0, now - self._bucket_at) * self.restore_rate)
        self._bucket_at = now

    # ----------------------------------------------------------------- auth
    def token_ok(self, token: str | None) -> bool:
        return self.scopes_for(token) is not None

    def scopes_for(self, token: str | None) -> frozenset[str] | None:
        """The token's access scopes, None when it is not a valid token (unknown or expired)."""
        if not token:
            return None
        if token == self.access_token:
            return self.scopes
        with self.lock:
            if token in self.token_scopes:
                return self.token_scopes[token]
            expiry = self.client_tokens.get(token)
            return frozenset(self.client_scopes) if expiry is not None and self.clock() < expiry else None

    def add_access_token(self, token: str, scopes: Iterable[str]) -> str:
        """Another static token with exactly `scopes` (e.g. read_orders only, for ACCESS_DENIED tests)."""
        with self.lock:
            self.token_scopes[token] = frozenset(scopes)
        return token

    def issue_token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        self.token_requests.append({"grant_type": form.get("grant_type"), "client_id": form.get("client_id")})
        if form.get("grant_type") != "client_credentials":
            return 400, {"error": "unsupported_grant_type", "error_description": "The grant type is not supported."}
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return 400, {"error": "invalid_client", "error_description": "Client authentication failed."}
        with self.lock:
            self._token_seq += 1
            token = f"shpat_{secrets.token_hex(16)}"
            self.client_tokens[token] = self.clock() + self.client_token_ttl
        return 200, {
            "access_token": token,
            "scope": ",".join(self.client_scopes),
            "expires_in": int(self.client_token_ttl),
        }

    # ----------------------------------------------------------------- graphql
    def graphql(self, body: dict[str, Any], scopes: frozenset[str] | None = None, status: int = 200) -> dict[str, Any]:
        """One GraphQL request after authentication: cost check, bucket, execution, refund.

        scopes: the calling token's (default: the static token's); status: what the HTTP
        layer will answer, for the request log (500 for an injected "500_after").
        """
        query = str(body.get("query") or "")
        variables = body.get("variables") or {}
        op_name = body.get("operationName")
        record: dict[str, Any] = {
            "operation": op_name,
            "variables": variables,
            "cost": 0,
            "throttled": False,
            "status": status,
        }
        self.requests.append(record)
        # Parsed and validated once per query text (~7 ms each time otherwise): the
        # product sends the same few documents, and the benchmark times round trips.
        checked = _CHECKED.get(query)
        if checked is None:
            if len(_CHECKED) > 256:
                _CHECKED.clear()
            try:
                document = parse(query)
            except GraphQLError as exc:
                return {"errors": [graphql_error_json(exc)], "extensions": self._cost_ext(0, 0)}
            checked = _CHECKED[query] = (document, [graphql_error_json(e) for e in validate(self.schema, document)])
        document, errors = checked
        ops = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        operation = next((o for o in ops if o.name and o.name.value == op_name), ops[0] if ops else None)
        if operation is not None and record["operation"] is None and operation.name:
            record["operation"] = operation.name.value
        if errors:
            return {"errors": errors, "extensions": self._cost_ext(0, 0)}
        assert operation is not None
        coerced, var_errors = coerce_variables(self.schema, operation, variables)
        if var_errors:
            return {"errors": [graphql_error_json(e) for e in var_errors], "extensions": self._cost_ext(0, 0)}
        fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        requested = operation_cost(self.schema, operation, fragments, coerced)
        if requested > MAX_QUERY_COST:
            return {
                "errors": [
                    {
                        "message": (
                            f"Query cost is {requested}, which exceeds the single query max cost limit "
                            f"({MAX_QUERY_COST}).\n\nSee https://shopify.dev/concepts/about-apis/rate-limits for more "
                            "information on how the\ncost of a query is calculated.\n\nTo query larger amounts of data "
                            "with fewer limits, bulk operations should be used instead.\nSee "
                            "https://shopify.dev/tutorials/perform-bulk-operations-with-admin-api for usage details.\n"
                        ),
                        "extensions": {"code": "MAX_COST_EXCEEDED", "cost": requested, "maxCost": MAX_QUERY_COST},
                    }
                ],
                "extensions": self._cost_ext(requested, None),
            }
        with self.lock:
            self._refill()
            forced = take_fault(self, ("throttle",), body) is not None
            if forced or requested > self._available:
                record["throttled"] = True
                return {
                    "errors": [
                        {
                            "message": "Throttled",
                            "extensions": {"code": "THROTTLED", "documentation": RATE_LIMIT_DOCS},
                        }
                    ],
                    "extensions": self._cost_ext(requested, None),
                }
            self._available -= requested
            result = execute_sync(
                self.schema,
                document,
                root_value=self,
                variable_values=variables,
                operation_name=op_name,
                context_value={
                    "now": datetime.fromtimestamp(self.clock(), tz=timezone.utc),
                    "scopes": self.scopes if scopes is None else scopes,
                },
            )
            actual = min(requested, operation_cost(self.schema, operation, fragments, coerced, result.data))
            self._available = min(self.bucket_size, self._available + (requested - actual))
        record["cost"] = actual
        out: dict[str, Any] = {}
        if result.errors:
            out["errors"] = [graphql_error_json(e) for e in result.errors]
        out["data"] = result.data
        out["extensions"] = self._cost_ext(requested, actual)
        return out

    def _cost_ext(self, requested: int, actual: int | None) -> dict[str, Any]:
        return {
            "cost": {
                "requestedQueryCost": requested,
                "actualQueryCost": actual,
                "throttleStatus": self.throttle_status(),
            }
        }


_API_PATH = re.compile(r"^/admin/api/(?P<version>[^/]+)/graphql\.json$")


def _make_handler(sandbox: ShopifySandbox) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence stderr
            pass

        def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def _body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def do_GET(self) -> None:  # noqa: N802
            if sandbox.latency:
                time.sleep(sandbox.latency)
            path = urllib.parse.urlsplit(self.path).path
            if path.startswith(BULK_RESULT_PATH):  # a bulk result: signed storage URL on Shopify, so no token
                serve_result(sandbox, self, path)
                return
            self._send(404, {"errors": "Not Found"})

        def do_POST(self) -> None:  # noqa: N802
            if sandbox.latency:
                time.sleep(sandbox.latency)
            path = urllib.parse.urlsplit(self.path).path
            raw = self._body()
            if path == "/admin/oauth/access_token":
                if "json" in (self.headers.get("Content-Type") or ""):
                    form = {k: str(v) for k, v in (json.loads(raw or b"{}") or {}).items()}
                else:
                    form = {k: v[0] for k, v in urllib.parse.parse_qs(raw.decode()).items()}
                status, payload = sandbox.issue_token(form)
                self._send(status, payload)
                return
            m = _API_PATH.match(path)
            if not m:
                self._send(404, {"errors": "Not Found"})
                return
            version = {"X-Shopify-API-Version": m.group("version")}
            try:
                body = json.loads(raw or b"null")
            except ValueError:
                body = None
            fault = take_fault(sandbox, ("500", "401", "500_after"), body)
            token = self.headers.get("X-Shopify-Access-Token")
            scopes = sandbox.scopes_for(token)
            if fault == "401" or scopes is None:
                sandbox.requests.append(
                    {"operation": None, "variables": None, "cost": 0, "throttled": False, "status": 401}
                )
                self._send(401, {"errors": INVALID_TOKEN}, version)
                return
            if fault == "500":
                sandbox.requests.append(
                    {"operation": None, "variables": None, "cost": 0, "throttled": False, "status": 500}
                )
                self._send(500, {"errors": "Internal Server Error"}, version)
                return
            if not isinstance(body, dict) or not isinstance(body.get("query"), str):
                self._send(400, {"errors": {"query": "Required parameter missing or invalid"}}, version)
                return
            if fault == "500_after":  # applied, then the answer is lost
                sandbox.graphql(body, scopes, status=500)
                self._send(500, {"errors": "Internal Server Error"}, version)
                return
            self._send(200, sandbox.graphql(body, scopes), version)

    return Handler
