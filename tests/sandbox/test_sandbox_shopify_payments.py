"""The Shopify emulator's payment transactions and write-back mutations, over real HTTP."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import pytest
import requests
from graphql import GraphQLInputObjectType, GraphQLObjectType, GraphQLSchema, parse, validate
from hypothesis import given, settings
from hypothesis import strategies as st

from shopvisma.sandbox.seed.catalogue import CATALOGUE
from shopvisma.sandbox.seed.orders import build_order, demo_orders, generate_orders, make_refund
from shopvisma.sandbox.seed.payments import money_in
from shopvisma.sandbox.shopify.server import ShopifySandbox, load_schema
from support.clock import FakeClock
from support.sandboxes import shopify_data, shopify_post, unthrottled_shop

ORDERS = generate_orders(120, seed=7)
_MONEY = "{ shopMoney { amount currencyCode } presentmentMoney { amount currencyCode } }"
TXN = (
    f"id kind status gateway formattedGateway test processedAt createdAt amountSet {_MONEY} "
    "parentTransaction { id } fees { id rate amount { amount currencyCode } }"
)
ORDER_TXNS = f"""query OrderTxns($id: ID!) {{
  order(id: $id) {{
    id updatedAt displayFinancialStatus
    transactions(first: 20) {{ {TXN} }}
    refunds(first: 10) {{ id transactions(first: 10) {{ pageInfo {{ hasNextPage }} nodes {{ {TXN} }} }} }}
  }}
}}"""
TAGS_ADD = """mutation TagsAdd($id: ID!, $tags: [String!]!) {
  tagsAdd(id: $id, tags: $tags) { node { id ... on Order { tags updatedAt } } userErrors { field message } }
}"""
TAGS_REMOVE = """mutation TagsRemove($id: ID!, $tags: [String!]!) {
  tagsRemove(id: $id, tags: $tags) { node { id ... on Order { tags } } userErrors { field message } }
}"""
METAFIELDS_SET = """mutation MetafieldsSet($metafields: [MetafieldsSetInput!]!) {
  metafieldsSet(metafields: $metafields) {
    metafields { id namespace key value type compareDigest }
    userErrors { field message code elementIndex }
  }
}"""
READ_METAFIELD = """query ReadMetafield($id: ID!, $ns: String, $key: String!) {
  order(id: $id) { updatedAt metafield(namespace: $ns, key: $key) { id namespace key value type jsonValue ownerType }
                   metafields(first: 10) { nodes { key value } } }
}"""


@pytest.fixture
def sandbox() -> Iterator[ShopifySandbox]:
    with unthrottled_shop(ORDERS) as sb:
        yield sb


def gql(sb: ShopifySandbox, query: str, variables: dict[str, Any] | None = None, token: str | None = None) -> Any:
    headers = {"X-Shopify-Access-Token": token} if token else None
    r = shopify_post(sb, query, variables, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def order_txns(sb: ShopifySandbox, gid: str) -> dict[str, Any]:
    return shopify_data(sb, ORDER_TXNS, {"id": gid})["data"]["order"]


def total(order: dict[str, Any], side: str = "shopMoney") -> Decimal:
    return Decimal(order["totalPriceSet"][side]["amount"])


def paid_order(pattern: str | None = None) -> dict[str, Any]:
    for o in ORDERS:
        kinds = [(t["kind"], t["gateway"]) for t in o["transactions"]]
        if o["displayFinancialStatus"] != "PAID" or o["test"]:
            continue
        if pattern is None or (pattern == "split" and ("SALE", "gift_card") in kinds):
            return o
    raise AssertionError(f"no {pattern} order in the seed")


# ----------------------------------------------------------------- transactions, paged
def test_order_transactions_are_a_list_with_linked_parents(sandbox: ShopifySandbox) -> None:
    order = next(o for o in ORDERS if any(t["kind"] == "CAPTURE" for t in o["transactions"]))
    served = order_txns(sandbox, order["id"])["transactions"]
    auth, capture = served[:2]
    assert (auth["kind"], capture["kind"]) == ("AUTHORIZATION", "CAPTURE")
    assert capture["parentTransaction"] == {"id": auth["id"]} and auth["parentTransaction"] is None
    assert auth["fees"] == [] and capture["fees"][0]["rate"] == "0.019"  # fees come with the money
    assert (
        auth["id"].startswith("gid://shopify/OrderTransaction/") and capture["formattedGateway"] == "Shopify Payments"
    )
    one = shopify_data(
        sandbox, "query($id: ID!) { order(id: $id) { transactions(first: 1) { id } } }", {"id": order["id"]}
    )
    assert one["data"]["order"]["transactions"] == [{"id": auth["id"]}]


def test_capturable_and_manually_resolvable_filters(sandbox: ShopifySandbox) -> None:
    q = (
        "query($id: ID!) { order(id: $id) { open: transactions(capturable: true) { kind } "
        "manual: transactions(manuallyResolvable: true) { kind status gateway } } }"
    )
    authorized = next(o for o in ORDERS if o["displayFinancialStatus"] == "AUTHORIZED")
    pending = next(o for o in ORDERS if o["displayFinancialStatus"] == "PENDING")
    captured = next(o for o in ORDERS if any(t["kind"] == "CAPTURE" for t in o["transactions"]))
    a = shopify_data(sandbox, q, {"id": authorized["id"]})["data"]["order"]
    p = shopify_data(sandbox, q, {"id": pending["id"]})["data"]["order"]
    c = shopify_data(sandbox, q, {"id": captured["id"]})["data"]["order"]
    assert a == {"open": [{"kind": "AUTHORIZATION"}], "manual": []}
    assert p == {"open": [], "manual": [{"kind": "SALE", "status": "PENDING", "gateway": "manual"}]}
    assert c["open"] == []  # captured: nothing left to capture


def test_transactions_cost_like_a_list(sandbox: ShopifySandbox) -> None:
    q = "query($id: ID!) { order(id: $id) { transactions(first: 20) { id parentTransaction { id } } } }"
    body = gql(sandbox, q, {"id": paid_order()["id"]})
    assert body["extensions"]["cost"]["requestedQueryCost"] == 1 + 1 + 1  # order, the list once, the parent


# ----------------------------------------------------------------- transactions, bulk
def test_bulk_transactions_are_inline_and_match_the_paged_read(sandbox: ShopifySandbox) -> None:
    inner = f"{{ orders {{ edges {{ node {{ id transactions {{ {TXN} }} lineItems {{ edges {{ node {{ id }} }} }} }} }} }} }}"
    run = shopify_data(
        sandbox,
        "mutation($q: String!) { bulkOperationRunQuery(query: $q) { bulkOperation { id } userErrors { message } } }",
        {"q": inner},
    )
    assert run["data"]["bulkOperationRunQuery"]["userErrors"] == []
    op = shopify_data(sandbox, "{ currentBulkOperation { status url } }")["data"]["currentBulkOperation"]
    lines = [json.loads(x) for x in requests.get(op["url"], timeout=30).text.splitlines()]
    roots = [x for x in lines if "__parentId" not in x]
    children = [x for x in lines if "__parentId" in x]
    assert len(roots) == len(ORDERS)
    assert all(set(c) == {"id", "__parentId"} and "/LineItem/" in c["id"] for c in children)  # no transaction lines
    for root in roots[:25]:
        assert root["transactions"] == order_txns(sandbox, root["id"])["transactions"]
    assert any(len(r["transactions"]) > 1 for r in roots)


def test_refund_transactions_connection_inside_refunds_list_is_refused_in_bulk(sandbox: ShopifySandbox) -> None:
    inner = "{ orders { edges { node { id refunds { id transactions { edges { node { id } } } } } } } }"
    run = shopify_data(
        sandbox,
        "mutation($q: String!) { bulkOperationRunQuery(query: $q) { userErrors { message } } }",
        {"q": inner},
    )
    messages = [e["message"] for e in run["data"]["bulkOperationRunQuery"]["userErrors"]]
    assert messages == ["Queries that contain a connection field within a list field are not currently supported."]


# ----------------------------------------------------------------- seed
def _check_money(order: dict[str, Any]) -> None:
    txns = order["transactions"]
    status = order["displayFinancialStatus"]
    for side in ("shopMoney", "presentmentMoney"):
        paid = money_in(txns, side)
        refunded = sum(
            (
                Decimal(t["amountSet"][side]["amount"])
                for t in txns
                if t["kind"] == "REFUND" and t["status"] == "SUCCESS"
            ),
            Decimal(0),
        )
        if status in ("PAID", "REFUNDED", "PARTIALLY_REFUNDED"):
            assert paid == total(order, side), (order["name"], side)
            # the seed leaves totalRefundedSet to the sandbox (normalize_order sums the refunds)
            assert refunded == sum(
                (Decimal(r["totalRefundedSet"][side]["amount"]) for r in order["refunds"]), Decimal(0)
            )
        elif status == "PARTIALLY_PAID":
            assert 0 < paid < total(order, side)
        else:
            assert paid == 0 and refunded == 0, order["name"]
        for t in txns:
            assert t["amountSet"][side]["currencyCode"] == order["totalPriceSet"][side]["currencyCode"]
    assert all(t["test"] == order["test"] for t in txns)
    for refund in order["refunds"]:
        assert refund["transactions"] and all(t in txns for t in refund["transactions"])
        assert all(
            t["kind"] == "REFUND" and t["parentTransaction"]["id"] in {p["id"] for p in txns}
            for t in refund["transactions"]
        )
    assert len({t["id"] for t in txns}) == len(txns)


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 10_000), partially_paid=st.sampled_from([0.0, 0.5]))
def test_seeded_payments_add_up(seed: int, partially_paid: float) -> None:
    """Property: a PAID order's successful SALE + CAPTURE amounts equal its total, in both currencies."""
    for order in generate_orders(60, seed=seed, partially_paid=partially_paid):
        _check_money(order)


