"""The Shopify emulator over real HTTP: GraphQL execution, search, paging, cost, bucket, auth, faults, seed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from decimal import Decimal

import pytest
import requests

from shopvisma.sandbox.seed.orders import catalogue, demo_orders, generate_orders, make_refund
from shopvisma.sandbox.shopify.search import compile_query
from shopvisma.sandbox.shopify.server import INVALID_TOKEN, ShopifySandbox
from shopvisma.shopify.order import parse_order
from shopvisma.shopify.queries import ORDER_LINES_QUERY, ORDERS_QUERY
from support.clock import FakeClock
from support.sandboxes import SHOPIFY_TOKEN, shopify_post, unthrottled_shop

ORDERS = generate_orders(80, seed=3)


@pytest.fixture
def sandbox() -> Iterator[ShopifySandbox]:
    with unthrottled_shop(ORDERS) as sb:
        yield sb


gql = shopify_post


def fetch_all(sb: ShopifySandbox, search: str, first: int = 3) -> list[dict]:
    nodes, after = [], None
    while True:
        r = gql(sb, ORDERS_QUERY, {"first": first, "after": after, "query": search, "lines": 10}, op="Orders")
        body = r.json()
        assert r.status_code == 200 and "errors" not in body, body
        page = body["data"]["orders"]
        nodes += page["nodes"]
        if not page["pageInfo"]["hasNextPage"]:
            return nodes
        after = page["pageInfo"]["endCursor"]


def test_product_query_pages_filters_and_parses(sandbox: ShopifySandbox) -> None:
    search = "financial_status:paid test:false updated_at:>'2026-01-06T00:00:00Z'"
    nodes = fetch_all(sandbox, search)
    pred = compile_query(search, datetime.now(timezone.utc))
    expected = sorted((o for o in ORDERS if pred(o)), key=lambda o: (o["updatedAt"], int(o["legacyResourceId"])))
    assert [n["id"] for n in nodes] == [o["id"] for o in expected]
    assert nodes and all(n["displayFinancialStatus"] == "PAID" and not n["test"] for n in nodes)
    for node in nodes:
        for side in ("presentmentMoney", "shopMoney"):
            order = parse_order(node, side)  # type: ignore[arg-type]
            assert sum((li.total for li in order.lines), Decimal(0)) == order.subtotal
            assert order.total == order.subtotal + order.total_shipping
            taxes = [t.amount for li in order.lines for t in li.tax_lines]
            taxes += [t.amount for sl in order.shipping_lines for t in sl.tax_lines]
            assert sum(taxes, Decimal(0)) == order.total_tax
    assert sandbox.requests[0]["operation"] == "Orders" and sandbox.requests[0]["cost"] > 0


def test_unknown_field_is_rejected_like_shopify(sandbox: ShopifySandbox) -> None:
    r = gql(sandbox, "{ orders(first: 1) { nodes { id totalPrice } } }")
    assert r.status_code == 200
    body = r.json()
    assert "data" not in body
    err = body["errors"][0]
    assert err["message"] == "Field 'totalPrice' doesn't exist on type 'Order'"
    assert err["extensions"]["code"] == "undefinedField"
    assert "throttleStatus" in body["extensions"]["cost"]


def test_page_size_and_missing_first_are_errors(sandbox: ShopifySandbox) -> None:
    too_big = gql(sandbox, "{ orders(first: 251) { nodes { id } } }").json()
    assert too_big["data"] is None and "250" in too_big["errors"][0]["message"]
    missing = gql(sandbox, "{ orders { nodes { id } } }").json()
    assert missing["errors"][0]["message"] == "you must provide one of first or last"


def test_order_lines_query_pages_line_items(sandbox: ShopifySandbox) -> None:
    order = max(ORDERS, key=lambda o: len(o["lineItems"]))
    q = ORDER_LINES_QUERY.replace("first: 100", "first: 1")
    seen, after = [], None
    while True:
        data = gql(sandbox, q, {"id": order["id"], "after": after}).json()["data"]["order"]["lineItems"]
        seen += [n["id"] for n in data["nodes"]]
        if not data["pageInfo"]["hasNextPage"]:
            break
        after = data["pageInfo"]["endCursor"]
    assert seen == [li["id"] for li in order["lineItems"]]
    assert gql(sandbox, ORDER_LINES_QUERY, {"id": "gid://shopify/Order/1"}).json()["data"]["order"] is None


def test_sort_keys_reverse_and_edges(sandbox: ShopifySandbox) -> None:
    q = "query($r: Boolean) { orders(first: 250, sortKey: CREATED_AT, reverse: $r) { edges { cursor node { name } } } }"
    fwd = [e["node"]["name"] for e in gql(sandbox, q, {"r": False}).json()["data"]["orders"]["edges"]]
    back = [e["node"]["name"] for e in gql(sandbox, q, {"r": True}).json()["data"]["orders"]["edges"]]
    assert fwd == [o["name"] for o in ORDERS] and back == fwd[::-1]
    ids = gql(sandbox, "{ orders(first: 5, sortKey: ID) { nodes { legacyResourceId } } }").json()
    values = [int(n["legacyResourceId"]) for n in ids["data"]["orders"]["nodes"]]
    assert values == sorted(values)


def test_search_syntax() -> None:
    now = datetime(2026, 6, 1, tzinfo=timezone.utc)
    orders = generate_orders(120, seed=5)

    def names(query: str) -> set[str]:
        pred = compile_query(query, now)
        return {o["name"] for o in orders if pred(o)}

    every = {o["name"] for o in orders}
    paid = {o["name"] for o in orders if o["displayFinancialStatus"] == "PAID"}
    pending = {o["name"] for o in orders if o["displayFinancialStatus"] == "PENDING"}
    tests = {o["name"] for o in orders if o["test"]}
    assert names("financial_status:paid") == paid
    assert names("financial_status:paid OR financial_status:pending") == paid | pending
    assert names("(financial_status:paid OR financial_status:pending) -test:true") == (paid | pending) - tests
    assert names("financial_status:paid AND NOT test:true") == paid - tests
    assert names("no_such_field:1 financial_status:paid") == paid  # unknown field: ignored
    assert names("-no_such_field:1") == every
    assert names("name:1007") == names("name:'#1007'") == {"#1007"}
    assert names('created_at:<"2026-01-06T00:00:00Z"') == {
        o["name"] for o in orders if o["createdAt"] < "2026-01-06T00:00:00Z"
    }
    assert names("created_at:2026-01-05") == {o["name"] for o in orders if o["createdAt"].startswith("2026-01-05")}
    assert names("created_at:<=2025") == set() and names("created_at:<now") == every
    tagged = {o["name"] for o in orders if "vip" in o["tags"]}
    assert tagged and names("tag:VIP") == tagged and names("tag_not:vip") == every - tagged
    assert names("status:cancelled") == {o["name"] for o in orders if o["cancelledAt"]}
    assert names("status:open") == {o["name"] for o in orders if not o["closed"] and not o["cancelledAt"]}
    assert names("fulfillment_status:unfulfilled") == {
        o["name"] for o in orders if o["displayFulfillmentStatus"] in ("UNFULFILLED", "PARTIALLY_FULFILLED")
    }
    assert names("fulfillment_status:shipped") == {
        o["name"] for o in orders if o["displayFulfillmentStatus"] == "FULFILLED"
    }
    email = orders[0]["email"]
    assert orders[0]["name"] in names(f"email:{email.upper()}")


def test_cost_requested_and_actual(sandbox: ShopifySandbox) -> None:
    body = gql(
        sandbox,
        '{ orders(first: 10, query: "name:1001 OR name:1002") { pageInfo { hasNextPage } '
        "nodes { id totalPriceSet { shopMoney { amount } } shippingLines(first: 5) { nodes { title } } } } }",
    ).json()
    cost = body["extensions"]["cost"]
    assert cost["requestedQueryCost"] == 2 + 10 * (1 + 2 + 5)
    assert cost["actualQueryCost"] == 2 + 2 * (1 + 2 + 1)


def test_max_cost_exceeded(sandbox: ShopifySandbox) -> None:
    body = gql(sandbox, "{ orders(first: 250) { nodes { lineItems(first: 250) { nodes { id } } } } }").json()
    assert "data" not in body
    assert body["errors"][0]["extensions"]["code"] == "MAX_COST_EXCEEDED"


def test_leaky_bucket_throttles_and_restores() -> None:
    clock = FakeClock()
    sb = ShopifySandbox(orders=ORDERS[:48], bucket_size=60, restore_rate=10, clock=clock).start()
    try:
        q = "{ orders(first: 50) { nodes { id } } }"  # requested 2 + 50, actual 2 + 48: 2 refunded
        first = gql(sb, q).json()
        assert first["extensions"]["cost"]["actualQueryCost"] == 50
        assert first["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] == 60 - 52 + 2
        throttled = requests.post(sb.api_url, json={"query": q}, headers=SHOPIFY_TOKEN, timeout=10)
        body = throttled.json()
        assert throttled.status_code == 200 and "data" not in body
        assert body["errors"][0]["extensions"]["code"] == "THROTTLED"
        assert body["extensions"]["cost"]["actualQueryCost"] is None
        assert body["extensions"]["cost"]["requestedQueryCost"] == 52
        clock.advance(4.4)  # 10 + 44 >= 52
        assert "data" in gql(sb, q).json()
        assert [r["throttled"] for r in sb.requests] == [False, True, False]
    finally:
        sb.stop()


def test_faults(sandbox: ShopifySandbox) -> None:
    q = "{ orders(first: 1) { nodes { id } } }"
    sandbox.inject_fault("500")
    sandbox.inject_fault("throttle")
    sandbox.inject_fault("401")
    assert gql(sandbox, q).status_code == 500
    assert gql(sandbox, q).json()["errors"][0]["extensions"]["code"] == "THROTTLED"
    r = gql(sandbox, q)
    assert r.status_code == 401 and r.json() == {"errors": INVALID_TOKEN}
    assert "data" in gql(sandbox, q).json()


def test_auth_static_and_client_credentials() -> None:
    clock = FakeClock()
    sb = ShopifySandbox(orders=ORDERS[:2], clock=clock, client_token_ttl=100).start()
    try:
        q = "{ orders(first: 1) { nodes { id } } }"
        bad = gql(sb, q, headers={"X-Shopify-Access-Token": "shpat_nope"})
        assert bad.status_code == 401 and bad.json()["errors"] == INVALID_TOKEN
        assert gql(sb, q, headers={}).status_code == 401
        url = sb.origin + "/admin/oauth/access_token"
        wrong = requests.post(
            url, data={"grant_type": "client_credentials", "client_id": sb.client_id, "client_secret": "x"}, timeout=10
        )
        assert wrong.status_code in (400, 401) and wrong.json()["error"] == "invalid_client"
        ok = requests.post(
            url,
            data={"grant_type": "client_credentials", "client_id": sb.client_id, "client_secret": sb.client_secret},
            timeout=10,
        )
        grant = ok.json()
        assert ok.status_code == 200 and grant["access_token"].startswith("shpat_")
        assert grant["scope"] == "read_orders,read_customers,read_products" and grant["expires_in"] == 100
        header = {"X-Shopify-Access-Token": grant["access_token"]}
        assert gql(sb, q, headers=header).status_code == 200
        clock.advance(101)
        assert gql(sb, q, headers=header).status_code == 401
    finally:
        sb.stop()


def test_update_and_refund_move_updated_at(sandbox: ShopifySandbox) -> None:
    order = next(o for o in ORDERS if o["displayFinancialStatus"] == "PAID" and len(o["lineItems"]) > 1)
    before = sandbox.orders[order["id"]]["updatedAt"]
    sandbox.update_order(order["id"], tags=["exported"])
    after = sandbox.orders[order["id"]]["updatedAt"]
    assert after > before
    found = fetch_all(sandbox, f"updated_at:>='{after}' tag:exported")
    assert [n["id"] for n in found] == [order["id"]]
    refund = sandbox.add_refund(order["id"], make_refund(order, {order["lineItems"][0]["id"]: 1}))
    stored = sandbox.orders[order["id"]]
    assert stored["displayFinancialStatus"] == "PARTIALLY_REFUNDED" and stored["updatedAt"] > after
    node = gql(
        sandbox,
        "query($id: ID!) { order(id: $id) { refunds(first: 10) { id totalRefundedSet "
        "{ shopMoney { amount } } refundLineItems(first: 5) { nodes { quantity lineItem { id } } } } } }",
        {"id": order["id"]},
    ).json()["data"]["order"]
    assert node["refunds"][0]["id"] == refund["id"]
    assert node["refunds"][0]["refundLineItems"]["nodes"][0]["lineItem"]["id"] == order["lineItems"][0]["id"]


def test_seed_is_deterministic_and_consistent() -> None:
    assert generate_orders(40, seed=9) == generate_orders(40, seed=9)
    assert generate_orders(40, seed=9) != generate_orders(40, seed=10)
    orders = generate_orders(300) + demo_orders()
    emails: dict[str, set[str]] = {}
    for o in orders:
        assert o["updatedAt"] >= o["createdAt"]
        emails.setdefault((o["email"] or "").strip().lower(), set()).add(o["email"])
        for side in ("presentmentMoney", "shopMoney"):
            parsed = parse_order(o, side)  # type: ignore[arg-type]
            assert sum((li.total for li in parsed.lines), Decimal(0)) == parsed.subtotal
            assert parsed.total == parsed.subtotal + parsed.total_shipping
            assert parsed.total_discounts == sum((li.discount for li in parsed.lines), Decimal(0))
            for li in parsed.lines:
                r = li.tax_lines[0].rate
                assert li.tax_lines[0].amount == (li.total * r / (1 + r)).quantize(Decimal("0.01"))
            for refund in parsed.refunds:
                parts = [x.subtotal + x.tax for x in refund.lines] + [s.subtotal + s.tax for s in refund.shipping]
                assert refund.total == sum(parts, Decimal(0))
    created = [o["createdAt"] for o in generate_orders(300)]
    assert created == sorted(created)
    assert any(len(v) > 1 for v in emails.values())  # repeat customers typing their e-mail differently
    currencies = {o["presentmentCurrencyCode"] for o in orders}
    assert currencies == {"SEK", "EUR"}
    assert {p["vat_rate"] for p in catalogue()} == {Decimal("0.25"), Decimal("0.12"), Decimal("0.06")}
    assert len(demo_orders()) == 12 and len({o["name"] for o in demo_orders()}) == 12


def test_taxes_excluded_shop_adds_tax_on_top() -> None:
    for o in generate_orders(30, seed=2, taxes_included=False):
        parsed = parse_order(o)
        assert not parsed.taxes_included
        assert parsed.total == parsed.subtotal + parsed.total_shipping + parsed.total_tax
