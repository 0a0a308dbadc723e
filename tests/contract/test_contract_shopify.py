"""The Shopify emulator against the published 2025-01 Admin schema and real captured orders."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from typing import Any

import pytest
import requests
from graphql import (
    GraphQLEnumType,
    GraphQLObjectType,
    GraphQLSchema,
    get_named_type,
    parse,
    validate,
)

from shopvisma.sandbox.seed.orders import demo_orders, generate_orders
from shopvisma.sandbox.shopify.server import ShopifySandbox, load_schema
from shopvisma.shopify.order import parse_order
from shopvisma.shopify.queries import ALL_QUERIES, ORDERS_QUERY
from support.paths import REFERENCE

MATRIX = REFERENCE / "real-orders" / "airhorns__shopify-draft-proxy__order-create-math-matrix.json"


@pytest.mark.parametrize("name", sorted(ALL_QUERIES))
def test_product_documents_validate_against_real_schema(real_schema: GraphQLSchema, name: str) -> None:
    assert validate(real_schema, parse(ALL_QUERIES[name])) == []


@pytest.mark.parametrize("name", sorted(ALL_QUERIES))
def test_product_documents_validate_against_sandbox_schema(name: str) -> None:
    assert validate(load_schema(), parse(ALL_QUERIES[name])) == []


def test_sandbox_schema_is_a_true_subset(real_schema: GraphQLSchema) -> None:
    sub = load_schema()
    checked = 0
    for name, type_ in sub.type_map.items():
        if name.startswith("__"):
            continue
        assert name in real_schema.type_map, name
        real = real_schema.type_map[name]
        assert type(real) is type(type_), name
        if isinstance(type_, GraphQLObjectType):
            assert isinstance(real, GraphQLObjectType)
            for fname, field in type_.fields.items():
                assert fname in real.fields, f"{name}.{fname}"
                rfield = real.fields[fname]
                assert str(field.type) == str(rfield.type), f"{name}.{fname}"
                assert set(field.args) == set(rfield.args), f"{name}.{fname} args"
                for aname, arg in field.args.items():
                    assert str(arg.type) == str(rfield.args[aname].type), f"{name}.{fname}({aname})"
                checked += 1
        if isinstance(type_, GraphQLEnumType):
            assert isinstance(real, GraphQLEnumType)
            assert set(type_.values) == set(real.values), name
    assert checked > 80


def _check_shape(value: dict[str, Any], type_: GraphQLObjectType, schema: GraphQLSchema, path: str) -> None:
    for key, item in value.items():
        assert key in type_.fields, f"{path}.{key} is not a field of {type_.name}"
        named = get_named_type(type_.fields[key].type)
        if item is None:
            continue
        if isinstance(named, GraphQLEnumType):
            values = item if isinstance(item, list) else [item]
            assert all(v in named.values for v in values), f"{path}.{key}={item!r}"
        elif isinstance(named, GraphQLObjectType):
            if named.name.endswith("Connection"):  # stored as a plain list of nodes
                node_type = get_named_type(named.fields["nodes"].type)
                assert isinstance(item, list) and isinstance(node_type, GraphQLObjectType)
                for i, node in enumerate(item):
                    _check_shape(node, node_type, schema, f"{path}.{key}[{i}]")
            elif isinstance(item, list):
                for i, node in enumerate(item):
                    _check_shape(node, named, schema, f"{path}.{key}[{i}]")
            else:
                _check_shape(item, named, schema, f"{path}.{key}")


def test_seed_orders_use_only_real_order_fields(real_schema: GraphQLSchema) -> None:
    order_type = real_schema.type_map["Order"]
    assert isinstance(order_type, GraphQLObjectType)
    orders = generate_orders(300) + demo_orders() + generate_orders(50, seed=1, taxes_included=False)
    for order in orders:
        _check_shape(order, order_type, real_schema, order["name"])


def _matrix_orders() -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(storage-shape order, the orderCreate input) for each captured case."""
    if not MATRIX.exists():
        pytest.skip("shared/reference not present")
    capture = json.loads(MATRIX.read_text(encoding="utf-8"))
    out = []
    for i, case in enumerate(capture["cases"].values()):
        node = copy.deepcopy(case["response"]["payload"]["data"]["orderCreate"]["order"])
        given = case["variables"]["order"]
        for key in ("lineItems", "shippingLines"):
            node[key] = node[key]["nodes"]
        for j, li in enumerate(node["lineItems"]):
            li.setdefault("id", f"gid://shopify/LineItem/{i}{j:03d}")
        node.update(
            email=given.get("email"),
            tags=given.get("tags", []),
            test=given.get("test", False),
            createdAt=capture["recordedAt"][:19] + "Z",
            currencyCode=node["totalPriceSet"]["shopMoney"]["currencyCode"],
            presentmentCurrencyCode=node["totalPriceSet"]["presentmentMoney"]["currencyCode"],
            taxesIncluded=False,
        )
        out.append((node, given))
    return out


def test_real_captured_orders_load_serve_and_add_up() -> None:
    cases = _matrix_orders()
    sb = ShopifySandbox(orders=[node for node, _ in cases], bucket_size=100_000, restore_rate=100_000).start()
    try:
        r = requests.post(
            sb.api_url,
            headers={"X-Shopify-Access-Token": sb.access_token},
            timeout=10,
            json={
                "query": ORDERS_QUERY,
                "variables": {"first": 5, "query": "test:true", "lines": 5},
                "operationName": "Orders",
            },
        )
        body = r.json()
        assert r.status_code == 200 and "errors" not in body, body
        served = {n["id"]: n for n in body["data"]["orders"]["nodes"]}
        assert set(served) == {node["id"] for node, _ in cases}
        for node, given in cases:
            for side in ("presentmentMoney", "shopMoney"):
                order = parse_order(served[node["id"]], side)  # type: ignore[arg-type]
                assert order.name == node["name"] and order.email == given["email"]
                gross = sum((li.unit_price * li.quantity for li in order.lines), Decimal(0))
                assert gross - order.total_discounts == order.subtotal
                taxes = [t.amount for li in order.lines for t in li.tax_lines]
                taxes += [t.amount for sl in order.shipping_lines for t in sl.tax_lines]
                assert sum(taxes, Decimal(0)) == order.total_tax
                assert order.total == order.subtotal + order.total_shipping + order.total_tax
                assert order.currency == node["totalPriceSet"][side]["currencyCode"]
    finally:
        sb.stop()