def test_seed_distribution_and_demo() -> None:
    orders = generate_orders(400, partially_paid=0.3)
    for order in [*orders, *demo_orders()]:
        _check_money(order)
    shapes = Counter(
        "+".join(f"{t['kind']}:{t['status']}:{t['gateway']}" for t in o["transactions"] if t["kind"] != "REFUND")
        for o in orders
    )
    for shape in (
        "SALE:SUCCESS:shopify_payments",
        "SALE:SUCCESS:paypal",
        "SALE:SUCCESS:gift_card+SALE:SUCCESS:shopify_payments",
        "AUTHORIZATION:SUCCESS:shopify_payments+CAPTURE:SUCCESS:shopify_payments",
        "SALE:FAILURE:shopify_payments+SALE:SUCCESS:shopify_payments",
        "AUTHORIZATION:SUCCESS:shopify_payments",
        "AUTHORIZATION:SUCCESS:shopify_payments+VOID:SUCCESS:shopify_payments",
        "SALE:PENDING:manual",
        "SALE:SUCCESS:bogus",
    ):
        assert shapes[shape] > 0, (shape, shapes)
    assert max(shapes, key=lambda k: shapes[k]) == "SALE:SUCCESS:shopify_payments"
    assert any(o["displayFinancialStatus"] == "PARTIALLY_PAID" for o in orders)
    assert not any(o["displayFinancialStatus"] == "PARTIALLY_PAID" for o in generate_orders(400))  # opt-in
    foreign = [o for o in orders if o["presentmentCurrencyCode"] != o["currencyCode"] and o["transactions"]]
    assert foreign and all(
        t["amountSet"]["shopMoney"]["amount"] != t["amountSet"]["presentmentMoney"]["amount"]
        for o in foreign
        for t in o["transactions"]
    )
    assert generate_orders(50, seed=4) == generate_orders(50, seed=4)


