"""Which Shopify orders and refunds a pass handles.

Sync and reconcile both select from here, so they cannot disagree on what should be
in Visma: the same criteria, the same refunds credited, numbered the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from shopvisma.config.settings import Settings
from shopvisma.engine.records import batches, quote
from shopvisma.mapping.settings import money_key
from shopvisma.state.checkpoint import Checkpoint
from shopvisma.timefmt import parse_iso

if TYPE_CHECKING:
    from shopvisma.engine.ports import ShopifyApi
    from shopvisma.shopify.order import Order, Refund

NAME_BATCH = 25  # order names per Shopify search (`name:'#1001' OR …`)


def rejection_reason(order: Order, settings: Settings) -> str:
    """Why the order is not selected ("" when it is). Shopify filters server-side too;
    this is the client-side safety net so a loose search never transfers a wrong order."""
    c = settings.criteria
    if order.test:
        return "test order"
    if order.cancelled_at is not None:
        return "cancelled"
    if c.created_at_min and order.created_at < c.created_at_min:
        return "created before go-live (criteria.created_at_min)"
    if c.financial_status and order.financial_status not in c.financial_status:
        return f"financial status {order.financial_status or 'unknown'}"
    if c.fulfillment_status and order.fulfillment_status not in c.fulfillment_status:
        return f"fulfillment status {order.fulfillment_status}"
    tags = {t.lower() for t in order.tags}
    if c.tags_include and not tags & {t.lower() for t in c.tags_include}:
        return "missing an included tag"
    if tags & {t.lower() for t in c.tags_exclude}:
        return "has an excluded tag"
    return ""


def credited_refunds(order: Order) -> list[tuple[int, Refund]]:
    """The refunds that get a credit document, each with its number ("#1001 refund 2"). The
    number counts every refund in the order Shopify made them (created_at, then id), so a
    restock-only refund keeps its place and the numbering never shifts when one is added or
    listed out of order; sync and reconcile both number from here, so they cannot drift."""
    if not order.refunds:
        return []  # the common case, and an idle pass's: no mapping code to load
    from shopvisma.mapping.plan import refund_needs_credit

    ordered = sorted(order.refunds, key=lambda r: (r.created_at, r.id))
    return [(i, r) for i, r in enumerate(ordered, start=1) if refund_needs_credit(r)]


def open_refunds(order: Order, checkpoint: Checkpoint) -> list[tuple[int, Refund]]:
    """Refunds that still need a credit draft, numbered in the order Shopify made them."""
    return [(i, r) for i, r in credited_refunds(order) if r.id not in checkpoint.refunds_done]


def candidate_nodes(
    settings: Settings, shopify: ShopifyApi, checkpoint: Checkpoint, only: set[str] | None, *, bulk_ok: bool = False
) -> Iterator[dict[str, Any]]:
    """Orders changed since `search_since` (the bookmark, less what the last search may not
    have seen yet), then pending orders outside that window, fetched by name."""
    from shopvisma.shopify.search import build_search

    names: list[str]
    if only is None:
        since = search_since(settings, checkpoint)
        search = build_search(settings.criteria, updated_since=since, created_at_min=settings.criteria.created_at_min)
        yielded: set[str] = set()
        # No bookmark (first run, lost checkpoint): the whole history, so one bulk operation.
        for node in shopify.iter_orders(
            search, want_refunds=refunds_wanted(settings, checkpoint), bulk=bulk_ok and not checkpoint.bookmark
        ):
            yielded.add(node["name"])
            yield node
        pending = {info.get("order_name") or name for name, info in checkpoint.pending.items()}
        names = sorted(n for n in pending if n not in yielded)
    else:
        names = sorted(only)
    for batch in batches(names, NAME_BATCH):
        yield from shopify.iter_orders(
            "(" + " OR ".join(f"name:{quote(n)}" for n in batch) + ")",
            want_refunds=refunds_wanted(settings, checkpoint),
        )


def search_since(settings: Settings, checkpoint: Checkpoint) -> datetime | None:
    """Where the incremental search starts: min(bookmark, searched_at - search_lag_seconds).

    Shopify's search index lags writes, so an order updated at u was missed by the last pass
    only if u was not yet visible to its search, i.e. u > (when that search ran) - lag. The
    last pass saw (and handled, or keeps pending) everything up to the bookmark that was
    visible; what it could not see was updated after `searched_at` (its start, so before its
    search) less the lag. Right after any burst an idle pass so re-reads only the orders
    updated in the lag before the last pass started, and the bookmark's own order: one page
    while they are few (docs/scheduling.md, "What an idle pass reads again").
    No `searched_at` (a checkpoint written by an older build): the bookmark less
    `overlap_minutes`, as before. The window never starts more than max(overlap, lag) before
    the bookmark, so a stale `searched_at` (kept by an older build that rewrote the file)
    cannot reach far back; a consistent one never gets there (bookmark <= searched_at).
    None: no bookmark, the whole history."""
    if not checkpoint.bookmark:
        return None
    bookmark = parse_iso(checkpoint.bookmark)
    sync = settings.sync
    floor = bookmark - max(timedelta(minutes=sync.overlap_minutes), timedelta(seconds=sync.search_lag_seconds))
    if not checkpoint.searched_at:
        return bookmark - timedelta(minutes=sync.overlap_minutes)
    try:
        unseen = parse_iso(checkpoint.searched_at) - timedelta(seconds=sync.search_lag_seconds)
    except ValueError:
        return bookmark - timedelta(minutes=sync.overlap_minutes)
    return max(floor, min(bookmark, unseen))


def refunds_wanted(settings: Settings, checkpoint: Checkpoint) -> Callable[[dict[str, Any]], bool]:
    """Skip the refunds query for an order whose refunded amount is already all credited:
    a re-read of an old refunded order then costs no extra Shopify request."""
    side = money_key(settings.mapping)

    def wanted(node: dict[str, Any]) -> bool:
        done = checkpoint.recent.get(node.get("name", ""), {})
        amount = ((node.get("totalRefundedSet") or {}).get(side) or {}).get("amount")
        return amount is None or done.get("refunded") is None or Decimal(str(amount)) != Decimal(done["refunded"])

    return wanted
