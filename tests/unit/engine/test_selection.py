"""Which orders and refunds a pass takes: the client-side safety net, the refund numbering
sync and reconcile share, and the Shopify reads a pass makes (bookmark window, pending)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from unit.engine.fakes import FakeShopify, order_node

from shopvisma.config.settings import Settings
from shopvisma.engine.selection import (
    candidate_nodes,
    credited_refunds,
    open_refunds,
    refunds_wanted,
    rejection_reason,
)
from shopvisma.shopify.order import Refund, parse_order
from shopvisma.state.checkpoint import Checkpoint

PAID = parse_order(order_node(1001))


def _refund(rid: str, day: int, total: str) -> Refund:
    return Refund(id=rid, created_at=datetime(2026, 3, day, tzinfo=UTC), total=Decimal(total), lines=(), shipping=())


def test_a_paid_order_is_selected(settings: Settings) -> None:
    assert rejection_reason(PAID, settings) == ""


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"test": True}, "test order"),
        ({"cancelled_at": datetime(2026, 3, 2, tzinfo=UTC)}, "cancelled"),
        ({"financial_status": "pending"}, "financial status pending"),
    ],
)
def test_the_reason_an_order_is_not_selected(settings: Settings, change: dict[str, object], reason: str) -> None:
    assert rejection_reason(replace(PAID, **change), settings) == reason  # type: ignore[arg-type]


def test_tags_and_go_live_are_checked_client_side(settings: Settings) -> None:
    criteria = replace(settings.criteria, tags_exclude=("B2B",), created_at_min=datetime(2026, 4, 1, tzinfo=UTC))
    strict = replace(settings, criteria=criteria)
    assert rejection_reason(PAID, strict) == "created before go-live (criteria.created_at_min)"
    tagged = replace(PAID, tags=("b2b",), created_at=datetime(2026, 5, 1, tzinfo=UTC))
    assert rejection_reason(tagged, strict) == "has an excluded tag"


def test_refunds_are_numbered_in_the_order_shopify_made_them_and_restocks_keep_a_number() -> None:
    order = replace(PAID, refunds=(_refund("r3", 5, "30"), _refund("r1", 2, "0"), _refund("r2", 3, "10")))
    assert [(i, r.id) for i, r in credited_refunds(order)] == [(2, "r2"), (3, "r3")]
    cp = Checkpoint(refunds_done={"r2": {}})
    assert [(i, r.id) for i, r in open_refunds(order, cp)] == [(3, "r3")]


def test_an_order_without_refunds_loads_no_mapping_code() -> None:
    assert credited_refunds(PAID) == []


def test_the_refunds_query_is_skipped_once_everything_is_credited(settings: Settings) -> None:
    node = order_node(1001, totalRefundedSet={"presentmentMoney": {"amount": "10.00"}})
    cp = Checkpoint(recent={"#1001": {"refunded": "10.00"}})
    assert refunds_wanted(settings, cp)(node) is False
    cp.recent["#1001"]["refunded"] = "0.00"
    assert refunds_wanted(settings, cp)(node) is True
    assert refunds_wanted(settings, Checkpoint())(node) is True  # never transferred here


def test_a_pass_reads_the_window_then_pending_orders_by_name(settings: Settings) -> None:
    shop = FakeShopify([order_node(1001), order_node(1002)])
    cp = Checkpoint(bookmark="2026-03-01T12:00:00Z", pending={"#1002": {}, "#1001 refund 1": {"order_name": "#1001"}})
    names = [n["name"] for n in candidate_nodes(settings, shop, cp, None)]
    assert names == ["#1001", "#1002"]  # the window (the fake ignores it) already held both: no name search
    assert len(shop.searches) == 1 and "updated_at:>=" in shop.searches[0]


def test_replay_reads_only_the_named_orders(settings: Settings) -> None:
    shop = FakeShopify([order_node(1001), order_node(1002)])
    assert [n["name"] for n in candidate_nodes(settings, shop, Checkpoint(), {"#1002"})] == ["#1002"]
    assert shop.searches == ["(name:'#1002')"]