def test_build_order_takes_a_pattern_or_explicit_transactions() -> None:
    base = ORDERS[0]
    kw: dict[str, Any] = {
        "created": datetime(2026, 2, 1, 9, 0, tzinfo=timezone.utc),
        "lines": [{"product": CATALOGUE[0], "qty": 1, "line_pct": Decimal(0)}],
        "customer": None,
        "email": "x@example.se",
        "address": base["shippingAddress"],
    }
    paypal = build_order(900, payment="paypal", **kw)
    assert [(t["kind"], t["gateway"]) for t in paypal["transactions"]] == [("SALE", "paypal")]
    explicit = build_order(901, payment=[{"id": "gid://shopify/OrderTransaction/1", "kind": "SALE"}], **kw)
    assert explicit["transactions"] == [{"id": "gid://shopify/OrderTransaction/1", "kind": "SALE"}]


# ----------------------------------------------------------------- refunds
def test_add_refund_pays_back_through_the_payments(sandbox: ShopifySandbox) -> None:
    order = paid_order("split")
    gift, card = order["transactions"]
    refund = sandbox.add_refund(order["id"], make_refund(sandbox.orders[order["id"]], None, shipping=True))
    served = order_txns(sandbox, order["id"])
    assert served["displayFinancialStatus"] == "REFUNDED"
    refunds = [t for t in served["transactions"] if t["kind"] == "REFUND"]
    assert [t["parentTransaction"]["id"] for t in refunds] == [card["id"], gift["id"]]  # card first, gift card last
    assert [t["amountSet"]["shopMoney"]["amount"] for t in refunds] == [
        card["amountSet"]["shopMoney"]["amount"],
        gift["amountSet"]["shopMoney"]["amount"],
    ]
    assert served["refunds"][0]["id"] == refund["id"]
    assert served["refunds"][0]["transactions"]["nodes"] == refunds
    assert served["refunds"][0]["transactions"]["pageInfo"] == {"hasNextPage": False}


