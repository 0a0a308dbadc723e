"""A first import reads the backlog with one Shopify bulk operation (issue #7), against the
sandbox's bulk emulation; every fallback ends with the same documents as the paged read."""

from __future__ import annotations

import json
from typing import Any

from support.sandboxes import paid


def _operations(shop: Any) -> list[str]:
    return [r.get("operation") for r in shop.requests]


def _refs(visma: Any) -> list[str]:
    return sorted(d["YourReference"] for d in visma.drafts.values())


def test_first_import_uses_one_bulk_operation_then_pages(world) -> None:
    orders = paid(40, seed=5)
    for o in orders:
        world.shop.add_order(o)
    code, doc = world.sync_json()
    assert code == 0, doc
    ops = _operations(world.shop)
    assert ops.count("BulkOrders") == 1 and "Orders" not in ops, ops
    assert doc["counts"] == {"created": 40}
    assert _refs(world.visma) == sorted(o["name"] for o in orders)

    world.shop.requests.clear()
    code, doc = world.sync_json()  # a bookmark now: the idle pass reads one page
    assert code == 0 and doc["requests"]["visma_writes"] == 0
    assert _operations(world.shop) == ["Orders"]


def test_bulk_orders_are_whole_like_paged_ones(world) -> None:
    """The same orders, field for field, as the paged read, including an order with more line
    items than a page asks for (10, then OrderLines) and refunds (asked apart in both)."""
    from shopvisma.shopify.client import ShopifyClient
    from shopvisma.shopify.order import parse_order

    orders = paid(30, seed=6)
    big = orders[0]
    big["lineItems"] = [
        dict(json.loads(json.dumps(big["lineItems"][0])), id=f"gid://shopify/LineItem/{9000 + i}") for i in range(14)
    ]
    for o in orders:
        world.shop.add_order(o)
    client = ShopifyClient(world.shop.api_url, lambda: world.shop.access_token)
    paged = [parse_order(n) for n in client.iter_orders("")]
    bulk = [parse_order(n) for n in client.iter_orders("", bulk=True)]
    assert "BulkOrders" in _operations(world.shop)
    assert sorted(bulk, key=lambda o: o.id) == sorted(paged, key=lambda o: o.id)
    assert max(len(o.lines) for o in bulk) == 14


def test_bulk_failure_falls_back_to_pages(world) -> None:
    orders = paid(12, seed=7)
    for o in orders:
        world.shop.add_order(o)
    world.shop.inject_fault("bulk_failed")
    code, doc = world.sync_json()
    assert code == 0, doc
    ops = _operations(world.shop)
    assert "BulkOrders" in ops and "Orders" in ops
    assert _refs(world.visma) == sorted(o["name"] for o in orders)


def test_bulk_can_be_switched_off_and_dry_run_never_starts_one(world) -> None:
    for o in paid(5, seed=8):
        world.shop.add_order(o)
    assert world.cli("dry-run", "--json").exit_code == 0
    assert "BulkOrders" not in _operations(world.shop)
    world.write_config(sync="bulk_first_import = false")
    code, _ = world.sync_json()
    assert code == 0
    assert "BulkOrders" not in _operations(world.shop)
    assert len(world.visma.drafts) == 5


def test_limit_reads_pages(world) -> None:
    for o in paid(6, seed=9):
        world.shop.add_order(o)
    code, doc = world.sync_json("--limit", "2")
    assert code == 0 and doc["counts"] == {"created": 2}
    assert "BulkOrders" not in _operations(world.shop)


def test_bulk_query_validates_against_the_real_schema(real_schema) -> None:
    from datetime import UTC, datetime

    from graphql import parse, validate

    from shopvisma.config.settings import Criteria
    from shopvisma.shopify.queries import bulk_orders_query
    from shopvisma.shopify.search import build_search

    search = build_search(
        Criteria(financial_status=("paid",), tags_exclude=('no "sync"',)),
        updated_since=None,
        created_at_min=datetime(2026, 1, 1, tzinfo=UTC),
    )
    assert validate(real_schema, parse(bulk_orders_query(search))) == []


def test_a_shop_with_no_orders_yet_runs_one_bulk_operation_then_idle_passes(world) -> None:
    """The first pass sets the bookmark even when it found nothing, so the next passes are
    idle passes (one Shopify request), not a bulk operation every five minutes."""
    code, _ = world.sync_json()
    assert code == 0
    assert _operations(world.shop).count("BulkOrders") == 1
    for _ in range(2):
        world.shop.requests.clear()
        code, doc = world.sync_json()
        assert code == 0 and doc["requests"]["shopify"] == 1
        assert _operations(world.shop) == ["Orders"]


def test_a_bulk_operation_longer_than_one_pass_is_picked_up_by_the_next(world) -> None:
    """Shopify may take minutes: the pass that runs out of its wait budget exits 69, and the
    next one waits for the same operation rather than starting over or paging."""
    import time

    import time_machine

    orders = paid(8, seed=10)
    for o in orders:
        world.shop.add_order(o)
    world.shop.bulk.seconds = 2.5
    world.write_config(sync="max_wait_seconds = 2")
    first = world.cli("sync", "-q")
    assert first.exit_code == 69, first.stderr
    assert "still preparing the order history" in first.stderr and "next run waits" in first.stderr
    assert not world.visma.drafts
    with time_machine.travel(time.time() + 1.0, tick=True):  # a second later, without waiting for it
        code, doc = world.sync_json()
    assert code == 0, doc
    ops = _operations(world.shop)
    assert ops.count("BulkOrders") == 2 and "Orders" not in ops, ops
    assert len(world.shop.bulk_downloads) == 1
    assert _refs(world.visma) == sorted(o["name"] for o in orders)
