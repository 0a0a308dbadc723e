"""Bulk query operations on the Shopify emulator, over HTTP as the product would use them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest
import requests
from graphql import GraphQLObjectType, GraphQLSchema, build_schema, graphql_sync, parse, validate

from shopvisma.sandbox.seed.orders import generate_orders, make_refund
from shopvisma.sandbox.shopify.bulk_rules import (
    IN_LIST,
    NO_CONNECTION,
    NOT_QUERY,
    ONE_ROOT,
    ROOT_NOT_EMULATED,
    TOO_DEEP,
    TOO_MANY,
    check_bulk_query,
)
from shopvisma.sandbox.shopify.search import compile_query
from shopvisma.sandbox.shopify.server import ShopifySandbox, load_schema
from support.clock import FakeClock
from support.sandboxes import shopify_data, unthrottled_shop

ORDERS = generate_orders(60, seed=5)
T0 = 1_800_000_000.0

BULK_RUN = """mutation BulkRun($query: String!) {
  bulkOperationRunQuery(query: $query) {
    bulkOperation { id status type errorCode createdAt completedAt objectCount rootObjectCount fileSize url
                    partialDataUrl query }
    userErrors { field message code }
  }
}"""
BULK_POLL = """query BulkPoll {
  currentBulkOperation(type: QUERY) { id status type errorCode createdAt completedAt objectCount rootObjectCount
                                      fileSize url partialDataUrl query }
}"""

_MONEY = "{ shopMoney { amount currencyCode } presentmentMoney { amount currencyCode } }"
ORDER = (
    f"id name email updatedAt displayFinancialStatus tags totalPriceSet {_MONEY} "
    f"customer {{ id displayName }} refunds {{ id createdAt totalRefundedSet {_MONEY} }}"
)
LINE = (
    f"__typename id sku quantity originalUnitPriceSet {_MONEY} "
    f"discountAllocations {{ allocatedAmountSet {_MONEY} }} taxLines {{ title rate priceSet {_MONEY} }}"
)
SHIP = f"__typename title code originalPriceSet {_MONEY} taxLines {{ title rate priceSet {_MONEY} }}"
PAGED = (
    "query Paged($after: String, $query: String) {\n"
    "  orders(first: 3, after: $after, query: $query) {\n"
    "    pageInfo { hasNextPage endCursor }\n"
    f"    nodes {{ {ORDER} lineItems(first: 20) {{ nodes {{ {LINE} }} }} shippingLines(first: 5) {{ nodes {{ {SHIP} }} }} }}\n"
    "  }\n"
    "}"
)


def bulk_query(args: str = "") -> str:
    return (
        f"{{ orders{args} {{ edges {{ node {{ {ORDER} lineItems {{ edges {{ node {{ {LINE} }} }} }} "
        f"shippingLines {{ edges {{ node {{ {SHIP} }} }} }} }} }} }} }}"
    )


@pytest.fixture
def sandbox() -> Iterator[ShopifySandbox]:
    with unthrottled_shop(ORDERS) as sb:
        yield sb


gql = shopify_data


def run(sb: ShopifySandbox, query: str) -> dict[str, Any]:
    return gql(sb, BULK_RUN, {"query": query})["data"]["bulkOperationRunQuery"]


def poll(sb: ShopifySandbox) -> dict[str, Any] | None:
    return gql(sb, BULK_POLL)["data"]["currentBulkOperation"]


def run_to_completion(sb: ShopifySandbox, query: str) -> tuple[dict[str, Any], requests.Response]:
    started = run(sb, query)
    assert started["userErrors"] == [], started
    op = poll(sb)
    assert op is not None and op["status"] == "COMPLETED", op
    download = requests.get(op["url"], timeout=30)  # no token: a signed storage URL on Shopify
    assert download.status_code == 200
    return op, download


def reassemble(text: str) -> list[dict[str, Any]]:
    """The JSONL back into trees, the way a client must: children carry __parentId and follow their parent."""
    roots: list[dict[str, Any]] = []
    by_id: dict[str, dict[str, Any]] = {}
    for line in text.splitlines():
        record = json.loads(line)
        parent = record.pop("__parentId", None)
        if parent is None:
            record.update(lineItems=[], shippingLines=[])
            roots.append(record)
            by_id[record["id"]] = record
        else:
            kind = {"LineItem": "lineItems", "ShippingLine": "shippingLines"}[record["__typename"]]
            by_id[parent][kind].append(record)  # KeyError if a child came before its parent
    return roots


def paged(sb: ShopifySandbox, search: str | None = None) -> list[dict[str, Any]]:
    nodes, after = [], None
    while True:
        page = gql(sb, PAGED, {"after": after, "query": search})["data"]["orders"]
        for node in page["nodes"]:
            node["lineItems"] = node["lineItems"]["nodes"]
            node["shippingLines"] = node["shippingLines"]["nodes"]
            nodes.append(node)
        if not page["pageInfo"]["hasNextPage"]:
            return nodes
        after = page["pageInfo"]["endCursor"]


def test_bulk_result_reassembles_to_the_paged_result(sandbox: ShopifySandbox) -> None:
    refunded = ORDERS[4]
    sandbox.add_refund(refunded["id"], make_refund(sandbox.orders[refunded["id"]], None))
    started = run(sandbox, bulk_query())
    assert started["bulkOperation"]["status"] == "CREATED"
    assert started["bulkOperation"]["id"] == "gid://shopify/BulkOperation/1"
    assert started["bulkOperation"]["objectCount"] == "0" and started["bulkOperation"]["url"] is None
    assert started["bulkOperation"]["query"] == bulk_query()
    op = poll(sandbox)
    assert op is not None and op["status"] == "COMPLETED" and op["errorCode"] is None
    assert op["partialDataUrl"] is None and op["type"] == "QUERY"
    assert op["url"] == f"{sandbox.origin}/bulk-results/1.jsonl"
    download = requests.get(op["url"], timeout=30)  # no token
    assert download.status_code == 200
    assert download.headers["Content-Type"] == "application/jsonl"
    lines = download.content.splitlines()
    assert op["fileSize"] == str(len(download.content)) and op["objectCount"] == str(len(lines))
    assert b'"gid:\\/\\/shopify\\/Order\\/' in download.content  # Shopify escapes "/" in its JSONL
    first = json.loads(lines[0])
    assert "lineItems" not in first and "shippingLines" not in first and "refunds" in first  # lists stay inline
    trees = reassemble(download.text)
    assert op["rootObjectCount"] == str(len(trees)) == str(len(ORDERS))
    assert trees == paged(sandbox)
    assert any(t["refunds"] for t in trees)
    assert [r["operation"] for r in sandbox.requests[:2]] == ["BulkRun", "BulkPoll"]
    assert [r["cost"] for r in sandbox.requests[:2]] == [10, 1]
    assert sandbox.bulk_downloads == [{"id": op["id"], "status": 200, "bytes": len(download.content)}]


def test_bulk_costs_a_flat_ten(sandbox: ShopifySandbox) -> None:
    body = gql(sandbox, BULK_RUN, {"query": bulk_query()})
    assert body["extensions"]["cost"]["requestedQueryCost"] == 10
    assert body["extensions"]["cost"]["actualQueryCost"] == 10
    body = gql(sandbox, BULK_POLL)
    assert body["extensions"]["cost"]["requestedQueryCost"] == 1
    assert body["extensions"]["cost"]["actualQueryCost"] == 1


def test_search_filter_sort_key_and_reverse_are_honoured(sandbox: ShopifySandbox) -> None:
    search = "financial_status:paid test:false"
    pred = compile_query(search, datetime.now(timezone.utc))
    expected = sorted((o for o in ORDERS if pred(o)), key=lambda o: (o["updatedAt"], int(o["legacyResourceId"])))
    assert 0 < len(expected) < len(ORDERS)
    _, download = run_to_completion(
        sandbox, bulk_query(f"(query: {json.dumps(search)}, sortKey: UPDATED_AT, reverse: true)")
    )
    trees = reassemble(download.text)
    assert [t["id"] for t in trees] == [o["id"] for o in reversed(expected)]
    assert trees[::-1] == sorted(paged(sandbox, search), key=lambda t: [o["id"] for o in expected].index(t["id"]))


def test_paging_arguments_are_ignored_in_bulk(sandbox: ShopifySandbox) -> None:
    """Shopify returns every node of a bulk connection; `first` does not cut it short."""
    _, download = run_to_completion(
        sandbox, "{ orders(first: 2) { edges { node { id lineItems(first: 1) { edges { node { id } } } } } } }"
    )
    lines = [json.loads(x) for x in download.text.splitlines()]
    assert sum("__parentId" not in x for x in lines) == len(ORDERS)
    assert sum("__parentId" in x for x in lines) == sum(len(o["lineItems"]) for o in ORDERS)


def test_fragments_and_aliases_flatten_too(sandbox: ShopifySandbox) -> None:
    query = (
        "query { orders { edges { node { ...O items: lineItems { edges { cursor node { sku } } pageInfo "
        "{ hasNextPage } } } } } } fragment O on Order { id ref: name }"
    )
    _, download = run_to_completion(sandbox, query)
    lines = [json.loads(x) for x in download.text.splitlines()]
    assert set(lines[0]) == {"id", "ref"}
    assert set(lines[1]) == {"sku", "__parentId"} and lines[1]["__parentId"] == lines[0]["id"]


NESTED = "{{ orders {{ edges {{ node {{ {0} }} }} }} }}"
CONN = "{0} {{ edges {{ node {{ id }} }} }}"


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", "Invalid bulk query: syntax error, unexpected end of file"),
        ("{ orders { edges { node { id }", "Invalid bulk query: syntax error, expected Name, found <EOF>."),
        (
            "{ orders { edges { node { id totalPrice } } } }",
            "Invalid bulk query: Field 'totalPrice' doesn't exist on type 'Order'",
        ),
        (
            'mutation { bulkOperationRunQuery(query: "{ orders { edges { node { id } } } }") { userErrors { message } } }',
            NOT_QUERY,
        ),
        ("{ currentBulkOperation { id } }", NO_CONNECTION),
        ('{ order(id: "gid://shopify/Order/1") { id name } }', NO_CONNECTION),
        (
            "{ orders { nodes { id } } }",
            "All connection fields in a bulk query must select their contents using 'edges' > 'node', e.g: 'orders { edges "
            "{ node {'. Selecting via 'nodes' is not supported. Invalid connection fields: 'orders'.",
        ),
        (NESTED.format("id " + " ".join(CONN.format(f"l{i}: lineItems") for i in range(5))), TOO_MANY),
        (
            NESTED.format("name " + CONN.format("lineItems")),
            "The parent 'node' field for a nested connection must select the 'id' field without an alias and must be of "
            "'ID' return type. Connection fields without 'id': orders.",
        ),
        (
            NESTED.format("key: id " + CONN.format("lineItems")),
            "The parent 'node' field for a nested connection must select the 'id' field without an alias and must be of "
            "'ID' return type. Connection fields without 'id': orders.",
        ),
        (NESTED.format("id refunds { id " + CONN.format("refundLineItems") + " }"), IN_LIST),
        ("{ a: orders { edges { node { id } } } b: orders { edges { node { id } } } }", ONE_ROOT),
        (
            '{ order(id: "gid://shopify/Order/1") { id ' + CONN.format("lineItems") + " } }",
            ROOT_NOT_EMULATED.format(name="order"),
        ),
    ],
)
def test_bulk_query_rules_give_user_errors(sandbox: ShopifySandbox, query: str, message: str) -> None:
    result = run(sandbox, query)
    assert result == {
        "bulkOperation": None,
        "userErrors": [{"field": ["query"], "message": message, "code": "INVALID"}],
    }
    assert poll(sandbox) is None and sandbox.bulk.operations == []


def test_five_connections_and_depth_two_are_allowed(sandbox: ShopifySandbox) -> None:
    query = NESTED.format("id " + " ".join(CONN.format(f"l{i}: lineItems") for i in range(4)))
    assert run(sandbox, query)["userErrors"] == []


DEEP_SDL = """
type Query { things: ThingConnection! }
type ThingConnection { edges: [ThingEdge!]! nodes: [Thing!]! pageInfo: PageInfo! }
type ThingEdge { cursor: String! node: Thing! }
type PageInfo { hasNextPage: Boolean! }
type Thing { id: ID! children: ThingConnection! }
"""


def test_nesting_deeper_than_two_connections_is_refused() -> None:
    """The orders subset cannot nest three connections outside a list, so the rule is checked on a toy schema."""
    schema = build_schema(DEEP_SDL)
    two = "{ things { edges { node { id children { edges { node { id } } } } } } }"
    three = "{ things { edges { node { id children { edges { node { id children { edges { node { id } } } } } } } } } }"
    assert check_bulk_query(schema, two)[0] == []
    assert check_bulk_query(schema, three)[0] == [TOO_DEEP]


def test_only_one_bulk_query_at_a_time() -> None:
    clock = FakeClock(T0)
    sb = ShopifySandbox(orders=ORDERS[:10], clock=clock, bulk_seconds=60, bucket_size=100_000).start()
    try:
        first = run(sb, bulk_query())["bulkOperation"]
        clock.advance(59)
        refused = run(sb, bulk_query())
        assert refused == {
            "bulkOperation": None,
            "userErrors": [
                {
                    "field": None,
                    "code": "OPERATION_IN_PROGRESS",
                    "message": f"A bulk query operation for this app and shop is already in progress: {first['id']}.",
                }
            ],
        }
        assert poll(sb)["id"] == first["id"]  # type: ignore[index]
        clock.advance(1)
        assert poll(sb)["status"] == "COMPLETED"  # type: ignore[index]
        second = run(sb, bulk_query())
        assert second["userErrors"] == [] and second["bulkOperation"]["id"] == "gid://shopify/BulkOperation/2"
        assert poll(sb)["id"] == second["bulkOperation"]["id"]  # type: ignore[index]
    finally:
        sb.stop()


def test_status_follows_the_clock() -> None:
    clock = FakeClock(T0)
    sb = ShopifySandbox(orders=ORDERS, clock=clock, bulk_seconds=100, bucket_size=100_000).start()
    try:
        assert poll(sb) is None
        run(sb, bulk_query())
        op = poll(sb)
        assert op is not None and op["status"] == "CREATED" and op["createdAt"] == "2027-01-15T08:00:00Z"
        clock.advance(50)
        op = poll(sb)
        assert op is not None and op["status"] == "RUNNING" and op["url"] is None and op["completedAt"] is None
        assert 0 < int(op["rootObjectCount"]) < len(ORDERS) and int(op["objectCount"]) > int(op["rootObjectCount"])
        assert requests.get(f"{sb.origin}/bulk-results/1.jsonl", timeout=10).status_code == 404  # not issued yet
        clock.advance(50)
        op = poll(sb)
        assert op is not None and op["status"] == "COMPLETED" and op["completedAt"] == "2027-01-15T08:01:40Z"
        assert op["rootObjectCount"] == str(len(ORDERS)) and op["fileSize"] is not None
        assert requests.get(op["url"], timeout=10).status_code == 200
        assert [d["status"] for d in sb.bulk_downloads] == [404, 200]
        assert gql(sb, "{ currentBulkOperation(type: MUTATION) { id } }")["data"]["currentBulkOperation"] is None
    finally:
        sb.stop()


def test_injected_failure_ends_failed_without_url(sandbox: ShopifySandbox) -> None:
    sandbox.inject_fault("bulk_failed")
    assert gql(sandbox, "{ orders(first: 1) { nodes { id } } }")["data"]["orders"]["nodes"]  # other requests unaffected
    assert run(sandbox, bulk_query())["bulkOperation"]["status"] == "CREATED"
    op = poll(sandbox)
    assert op is not None and op["status"] == "FAILED" and op["errorCode"] == "INTERNAL_SERVER_ERROR"
    assert op["url"] is None and op["partialDataUrl"] is None and op["completedAt"] is None
    assert requests.get(f"{sandbox.origin}/bulk-results/1.jsonl", timeout=10).status_code == 404
    op, _ = run_to_completion(sandbox, bulk_query())  # the fault was used up
    assert op["id"] == "gid://shopify/BulkOperation/2"


def test_unknown_result_urls_are_404(sandbox: ShopifySandbox) -> None:
    run_to_completion(sandbox, bulk_query())
    for path in ("/bulk-results/2.jsonl", "/bulk-results/0.jsonl", "/bulk-results/x.jsonl", "/bulk-results/1"):
        assert requests.get(sandbox.origin + path, timeout=10).status_code == 404, path


def test_bulk_documents_validate_against_real_schema(real_schema: GraphQLSchema) -> None:
    for document in (BULK_RUN, BULK_POLL, bulk_query(), bulk_query('(query: "test:false", sortKey: UPDATED_AT)')):
        assert validate(real_schema, parse(document)) == [], document
    sub = load_schema()
    for name in ("BulkOperation", "BulkOperationRunQueryPayload", "BulkOperationUserError"):
        ours, real = sub.type_map[name], real_schema.type_map[name]
        assert isinstance(ours, GraphQLObjectType) and isinstance(real, GraphQLObjectType)
        assert {f: str(t.type) for f, t in ours.fields.items()} == {f: str(t.type) for f, t in real.fields.items()}
    assert _default_of_type_arg(sub) == _default_of_type_arg(real_schema) == "QUERY"


def _default_of_type_arg(schema: GraphQLSchema) -> Any:
    """currentBulkOperation(type:)'s default, read by introspection (the attribute differs across graphql-core)."""
    result = graphql_sync(schema, '{ __type(name: "QueryRoot") { fields { name args { name defaultValue } } } }')
    assert result.errors is None and result.data is not None
    field = next(f for f in result.data["__type"]["fields"] if f["name"] == "currentBulkOperation")
    return next(a["defaultValue"] for a in field["args"] if a["name"] == "type")