def test_partial_refund_of_a_foreign_order_in_both_currencies(sandbox: ShopifySandbox) -> None:
    order = next(
        o
        for o in ORDERS
        if o["presentmentCurrencyCode"] != o["currencyCode"]
        and o["displayFinancialStatus"] == "PAID"
        and not o["refunds"]
    )
    r = make_refund(sandbox.orders[order["id"]], {order["lineItems"][0]["id"]: 1})
    sandbox.add_refund(order["id"], r)
    (txn,) = order_txns(sandbox, order["id"])["refunds"][0]["transactions"]["nodes"]
    assert txn["amountSet"]["shopMoney"] == r["totalRefundedSet"]["shopMoney"]
    assert txn["amountSet"]["presentmentMoney"] == r["totalRefundedSet"]["presentmentMoney"]


def test_set_transactions_helper(sandbox: ShopifySandbox) -> None:
    order = next(o for o in ORDERS if o["refunds"])
    refund_id = order["refunds"][0]["id"]
    before = sandbox.orders[order["id"]]["updatedAt"]
    done = sandbox.set_transactions(
        order["id"],
        [
            {"id": "gid://shopify/OrderTransaction/1", "gateway": "paypal", "amount": "10.00"},
            {
                "id": "gid://shopify/OrderTransaction/2",
                "kind": "REFUND",
                "amount": "4.00",
                "parentTransaction": "gid://shopify/OrderTransaction/1",
            },
            {"kind": "SALE", "status": "FAILURE"},
        ],
        refunds={refund_id: ["gid://shopify/OrderTransaction/2"]},
    )
    assert done[2]["id"].startswith("gid://shopify/OrderTransaction/99")
    served = order_txns(sandbox, order["id"])
    assert [t["id"] for t in served["transactions"]] == [t["id"] for t in done]
    assert served["transactions"][1]["parentTransaction"] == {"id": "gid://shopify/OrderTransaction/1"}
    assert served["transactions"][0]["amountSet"]["shopMoney"]["amount"] == "10.00"
    assert [t["id"] for t in served["refunds"][0]["transactions"]["nodes"]] == ["gid://shopify/OrderTransaction/2"]
    assert served["updatedAt"] > before


