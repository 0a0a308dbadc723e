"""ShopifyClient against the loopback Shopify sandbox over real HTTP.

Throttling tests share one fake clock between the sandbox's leaky bucket and the
client's sleep, so a wait the client computes is exactly the time the bucket
sees pass, and nothing really sleeps.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from shopvisma.errors import AuthError, ExitCode, ShopvismaError, UnavailableError
from shopvisma.http import make_session
from shopvisma.shopify.auth import ShopifyTokenProvider, client_credentials_token
from shopvisma.shopify.client import ShopifyClient
from shopvisma.shopify.queries import ORDERS_QUERY
from shopvisma.shopify.search import build_search
from support.clock import FakeClock

sandbox_mod = pytest.importorskip("shopvisma.sandbox.shopify.server")
ShopifySandbox = sandbox_mod.ShopifySandbox
TokenFile = pytest.importorskip("shopvisma.state.secrets").TokenFile

SECRET = "sandbox-shopify-secret"
STATIC = "shpat_sandbox"


def _money(amount: str) -> dict[str, Any]:
    return {
        "shopMoney": {"amount": amount, "currencyCode": "SEK"},
        "presentmentMoney": {"amount": amount, "currencyCode": "SEK"},
    }


def make_order(i: int, lines: int = 2) -> dict[str, Any]:
    t = datetime(2026, 3, 1, tzinfo=timezone.utc) + timedelta(minutes=i)
    stamp = t.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "id": f"gid://shopify/Order/{5000 + i}",
        "name": f"#{1000 + i}",
        "email": f"buyer{i}@example.com",
        "createdAt": stamp,
        "updatedAt": stamp,
        "displayFinancialStatus": "PAID",
        "currencyCode": "SEK",
        "presentmentCurrencyCode": "SEK",
        "totalPriceSet": _money(f"{100 * lines}.00"),
        "lineItems": [
            {
                "id": f"gid://shopify/LineItem/{i * 1000 + n}",
                "sku": f"SKU-{n}",
                "title": f"Thing {n}",
                "quantity": 1,
                "originalUnitPriceSet": _money("100.00"),
            }
            for n in range(lines)
        ],
    }


@pytest.fixture
def shop() -> Iterator[Any]:
    sb = ShopifySandbox(orders=[make_order(i) for i in range(30)]).start()
    try:
        yield sb
    finally:
        sb.stop()


def quick_session(url: str) -> Any:
    return make_session(backoff_factor=0, post_is_read_for=[url])


def client_for(sb: Any, **kw: Any) -> ShopifyClient:
    kw.setdefault("session", quick_session(sb.api_url))
    return ShopifyClient(sb.api_url, lambda: STATIC, **kw)


def graphql_requests(sb: Any) -> list[dict[str, Any]]:
    return [r for r in sb.requests if r.get("operation")]


# -- search ----------------------------------------------------------------------


@dataclass
class Criteria:
    financial_status: tuple[str, ...] = ("paid",)
    fulfillment_status: tuple[str, ...] = ()
    tags_include: tuple[str, ...] = ()
    tags_exclude: tuple[str, ...] = ()


def test_build_search_full() -> None:
    crit = Criteria(
        ("paid", "partially_refunded"),
        ("unfulfilled", "partially_fulfilled", "fulfilled", "on_hold"),
        ("wholesale", "big spender"),
        ("no-export",),
    )
    cet = timezone(timedelta(hours=1))
    got = build_search(
        crit, updated_since=datetime(2026, 3, 1, 13, 0, 5, tzinfo=cet), created_at_min=datetime(2026, 1, 1)
    )
    assert got == (
        "updated_at:>='2026-03-01T12:00:05Z' created_at:>='2026-01-01T00:00:00Z' "
        "(financial_status:paid OR financial_status:partially_refunded) "
        "(fulfillment_status:unfulfilled OR fulfillment_status:partial OR fulfillment_status:fulfilled "
        "OR fulfillment_status:on_hold) "
        "(tag:wholesale OR tag:'big spender') tag_not:no-export test:false"
    )


def test_build_search_minimal() -> None:
    assert build_search(Criteria(()), updated_since=None, created_at_min=None) == "test:false"
    assert build_search(Criteria(), updated_since=None, created_at_min=None) == "financial_status:paid test:false"


# -- paging ------------------------------------------------------------------------


def test_iter_orders_streams_all_pages_sized_from_cost(shop: Any) -> None:
    client = client_for(shop)
    it = client.iter_orders("test:false")
    first = next(it)
    assert client.requests == 1  # streaming: nothing fetched beyond the first page yet
    cost_first_page = client.last_cost["requestedQueryCost"]
    rest = list(it)
    names = [first["name"]] + [o["name"] for o in rest]
    assert names == [f"#{1000 + i}" for i in range(30)]
    pages = [r["variables"]["first"] for r in graphql_requests(shop)]
    assert pages[0] == 5
    # page size = what fits in 1000 points at the measured per-order cost
    per_order = cost_first_page / 5
    assert pages[1] == min(250, int(1000 // per_order))
    assert len(pages) == 1 + -(-25 // pages[1])
    assert client.cost_spent > 0 and client.last_throttle_status is not None


def test_iter_orders_fixed_page_size_and_search(shop: Any) -> None:
    client = client_for(shop)
    names = [o["name"] for o in client.iter_orders("name:1003 OR name:1007", page_size=1)]
    assert sorted(names) == ["#1003", "#1007"]
    assert all(r["variables"]["first"] == 1 for r in graphql_requests(shop))


def test_lines_beyond_first_page_are_fetched_and_merged() -> None:
    sb = ShopifySandbox(orders=[make_order(1, lines=3), make_order(2, lines=130)]).start()
    try:
        client = client_for(sb)
        orders = list(client.iter_orders("test:false", lines=10))
        by_name = {o["name"]: o for o in orders}
        big = by_name["#1002"]["lineItems"]
        assert len(big["nodes"]) == 130
        assert [n["sku"] for n in big["nodes"]] == [f"SKU-{n}" for n in range(130)]
        assert big["pageInfo"]["hasNextPage"] is False
        assert len(by_name["#1001"]["lineItems"]["nodes"]) == 3
        ops = [r["operation"] for r in graphql_requests(sb)]
        assert ops.count("OrderLines") == 2  # 120 remaining lines at 100 per page
    finally:
        sb.stop()


def test_query_over_max_cost_shrinks_page() -> None:
    sb = ShopifySandbox(orders=[make_order(i, lines=1) for i in range(12)]).start()
    try:
        client = client_for(sb)
        orders = list(client.iter_orders("test:false", lines=250))
        assert len(orders) == 12
        assert all(r["cost"] <= 1000 for r in graphql_requests(sb))
    finally:
        sb.stop()


# -- throttling --------------------------------------------------------------------

QUERY = {"first": 5, "query": "", "lines": 2}  # requests 87 points, uses 37


def test_throttled_waits_exactly_from_throttle_status() -> None:
    # restore rate 8 and a small epoch: waits are exact binary fractions, no float drift
    ft = FakeClock(1_000_000.0)
    sb = ShopifySandbox(orders=[make_order(i) for i in range(5)], bucket_size=120, restore_rate=8, clock=ft).start()
    try:
        drain = client_for(sb, sleep=ft.sleep, clock=ft)
        drain.execute(ORDERS_QUERY, QUERY)
        # Shopify refunds the unused part of each query, so drain it by repetition.
        while drain.last_throttle_status["currentlyAvailable"] >= drain.last_cost["requestedQueryCost"]:
            drain.execute(ORDERS_QUERY, QUERY)
        assert ft.sleeps == []
        status = drain.last_throttle_status
        requested = drain.last_cost["requestedQueryCost"]
        assert status["currentlyAvailable"] < requested  # the bucket cannot take a third one now
        # A second client knows nothing of the bucket, so Shopify throttles it once.
        client = client_for(sb, sleep=ft.sleep, clock=ft)
        data = client.execute(ORDERS_QUERY, QUERY)
        assert len(data["orders"]["nodes"]) == 5
        throttled = [r for r in sb.requests if r.get("throttled")]
        assert len(throttled) == 1
        assert ft.sleeps == [(requested - status["currentlyAvailable"]) / 8]
        assert client.requests == 2
    finally:
        sb.stop()


def test_known_cost_waits_before_sending_never_throttled() -> None:
    ft = FakeClock()
    sb = ShopifySandbox(orders=[make_order(i) for i in range(5)], bucket_size=120, restore_rate=10, clock=ft).start()
    try:
        client = client_for(sb, sleep=ft.sleep, clock=ft)
        for n in range(1, 400):  # noqa: B007 - the count is asserted after the loop  # the bucket drains by the actual cost of each query
            client.execute(ORDERS_QUERY, QUERY)
            if len(ft.sleeps) >= 3:
                break
        assert not [r for r in sb.requests if r.get("throttled")]
        assert len(ft.sleeps) >= 3 and all(s > 0 for s in ft.sleeps)
        assert client.requests == n
    finally:
        sb.stop()


def test_forced_throttle_storm_hits_wait_cap(shop: Any) -> None:
    ft = FakeClock()
    shop.inject_fault("throttle", times=50)
    client = client_for(shop, sleep=ft.sleep, clock=ft, max_wait=5)
    with pytest.raises(UnavailableError) as ei:
        client.execute(ORDERS_QUERY, {"first": 1, "query": "", "lines": 1})
    assert ei.value.exit_code == ExitCode.UNAVAILABLE
    assert sum(ft.sleeps) <= 5


def test_http_500_is_retried(shop: Any) -> None:
    shop.inject_fault("500", times=2)
    client = client_for(shop)
    data = client.execute(ORDERS_QUERY, {"first": 1, "query": "", "lines": 1})
    assert len(data["orders"]["nodes"]) == 1
    assert [r["status"] for r in shop.requests][:3] == [500, 500, 200]


def test_persistent_500_ends_unavailable(shop: Any) -> None:
    ft = FakeClock()
    shop.inject_fault("500", times=1000)
    client = client_for(shop, sleep=ft.sleep, clock=ft, max_wait=10)
    with pytest.raises(UnavailableError):
        client.execute(ORDERS_QUERY, {"first": 1, "query": "", "lines": 1})
    assert ft.sleeps[:3] == [1.0, 2.0, 4.0]  # backoff between urllib3's own rounds


def test_connection_refused_ends_unavailable() -> None:
    ft = FakeClock()
    client = ShopifyClient(
        "http://127.0.0.1:9/admin/api/2025-07/graphql.json",
        lambda: STATIC,
        session=quick_session("http://127.0.0.1:9"),
        sleep=ft.sleep,
        clock=ft,
        max_wait=3,
    )
    with pytest.raises(UnavailableError):
        client.execute(ORDERS_QUERY, {"first": 1, "query": "", "lines": 1})


def test_graphql_error_becomes_shopvisma_error(shop: Any) -> None:
    with pytest.raises(ShopvismaError, match="nope"):
        client_for(shop).execute("query { nope }", {})


# -- auth --------------------------------------------------------------------------


def test_static_token_401_is_auth_error(shop: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    shop.inject_fault("401")
    with pytest.raises(AuthError) as ei:
        client_for(shop).execute(ORDERS_QUERY, {"first": 1, "query": "", "lines": 1})
    assert ei.value.exit_code == ExitCode.NOPERM
    assert "shopvisma login shopify" in str(ei.value)
    assert STATIC not in str(ei.value) and STATIC not in caplog.text


def test_client_credentials_cached_renewed_and_saved(shop: Any, tmp_path: Path) -> None:
    ft = FakeClock()
    tokens = TokenFile(tmp_path / "tokens.json")
    t1 = client_credentials_token(shop.origin, shop.client_id, SECRET, tokens, clock=ft)
    assert t1.startswith("shpat_")
    saved = tokens.load()["shopify"]
    assert saved["access_token"] == t1 and saved["expires_at"] == pytest.approx(ft.now + 86399)
    assert stat.S_IMODE(os.stat(tmp_path / "tokens.json").st_mode) == 0o600
    assert client_credentials_token(shop.origin, shop.client_id, SECRET, tokens, clock=ft) == t1
    assert len(shop.token_requests) == 1
    ft.advance(86399 - 3000)  # less than an hour left: renew
    t2 = client_credentials_token(shop.origin, shop.client_id, SECRET, tokens, clock=ft)
    assert t2 != t1 and len(shop.token_requests) == 2
    assert tokens.load()["shopify"]["access_token"] == t2


def test_client_credentials_wrong_secret(shop: Any, tmp_path: Path) -> None:
    with pytest.raises(AuthError) as ei:
        client_credentials_token(shop.origin, shop.client_id, "wrong-secret-value", TokenFile(tmp_path / "t.json"))
    assert "shopvisma login shopify" in str(ei.value)
    assert "wrong-secret-value" not in str(ei.value)


def test_401_renews_client_token_once(shop: Any, tmp_path: Path) -> None:
    tokens = TokenFile(tmp_path / "tokens.json")
    provider = ShopifyTokenProvider(shop.origin, shop.client_id, SECRET, tokens)
    client = ShopifyClient(shop.api_url, provider, session=quick_session(shop.api_url))
    client.execute(ORDERS_QUERY, {"first": 1, "query": "", "lines": 1})
    shop.inject_fault("401")
    client.execute(ORDERS_QUERY, {"first": 1, "query": "", "lines": 1})
    assert len(shop.token_requests) == 2  # one initial, one forced after the 401
    shop.inject_fault("401", times=2)
    with pytest.raises(AuthError) as ei:
        client.execute(ORDERS_QUERY, {"first": 1, "query": "", "lines": 1})
    text = str(ei.value) + repr(ei.value) + repr(provider)
    assert SECRET not in text
    assert tokens.load()["shopify"]["access_token"] not in text


def test_refunds_fetched_only_for_refunded_orders(shop: Any) -> None:
    shop.add_refund(
        "gid://shopify/Order/5003",
        {
            "totalRefundedSet": _money("100.00"),
            "refundLineItems": [
                {
                    "quantity": 1,
                    "subtotalSet": _money("100.00"),
                    "totalTaxSet": _money("0.00"),
                    "lineItem": {"id": "gid://shopify/LineItem/3000", "sku": "SKU-0"},
                }
            ],
        },
    )
    client = client_for(shop)
    orders = {o["name"]: o for o in client.iter_orders("test:false")}
    assert len(orders) == 30
    refunds = orders["#1003"]["refunds"]
    assert len(refunds) == 1 and refunds[0]["totalRefundedSet"]["shopMoney"]["amount"] in ("100.00", "100.0")
    assert refunds[0]["refundLineItems"]["nodes"][0]["lineItem"]["sku"] == "SKU-0"
    assert all(o["refunds"] == [] for name, o in orders.items() if name != "#1003")
    ops = [r["operation"] for r in graphql_requests(shop)]
    assert ops.count("OrderRefunds") == 1


def test_seeded_orders_round_trip() -> None:
    seed = pytest.importorskip("shopvisma.sandbox.seed.orders")
    generated = seed.generate_orders(40, seed=3)
    ft = FakeClock()
    sb = ShopifySandbox(orders=generated, clock=ft).start()
    try:
        client = client_for(sb, sleep=ft.sleep, clock=ft)
        got = list(client.iter_orders("test:false"))
        expected = {o["name"] for o in generated if not o.get("test")}
        assert {o["name"] for o in got} == expected
        for node in got:
            assert node["lineItems"]["pageInfo"]["hasNextPage"] is False
            assert isinstance(node["refunds"], list)
        assert client.requests < 40
    finally:
        sb.stop()
