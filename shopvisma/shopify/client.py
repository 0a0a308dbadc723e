"""Shopify Admin GraphQL client: HTTP, paging, cost-aware throttling.

No business rules: it runs the documents of `shopify.queries` and streams
order nodes. Shopify charges each query by its requested cost out of a leaky
bucket; this client reads the bucket state from every response and waits
exactly as long as the bucket needs to refill, so it never sends a query that
is bound to be throttled.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from decimal import Decimal, InvalidOperation
from typing import Any

import requests

from shopvisma.errors import AuthError, ConfigError, ShopvismaError, UnavailableError
from shopvisma.http import WaitBudget, check_session, describe, make_session, retry_after_seconds
from shopvisma.shopify.auth import LOGIN_HINT
from shopvisma.shopify.queries import (
    ORDER_LINES_QUERY,
    ORDER_REFUNDS_PAYMENTS_QUERY,
    ORDER_REFUNDS_QUERY,
    ORDERS_PAYMENTS_QUERY,
    ORDERS_QUERY,
)

log = logging.getLogger("shopvisma.shopify.client")

MAX_PAGE = 250  # Shopify's largest connection page
MAX_QUERY_COST = 1000  # Shopify's single-query cost limit
FIRST_PAGE = 5  # probe size until the cost of one order is measured (~145 points each)


class _CostTooHigh(Exception):
    """A query costs more than Shopify allows at once: page smaller, or fail (never wait)."""

    def __init__(self, cost: float, limit: float) -> None:
        self.cost = cost
        self.limit = limit


class ShopifyClient:
    """GraphQL over HTTP with throttle-aware waits. Counts `.requests` and `.cost_spent`."""

    def __init__(
        self,
        api_url: str,
        token: Callable[[], str],
        *,
        session: requests.Session | None = None,
        timeout: tuple[float, float] = (5, 60),
        max_wait: float = 300,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        payments: bool = False,
    ) -> None:
        self.api_url = api_url
        self.payments = payments  # read each order's transactions too ([payments] is set)
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

    def execute(
        self, document: str, variables: dict[str, Any], *, expected_cost: float | None = None
    ) -> dict[str, Any]:
        """Run one query and return its `data`; waits out throttling within the pass budget."""
        try:
            return self._execute(document, variables, expected_cost)
        except _CostTooHigh as exc:
            raise ShopvismaError(
                f"Shopify query cost {exc.cost:.0f} exceeds the limit {exc.limit:.0f}",
                hint="ask for fewer line items per order",
            ) from None

    def _execute(self, document: str, variables: dict[str, Any], expected_cost: float | None) -> dict[str, Any]:
        renewed = False
        backoff = 1.0
        for _ in range(100):
            self._wait_for_points(expected_cost if expected_cost is not None else self._known_cost.get(document))
            self.requests += 1
            try:
                resp = self.session.post(
                    self.api_url,
                    json={"query": document, "variables": variables},
                    timeout=self.timeout,
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
                self.token.invalidate()
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
                raise ConfigError(
                    "Shopify API URL not found (HTTP 404)", hint="check [shopify] shop and api_version in the config"
                )
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
                ext = next(
                    (e.get("extensions") or {})
                    for e in errors
                    if (e.get("extensions") or {}).get("code") == "MAX_COST_EXCEEDED"
                )
                raise _CostTooHigh(
                    float(ext.get("cost") or cost.get("requestedQueryCost") or 0),
                    float(ext.get("maxCost") or MAX_QUERY_COST),
                )
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

    def iter_orders(
        self,
        search: str,
        *,
        page_size: int | None = None,
        lines: int = 10,
        want_refunds: Callable[[dict[str, Any]], bool] | None = None,
        bulk: bool = False,
    ) -> Iterator[dict[str, Any]]:
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
                query = ORDERS_PAYMENTS_QUERY if self.payments else ORDERS_QUERY
                data = self._execute(query, variables, None if per_order is None else per_order * first)
            except _CostTooHigh as exc:
                if first <= 1 or exc.cost <= 0:
                    raise ShopvismaError(
                        f"Shopify query cost {exc.cost:.0f} exceeds {exc.limit:.0f} for one order",
                        hint="ask for fewer line items per order",
                    ) from None
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

    def complete_refunds(self, node: dict[str, Any], want: Callable[[dict[str, Any]], bool] | None = None) -> None:
        """Refund line items cost more points than the rest of an order: ask only when refunded."""
        if "refunds" in node:
            return
        node["refunds"] = []
        if _refunded(node) and (want is None or want(node)):
            query = ORDER_REFUNDS_PAYMENTS_QUERY if self.payments else ORDER_REFUNDS_QUERY
            data = self.execute(query, {"id": node["id"]})
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