# ----------------------------------------------------------------- tags
def test_tags_add_dedupes_case_insensitively_and_is_idempotent(sandbox: ShopifySandbox) -> None:
    order = paid_order()
    before = sandbox.orders[order["id"]]["updatedAt"]
    first = gql(sandbox, TAGS_ADD, {"id": order["id"], "tags": ["Visma-Exported, batch 7", " visma-exported "]})
    assert first["extensions"]["cost"] == {
        **first["extensions"]["cost"],
        "requestedQueryCost": 10,
        "actualQueryCost": 10,
    }
    payload = first["data"]["tagsAdd"]
    assert payload["userErrors"] == [] and payload["node"]["id"] == order["id"]
    tags = payload["node"]["tags"]
    assert [t for t in tags if t.lower() in ("visma-exported", "batch 7")] == ["batch 7", "Visma-Exported"]
    assert tags == sorted(set(order["tags"]) | {"batch 7", "Visma-Exported"}, key=str.lower)
    moved = payload["node"]["updatedAt"]
    assert moved > before
    found = shopify_data(
        sandbox,
        "query($q: String) { orders(first: 5, query: $q) { nodes { id } } }",
        {"q": f"updated_at:>'{before}' tag:visma-exported"},
    )
    assert found["data"]["orders"]["nodes"] == [{"id": order["id"]}]
    again = gql(sandbox, TAGS_ADD, {"id": order["id"], "tags": ["VISMA-EXPORTED"]})["data"]["tagsAdd"]
    assert again["node"]["tags"] == tags and again["node"]["updatedAt"] == moved  # no change, no update


def test_tags_remove(sandbox: ShopifySandbox) -> None:
    order = paid_order()
    gql(sandbox, TAGS_ADD, {"id": order["id"], "tags": ["Keep", "drop-me"]})
    out = gql(sandbox, TAGS_REMOVE, {"id": order["id"], "tags": ["DROP-ME", "never-there"]})["data"]["tagsRemove"]
    assert out["userErrors"] == [] and "drop-me" not in out["node"]["tags"] and "Keep" in out["node"]["tags"]
    assert (
        shopify_data(sandbox, "query($id: ID!) { order(id: $id) { tags } }", {"id": order["id"]})["data"]["order"][
            "tags"
        ]
        == out["node"]["tags"]
    )


def test_tags_user_errors(sandbox: ShopifySandbox) -> None:
    missing = gql(sandbox, TAGS_ADD, {"id": "gid://shopify/Order/1", "tags": ["x"]})["data"]["tagsAdd"]
    assert missing == {"node": None, "userErrors": [{"field": ["id"], "message": "Order does not exist"}]}
    long = gql(sandbox, TAGS_ADD, {"id": paid_order()["id"], "tags": ["x" * 256]})["data"]["tagsAdd"]
    assert long["userErrors"] == [{"field": ["tags"], "message": "Tags cannot be longer than 255 characters"}]
    bad = gql(sandbox, TAGS_ADD, {"id": "1234", "tags": ["x"]})
    assert bad["data"] == {"tagsAdd": None} and bad["errors"][0]["message"] == "Invalid global id '1234'"


# ----------------------------------------------------------------- metafields
def mf(owner: str, **kw: Any) -> dict[str, Any]:
    return {
        "ownerId": owner,
        "namespace": "shopvisma",
        "key": "visma_invoice",
        "type": "json",
        "value": '{"n": 1}',
        **kw,
    }


