"""Shopify Admin GraphQL client: HTTP, token, paging, cost-aware throttling.

No business rules: it runs the documents of `shopify_queries` and streams
order nodes. Shopify charges each query by its requested cost out of a leaky
bucket; this client reads the bucket state from every response and waits
exactly as long as the bucket needs to refill, so it never sends a query that
is bound to be throttled.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

import requests

from shopvisma import redact
from shopvisma.errors import AuthError, ConfigError, ShopvismaError, UnavailableError
from shopvisma.http import WaitBudget, check_session, describe, make_session, retry_after_seconds
from shopvisma.shopify.queries import ORDER_LINES_QUERY, ORDER_REFUNDS_QUERY, ORDERS_QUERY

log = logging.getLogger("shopvisma.shopify.client")

LOGIN_HINT = "run: shopvisma login shopify"
MAX_PAGE = 250  # Shopify's largest connection page
MAX_QUERY_COST = 1000  # Shopify's single-query cost limit
FIRST_PAGE = 5  # probe size until the cost of one order is measured (~145 points each)
RENEW_MARGIN = 3600.0  # renew a client-credentials token with less than 1 h left
_FULFILLMENT = {"unfulfilled": "unfulfilled", "partially_fulfilled": "partial", "fulfilled": "fulfilled"}


class _CostTooHigh(Exception):
    def __init__(self, cost: float, limit: float):
        self.cost = cost
        self.limit = limit


# -- tokens --------------------------------------------------------------------

def client_credentials_token(
    origin: str, client_id: str, client_secret: str, tokens: Any, *,
    session: requests.Session | None = None, clock: Callable[[], float] = time.time, force: bool = False,
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
            headers={"Accept": "application/json"}, timeout=(5, 60),
        )
    except requests.RequestException as exc:
        raise UnavailableError(f"Shopify token endpoint {describe(exc)}",
                               hint="the next scheduled run retries") from None
    if resp.status_code in (400, 401, 403, 404):
        raise AuthError(f"Shopify refused the client credentials (HTTP {resp.status_code})", hint=LOGIN_HINT)
    if resp.status_code != 200:
        raise UnavailableError(f"Shopify token endpoint answered HTTP {resp.status_code}",
                               hint="the next scheduled run retries")
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

    def __init__(self, origin: str, client_id: str, client_secret: str, tokens: Any, *,
                 session: requests.Session | None = None, clock: Callable[[], float] = time.time):
        self.origin = origin
        self.client_id = client_id
        self._client_secret = client_secret
        self.tokens = tokens
        self.session = session
        self.clock = clock
        self._force = False
        redact.register(client_secret)

    def __call__(self) -> str:
        token = client_credentials_token(self.origin, self.client_id, self._client_secret, self.tokens,
                                         session=self.session, clock=self.clock, force=self._force)
        self._force = False
        return token

    def invalidate(self) -> None:
        self._force = True

    def __repr__(self) -> str:
        return f"ShopifyTokenProvider(origin={self.origin!r})"


# -- search ----------------------------------------------------------------------

def _when(dt: datetime) -> str:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return "'" + dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") + "'"


def _value(v: str) -> str:
    if not any(c.isspace() or c in "():'\"" for c in v):
        return v
    return f'"{v}"' if "'" in v else f"'{v}'"


def _any_of(field: str, values: list[str]) -> str:
    terms = [f"{field}:{_value(v)}" for v in values]
    return terms[0] if len(terms) == 1 else "(" + " OR ".join(terms) + ")"


def build_search(criteria: Any, *, updated_since: datetime | None, created_at_min: datetime | None) -> str:
    """The `orders(query:)` search string for the criteria, filtered server-side.

    Several statuses (or include tags) mean any of them; every exclude tag is
    excluded. Test orders are never selected.
    """
    terms: list[str] = []
    if updated_since is not None:
        terms.append(f"updated_at:>={_when(updated_since)}")
    if created_at_min is not None:
        terms.append(f"created_at:>={_when(created_at_min)}")
    financial = [s.strip().lower() for s in criteria.financial_status or () if s.strip()]
    if financial:
        terms.append(_any_of("financial_status", financial))
    fulfillment = [_FULFILLMENT.get(s.strip().lower(), s.strip().lower())
                   for s in criteria.fulfillment_status or () if s.strip()]
    if fulfillment:
        terms.append(_any_of("fulfillment_status", fulfillment))
    include = [t for t in criteria.tags_include or () if t.strip()]
    if include:
        terms.append(_any_of("tag", include))
    terms.extend(f"tag_not:{_value(t)}" for t in criteria.tags_exclude or () if t.strip())
    terms.append("test:false")
    return " ".join(terms)


# -- client ----------------------------------------------------------------------

class ShopifyClient:
    """GraphQL over HTTP with throttle-aware waits. Counts `.requests` and `.cost_spent`."""

    def __init__(self, api_url: str, token: Callable[[], str], *, session: requests.Session | None = None,
                 timeout: tuple[float, float] = (5, 60), max_wait: float = 300,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic):
        self.api_url = api_url
        self.token = token
        # GraphQL queries are reads: POST to the API URL is safe to repeat.
        self.session = check_session(session or make_session(post_is_read_for=[api_url]))
        self.timeout = timeout
        self.budget = WaitBudget(max_wait, sleep)
        self.clock = clock
        self.requests = 0
        self.cost_spent = 0.0
        self.last_throttle_status: dict[str, float] | None = None
        self.last_cost: dict[str, Any] | None = None
        self._status_at = 0.0
        self._known_cost: dict[str, float] = {}

    # -- throttle bookkeeping -------------------------------------------------

    def _available_now(self) -> float | None:
        st = self.last_throttle_status
        if not st:
            return None
        restored = float(st.get("restoreRate") or 0) * max(0.0, self.clock() - self._status_at)
        return min(float(st.get("maximumAvailable") or 0), float(st.get("currentlyAvailable") or 0) + restored)

    def _wait_for_points(self, needed: float | None) -> None:
        """Before sending: wait until the bucket holds `needed` points, so no request is thrown away."""
        available = self._available_now()
        st = self.last_throttle_status or {}
        rate = float(st.get("restoreRate") or 0)
        if needed is None or available is None or rate <= 0 or available + 1e-6 >= needed:
            return
        needed = min(needed, float(st.get("maximumAvailable") or needed))
        if available < needed:
            # +1 point: the bucket's reported level is rounded down, and clocks differ slightly.
            self.budget.wait((needed + 1 - available) / rate, "Shopify query cost budget")

    def _note_cost(self, body: dict[str, Any], document: str) -> dict[str, Any]:
        cost = (body.get("extensions") or {}).get("cost") or {}
        self.last_cost = cost or None
        if cost.get("actualQueryCost") is not None:
            self.cost_spent += float(cost["actualQueryCost"])
        if cost.get("requestedQueryCost") is not None:
            self._known_cost[document] = float(cost["requestedQueryCost"])
        if cost.get("throttleStatus"):
            self.last_throttle_status = dict(cost["throttleStatus"])
            self._status_at = self.clock()
        return cost

    @staticmethod
    def _check_fits_bucket(cost: dict[str, Any]) -> None:
        """A query larger than the whole bucket would be throttled forever: fail, don't wait."""
        st = cost.get("throttleStatus") or {}
        requested, size = cost.get("requestedQueryCost"), st.get("maximumAvailable")
        if requested is not None and size and float(requested) > float(size):
            raise _CostTooHigh(float(requested), float(size))

    @staticmethod
    def _throttle_wait(cost: dict[str, Any]) -> float:
        st = cost.get("throttleStatus") or {}
        try:
            wait = (float(cost["requestedQueryCost"]) - float(st["currentlyAvailable"])) / float(st["restoreRate"])
        except (KeyError, TypeError, ValueError, ZeroDivisionError):
            return 1.0
        return wait if wait > 0 else 1.0

    # -- execute ----------------------------------------------------------------

    def execute(self, document: str, variables: dict[str, Any], *, expected_cost: float | None = None) -> dict[str, Any]:
        """Run one query and return its `data`; waits out throttling within the pass budget."""
        try:
            return self._execute(document, variables, expected_cost)
        except _CostTooHigh as exc:
            raise ShopvismaError(f"Shopify query cost {exc.cost:.0f} exceeds the limit {exc.limit:.0f}",
                                 hint="ask for fewer line items per order") from None

    def _execute(self, document: str, variables: dict[str, Any], expected_cost: float | None) -> dict[str, Any]:
        renewed = False
        backoff = 1.0
        for _ in range(100):
            self._wait_for_points(expected_cost if expected_cost is not None else self._known_cost.get(document))
            self.requests += 1
            try:
                resp = self.session.post(
                    self.api_url, json={"query": document, "variables": variables}, timeout=self.timeout,
                    headers={"X-Shopify-Access-Token": self.token(), "Accept": "application/json"},
                )
            except requests.RequestException as exc:
                self.budget.wait(backoff, f"Shopify {describe(exc)}")
                backoff = min(backoff * 2, 30.0)
                continue
            status = resp.status_code
            log.debug("Shopify POST graphql -> %s", status)
            if status == 401 and not renewed and hasattr(self.token, "invalidate"):
                renewed = True
                self.token.invalidate()  # type: ignore[attr-defined]
                continue
            if status in (401, 403):
                what = "rejected the access token" if status == 401 else "denied access (missing scope?)"
                raise AuthError(f"Shopify {what} (HTTP {status})", hint=LOGIN_HINT)
            if status == 429 or status >= 500:
                wait = retry_after_seconds(resp)
                self.budget.wait(wait if wait is not None else backoff, f"Shopify HTTP {status}")
                backoff = min(backoff * 2, 30.0)
                continue
            if status == 404:
                raise ConfigError("Shopify API URL not found (HTTP 404)",
                                  hint="check [shopify] shop and api_version in the config")
            if status != 200:
                raise UnavailableError(f"Shopify answered HTTP {status}", hint="the next scheduled run retries")
            try:
                body = resp.json()
            except ValueError:
                raise UnavailableError("Shopify returned a non-JSON body") from None
            cost = self._note_cost(body, document)
            errors = body.get("errors") or []
            if isinstance(errors, str):
                errors = [{"message": errors}]
            codes = {str((e.get("extensions") or {}).get("code", "")) for e in errors if isinstance(e, dict)}
            if "THROTTLED" in codes:
                self._check_fits_bucket(cost)
                self.budget.wait(self._throttle_wait(cost), "Shopify THROTTLED")
                continue
            if "MAX_COST_EXCEEDED" in codes:
                ext = next((e.get("extensions") or {}) for e in errors
                           if (e.get("extensions") or {}).get("code") == "MAX_COST_EXCEEDED")
                raise _CostTooHigh(float(ext.get("cost") or cost.get("requestedQueryCost") or 0),
                                   float(ext.get("maxCost") or MAX_QUERY_COST))
            if "ACCESS_DENIED" in codes:
                raise AuthError("Shopify denied access to a field (missing scope?)", hint=LOGIN_HINT)
            if errors:
                msgs = "; ".join(str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors)
                raise ShopvismaError(f"Shopify GraphQL error: {msgs}")
            return body.get("data") or {}
        raise UnavailableError("Shopify: too many retries", hint="the next scheduled run retries")

    # -- orders -----------------------------------------------------------------

    def _next_page_size(self, first: int) -> int:
        cost = self.last_cost or {}
        requested = float(cost.get("requestedQueryCost") or 0)
        if requested <= 0:
            return first
        limit = float(MAX_QUERY_COST)
        st = self.last_throttle_status or {}
        if st.get("maximumAvailable"):
            limit = min(limit, float(st["maximumAvailable"]))
        per_order = requested / first  # includes the connection overhead: conservative
        return max(1, min(MAX_PAGE, int(limit // per_order)))

    def iter_orders(self, search: str, *, page_size: int | None = None, lines: int = 10,
                    want_refunds: Callable[[dict[str, Any]], bool] | None = None,
                    bulk: bool = False) -> Iterator[dict[str, Any]]:
        """Stream order nodes matching `search`, page by page, each complete: all its line
        items, and `refunds` (fetched apart, only for orders with a refunded amount, and only
        when `want_refunds(node)` agrees: the caller may know they are all credited already).
        `bulk`: try one bulk operation first (bulk.py), pages when it is not usable."""
        if bulk:
            from shopvisma.shopify.bulk import iter_orders_bulk

            nodes = iter_orders_bulk(self, search, want_refunds)
            if nodes is not None:
                yield from nodes
                return
        first = min(MAX_PAGE, page_size or FIRST_PAGE)
        after: str | None = None
        per_order: float | None = None
        while True:
            variables = {"first": first, "after": after, "query": search, "lines": lines}
            try:
                data = self._execute(ORDERS_QUERY, variables, None if per_order is None else per_order * first)
            except _CostTooHigh as exc:
                if first <= 1 or exc.cost <= 0:
                    raise ShopvismaError(f"Shopify query cost {exc.cost:.0f} exceeds {exc.limit:.0f} for one order",
                                         hint="ask for fewer line items per order") from None
                first = max(1, min(first - 1, int(first * exc.limit / exc.cost)))
                continue
            conn = data.get("orders") or {}
            if self.last_cost and self.last_cost.get("requestedQueryCost"):
                per_order = float(self.last_cost["requestedQueryCost"]) / first
            if page_size is None:
                first = self._next_page_size(first)
            for node in conn.get("nodes") or []:
                self._complete_lines(node)
                self.complete_refunds(node, want_refunds)
                yield node
            info = conn.get("pageInfo") or {}
            if not info.get("hasNextPage") or not info.get("endCursor"):
                return
            after = info["endCursor"]

    def _complete_lines(self, node: dict[str, Any]) -> None:
        """Fetch the line items beyond the first page so the node is the whole order."""
        items = node.get("lineItems")
        if not items:
            return
        info = items.get("pageInfo") or {}
        while info.get("hasNextPage"):
            data = self.execute(ORDER_LINES_QUERY, {"id": node["id"], "after": info.get("endCursor")})
            more = ((data.get("order") or {}).get("lineItems")) or {}
            items.setdefault("nodes", []).extend(more.get("nodes") or [])
            info = more.get("pageInfo") or {}
        items["pageInfo"] = {"hasNextPage": False, "endCursor": info.get("endCursor")}

    def complete_refunds(self, node: dict[str, Any],
                          want: Callable[[dict[str, Any]], bool] | None = None) -> None:
        """Refund line items cost more points than the rest of an order: ask only when refunded."""
        if "refunds" in node:
            return
        node["refunds"] = []
        if _refunded(node) and (want is None or want(node)):
            data = self.execute(ORDER_REFUNDS_QUERY, {"id": node["id"]})
            node["refunds"] = list((data.get("order") or {}).get("refunds") or [])


def _refunded(node: dict[str, Any]) -> bool:
    bag = node.get("totalRefundedSet") or {}
    for money in bag.values():
        try:
            if Decimal(str((money or {}).get("amount") or "0")) != 0:
                return True
        except InvalidOperation:
            return True  # unreadable: fetch rather than miss a refund
    return False
