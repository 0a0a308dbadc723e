"""A first import through one Shopify bulk operation instead of pages of orders.

Why: a paged read costs ~11 query points per order and the bucket refills at 100
points/s, so reading a backlog of thousands of orders is itself rate-limited (the
binding floor of a cold backlog in bench/results.md). A bulk query is charged like
one mutation, Shopify runs it on its side, and the result is a JSONL file on a
storage URL: every order on one line, then its line items and shipping lines each
on their own line with `__parentId`. The file is streamed line by line and each
order is yielded as soon as its children are complete, so memory does not grow
with the backlog.

Used only when the pass has no bookmark yet (first run, or a lost checkpoint) and
no `--limit`; anything unexpected (another bulk operation running, a failed one, a
result we cannot read) returns None and the caller reads pages as usual.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import requests

from shopvisma.errors import UnavailableError
from shopvisma.http import describe
from shopvisma.shopify.queries import (
    BULK_CHILD_KEYS,
    BULK_RUN_MUTATION,
    BULK_STATUS_QUERY,
    bulk_orders_query,
)

log = logging.getLogger("shopvisma.shopify.client")

POLL_FIRST, POLL_MAX = 1.0, 10.0  # seconds between status polls: short jobs finish fast
DONE = {"COMPLETED"}
GONE = {"FAILED", "CANCELED", "CANCELING", "EXPIRED"}


class BulkUnusable(Exception):
    """The bulk path cannot be used this pass; the pages are."""


def start(client: Any, search: str) -> str:
    """Run the bulk query; its operation id (or BulkUnusable with Shopify's words).

    A first import of a big shop may outlast one pass's wait budget (exit 69). The next
    cron run then finds its own query still running and waits for that operation
    instead of falling back to pages."""
    query = bulk_orders_query(search, payments=bool(getattr(client, "payments", False)))
    data = client.execute(BULK_RUN_MUTATION, {"query": query})
    payload = data.get("bulkOperationRunQuery") or {}
    problems = payload.get("userErrors") or []
    op = payload.get("bulkOperation") or {}
    if any(p.get("code") == "OPERATION_IN_PROGRESS" for p in problems):
        current = client.execute(BULK_STATUS_QUERY, {}).get("currentBulkOperation") or {}
        if current.get("query") == query and current.get("status") in ("CREATED", "RUNNING") and current.get("id"):
            log.info("bulk operation %s of an earlier pass is still running: waiting for it", current["id"])
            return str(current["id"])
    if problems or not op.get("id"):
        raise BulkUnusable("; ".join(str(p.get("message")) for p in problems) or "no operation id")
    return str(op["id"])


def wait_until_done(client: Any, op_id: str) -> dict[str, Any]:
    """Poll `currentBulkOperation` (one request per poll, 1 point) within the pass's wait budget."""
    pause = POLL_FIRST
    while True:
        op = client.execute(BULK_STATUS_QUERY, {}).get("currentBulkOperation") or {}
        if op.get("id") != op_id:
            raise BulkUnusable(f"another bulk operation replaced ours ({op.get('id')})")
        status = str(op.get("status") or "")
        if status in DONE:
            return op
        if status in GONE:
            raise BulkUnusable(f"bulk operation {status.lower()} ({op.get('errorCode') or 'no error code'})")
        budget = client.budget
        if budget.spent + pause > budget.max_wait:
            raise UnavailableError(
                f"Shopify is still preparing the order history for the first import (bulk operation {status.lower()}, "
                f"waited {budget.spent:.0f} s in this run)",
                hint="nothing is lost: the next run waits for the same operation; a larger [sync] max_wait_seconds "
                "lets one run wait longer",
            )
        budget.wait(pause, "Shopify bulk operation running")
        pause = min(pause * 1.5, POLL_MAX)


def read_orders(session: requests.Session, url: str | None, *, timeout: float) -> Iterator[dict[str, Any]]:
    """Order nodes from the JSONL result, in the shape a paged `orders` query gives."""
    if not url:
        return  # COMPLETED with no url: nothing matched
    try:
        resp = session.get(url, stream=True, timeout=timeout)  # a signed URL: no Shopify token
    except requests.RequestException as exc:
        raise BulkUnusable(f"result download: {describe(exc)}") from None
    if resp.status_code != 200:
        raise BulkUnusable(f"result download: HTTP {resp.status_code}")
    order: dict[str, Any] | None = None
    with resp:
        for raw in resp.iter_lines(chunk_size=1 << 16):  # the file may be many MB
            if not raw.strip():
                continue
            row = json.loads(raw)
            parent = row.pop("__parentId", None)
            if parent is None:
                if order is not None:
                    yield order
                order = _as_paged(row)
                continue
            key = BULK_CHILD_KEYS.get(str(row.pop("__typename", "")))
            if order is None or parent != order["id"] or key is None:
                raise BulkUnusable(f"unexpected line in the bulk result (parent {parent})")
            order[key]["nodes"].append(row)
    if order is not None:
        yield order


def _as_paged(row: dict[str, Any]) -> dict[str, Any]:
    for key in BULK_CHILD_KEYS.values():
        row[key] = {"nodes": [], "pageInfo": {"hasNextPage": False, "endCursor": None}}
    return row


def iter_orders_bulk(
    client: Any, search: str, want_refunds: Callable[[dict[str, Any]], bool] | None = None
) -> Iterator[dict[str, Any]] | None:
    """Every order matching `search`, or None when the bulk path is not usable now.

    Started and awaited before the first order is yielded, so a fallback to pages never
    repeats an order; a failure while streaming the file is an error of the pass (the
    next run starts again, and what was transferred is found in Visma first)."""
    try:
        op_id = start(client, search)
        op = wait_until_done(client, op_id)
    except BulkUnusable as exc:
        log.info("bulk read not used (%s); reading pages", exc)
        return None
    log.info("bulk operation %s completed: %s objects", op_id, op.get("objectCount"))

    def orders() -> Iterator[dict[str, Any]]:
        client.requests += 1  # the result download
        try:
            for node in read_orders(client.session, op.get("url"), timeout=client.timeout):
                client.complete_refunds(node, want_refunds)
                yield node
        except BulkUnusable as exc:
            raise UnavailableError(
                f"Shopify bulk result unreadable: {exc}", hint="the next scheduled run retries"
            ) from None

    return orders()