def test_metafields_set_writes_reads_and_moves_updated_at(sandbox: ShopifySandbox) -> None:
    gid = paid_order()["id"]
    before = sandbox.orders[gid]["updatedAt"]
    out = gql(
        sandbox,
        METAFIELDS_SET,
        {"metafields": [mf(gid), mf(gid, key="note", type="single_line_text_field", value="ok")]},
    )
    payload = out["data"]["metafieldsSet"]
    assert payload["userErrors"] == [] and [m["key"] for m in payload["metafields"]] == ["visma_invoice", "note"]
    assert out["extensions"]["cost"]["actualQueryCost"] == 10
    read = shopify_data(sandbox, READ_METAFIELD, {"id": gid, "ns": "shopvisma", "key": "visma_invoice"})["data"][
        "order"
    ]
    assert read["metafield"]["value"] == '{"n": 1}' and read["metafield"]["jsonValue"] == {"n": 1}
    assert read["metafield"]["ownerType"] == "ORDER" and read["metafield"]["id"] == payload["metafields"][0]["id"]
    assert [n["key"] for n in read["metafields"]["nodes"]] == ["visma_invoice", "note"]
    moved = read["updatedAt"]
    assert moved > before
    same = gql(sandbox, METAFIELDS_SET, {"metafields": [mf(gid)]})["data"]["metafieldsSet"]
    assert same["metafields"][0]["id"] == payload["metafields"][0]["id"]
    assert sandbox.orders[gid]["updatedAt"] == moved  # same value: nothing changed
    digest = same["metafields"][0]["compareDigest"]
    changed = gql(sandbox, METAFIELDS_SET, {"metafields": [mf(gid, value='{"n": 2}', compareDigest=digest)]})
    assert changed["data"]["metafieldsSet"]["userErrors"] == [] and sandbox.orders[gid]["updatedAt"] > moved
    stale = gql(sandbox, METAFIELDS_SET, {"metafields": [mf(gid, value='{"n": 3}', compareDigest=digest)]})
    assert stale["data"]["metafieldsSet"]["userErrors"][0]["code"] == "STALE_OBJECT"
    no_ns = shopify_data(sandbox, READ_METAFIELD, {"id": gid, "ns": None, "key": "visma_invoice"})
    assert no_ns["data"]["order"]["metafield"] is None  # no namespace: the app's own, which is empty


@pytest.mark.parametrize(
    ("change", "field", "code", "message"),
    [
        ({"ownerId": "gid://shopify/Order/1"}, "ownerId", None, "Owner does not exist."),
        ({"namespace": "ab"}, "namespace", "TOO_SHORT", "Namespace is too short (minimum is 3 characters)"),
        ({"namespace": "n" * 256}, "namespace", "TOO_LONG", "Namespace is too long (maximum is 255 characters)"),
        ({"key": "k"}, "key", "TOO_SHORT", "Key is too short (minimum is 2 characters)"),
        ({"key": "k" * 65}, "key", "TOO_LONG", "Key is too long (maximum is 64 characters)"),
        ({"key": "bad key!"}, "key", "INVALID_VALUE", "Key contains one or more invalid characters."),
        ({"type": None}, "type", "BLANK", "Type can't be blank"),
        ({"type": "spreadsheet"}, "type", "INVALID_TYPE", "Type 'spreadsheet' is not a supported metafield type."),
        ({"value": "{not json"}, "value", "INVALID_VALUE", "Value is invalid JSON."),
        ({"type": "boolean", "value": "yes"}, "value", "INVALID_VALUE", "Value must be true or false."),
        ({"type": "number_integer", "value": "1.5"}, "value", "INVALID_VALUE", "Value must be an integer."),
        (
            {"type": "single_line_text_field", "value": "a\nb"},
            "value",
            "INVALID_VALUE",
            "Value must be a single line text string.",
        ),
    ],
)
def test_metafields_set_user_errors(
    sandbox: ShopifySandbox, change: dict[str, Any], field: str, code: str | None, message: str
) -> None:
    gid = paid_order()["id"]
    before = sandbox.orders[gid]["updatedAt"]
    good = mf(gid, key="first_ok")
    body = gql(sandbox, METAFIELDS_SET, {"metafields": [good, mf(gid, **change)]})
    assert "errors" not in body
    payload = body["data"]["metafieldsSet"]
    assert payload == {
        "metafields": [],
        "userErrors": [{"field": ["metafields", "1", field], "message": message, "code": code, "elementIndex": None}],
    }
    assert not sandbox.orders[gid].get("metafields") and sandbox.orders[gid]["updatedAt"] == before  # atomic


def test_metafields_set_input_count_limits(sandbox: ShopifySandbox) -> None:
    gid = paid_order()["id"]
    too_many = [mf(gid, key=f"k{i:02d}") for i in range(26)]
    out = gql(sandbox, METAFIELDS_SET, {"metafields": too_many})["data"]["metafieldsSet"]
    assert out["metafields"] is None
    assert out["userErrors"] == [
        {
            "field": ["metafields"],
            "message": "Exceeded the maximum metafields input limit of 25.",
            "code": "LESS_THAN_OR_EQUAL_TO",
            "elementIndex": None,
        }
    ]
    assert gql(sandbox, METAFIELDS_SET, {"metafields": too_many[:25]})["data"]["metafieldsSet"]["userErrors"] == []
    empty = gql(sandbox, METAFIELDS_SET, {"metafields": []})["data"]["metafieldsSet"]
    assert empty["userErrors"][0]["code"] == "BLANK"


# ----------------------------------------------------------------- scopes
def test_mutations_need_write_orders(sandbox: ShopifySandbox) -> None:
    gid = paid_order()["id"]
    token = sandbox.add_access_token("shpat_read_only", ["read_orders"])
    for doc, variables, field in (
        (TAGS_ADD, {"id": gid, "tags": ["x"]}, "tagsAdd"),
        (TAGS_REMOVE, {"id": gid, "tags": ["x"]}, "tagsRemove"),
        (METAFIELDS_SET, {"metafields": [mf(gid)]}, "metafieldsSet"),
    ):
        body = gql(sandbox, doc, variables, token=token)
        assert body["data"] == {field: None}
        (error,) = body["errors"]
        assert error["message"] == f"Access denied for {field} field. Required access: `write_orders` access scope."
        assert error["path"] == [field] and error["extensions"]["code"] == "ACCESS_DENIED"
        assert error["extensions"]["requiredAccess"] == "`write_orders` access scope."
    assert "x" not in sandbox.orders[gid]["tags"] and not sandbox.orders[gid].get("metafields")
    reads = gql(sandbox, "query($id: ID!) { order(id: $id) { id } }", {"id": gid}, token=token)
    assert reads["data"]["order"]["id"] == gid  # read_orders is enough to read
    writer = sandbox.add_access_token("shpat_writer", ["write_orders"])
    assert gql(sandbox, "query($id: ID!) { order(id: $id) { id } }", {"id": gid}, token=writer)["data"]["order"]
    none = sandbox.add_access_token("shpat_products", ["read_products"])
    denied = gql(sandbox, "{ orders(first: 1) { nodes { id } } }", token=none)
    assert denied["errors"][0]["extensions"]["code"] == "ACCESS_DENIED" and denied["data"] is None


def test_default_tokens_scopes() -> None:
    sb = ShopifySandbox(orders=ORDERS[:3], scopes=("read_orders",)).start()
    try:
        body = gql(sb, TAGS_ADD, {"id": ORDERS[0]["id"], "tags": ["x"]})
        assert body["errors"][0]["extensions"]["code"] == "ACCESS_DENIED"
        grant = requests.post(
            sb.origin + "/admin/oauth/access_token",
            data={"grant_type": "client_credentials", "client_id": sb.client_id, "client_secret": sb.client_secret},
            timeout=10,
        ).json()
        assert grant["scope"] == "read_orders,read_customers,read_products"
        client = gql(sb, TAGS_ADD, {"id": ORDERS[0]["id"], "tags": ["x"]}, token=grant["access_token"])
        assert client["errors"][0]["extensions"]["code"] == "ACCESS_DENIED"
    finally:
        sb.stop()


# ----------------------------------------------------------------- faults and throttling
def test_faults_on_mutations(sandbox: ShopifySandbox) -> None:
    gid = paid_order()["id"]
    read = "query($id: ID!) { order(id: $id) { tags } }"
    sandbox.inject_fault("500", on="mutation")
    sandbox.inject_fault("throttle", on="mutation")
    assert shopify_post(sandbox, read, {"id": gid}).status_code == 200  # reads do not take mutation faults
    assert shopify_post(sandbox, TAGS_ADD, {"id": gid, "tags": ["a"]}).status_code == 500
    throttled = gql(sandbox, TAGS_ADD, {"id": gid, "tags": ["a"]})
    assert "data" not in throttled and throttled["errors"][0]["extensions"]["code"] == "THROTTLED"
    assert "a" not in sandbox.orders[gid]["tags"]  # neither was applied
    sandbox.inject_fault("500_after", on="mutation")
    lost = shopify_post(sandbox, TAGS_ADD, {"id": gid, "tags": ["a"]})
    assert lost.status_code == 500 and "a" in sandbox.orders[gid]["tags"]  # applied, answer lost
    assert sandbox.requests[-1]["status"] == 500
    retry = gql(sandbox, TAGS_ADD, {"id": gid, "tags": ["a"]})["data"]["tagsAdd"]
    assert retry["userErrors"] == [] and retry["node"]["tags"].count("a") == 1
    sandbox.inject_fault("500")  # a general fault is taken by the next request of any kind
    assert shopify_post(sandbox, TAGS_ADD, {"id": gid, "tags": ["b"]}).status_code == 500
    with pytest.raises(ValueError):
        sandbox.inject_fault("bulk_failed", on="mutation")


def test_mutation_costs_ten_from_the_bucket() -> None:
    clock = FakeClock()
    sb = ShopifySandbox(orders=ORDERS[:3], bucket_size=15, restore_rate=1, clock=clock).start()
    try:
        ok = gql(sb, TAGS_ADD, {"id": ORDERS[0]["id"], "tags": ["x"]})
        assert ok["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] == 5
        throttled = gql(sb, TAGS_ADD, {"id": ORDERS[0]["id"], "tags": ["y"]})
        assert (
            throttled["errors"][0]["extensions"]["code"] == "THROTTLED"
            and "y" not in sb.orders[ORDERS[0]["id"]]["tags"]
        )
        clock.advance(5)
        assert gql(sb, TAGS_ADD, {"id": ORDERS[0]["id"], "tags": ["y"]})["data"]["tagsAdd"]["userErrors"] == []
    finally:
        sb.stop()


# ----------------------------------------------------------------- schema
def test_new_documents_and_types_match_the_real_schema(real_schema: GraphQLSchema) -> None:
    for document in (ORDER_TXNS, TAGS_ADD, TAGS_REMOVE, METAFIELDS_SET, READ_METAFIELD):
        assert validate(real_schema, parse(document)) == [], document
        assert validate(load_schema(), parse(document)) == [], document
    sub = load_schema()
    for name in ("OrderTransaction", "TransactionFee", "Metafield", "MetafieldsSetUserError", "TagsAddPayload"):
        ours, real = sub.type_map[name], real_schema.type_map[name]
        assert isinstance(ours, GraphQLObjectType) and isinstance(real, GraphQLObjectType)
        assert {i.name for i in ours.interfaces} <= {i.name for i in real.interfaces}, name
    real_input, our_input = real_schema.type_map["MetafieldsSetInput"], sub.type_map["MetafieldsSetInput"]
    assert isinstance(real_input, GraphQLInputObjectType) and isinstance(our_input, GraphQLInputObjectType)
    assert {f: str(t.type) for f, t in our_input.fields.items()} == {
        f: str(t.type) for f, t in real_input.fields.items()
    }
