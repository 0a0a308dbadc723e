"""Everything the *product* sends to Visma, in real passes over every workflow and order
kind, validates against both published specs (2018 swagger and 2026 OpenAPI) and uses
only properties the 2026 schema knows. A sandbox that accepted what the specs reject
would make every other test green for nothing."""

from __future__ import annotations

import json

import pytest

from support.specs import ROWS, load_specs, needs_visma_specs, validator18, validator26

pytestmark = needs_visma_specs

SCHEMAS = {
    ("POST", "customers"): "CustomerApi",
    ("POST", "articles"): "ArticleApi",
    ("POST", "customerinvoicedrafts"): "CustomerInvoiceDraftApi",
    ("PUT", "customerinvoicedrafts"): "CustomerInvoiceDraftApi",
    ("POST", "orders"): "OrderApi",
    ("PUT", "orders"): "OrderApi",
}


@pytest.mark.parametrize("workflow", ["invoice-draft", "order"])
def test_every_body_the_product_sends_is_valid_in_both_specs(world, workflow: str) -> None:
    from shopvisma.sandbox.seed.orders import demo_orders, generate_orders, make_refund

    jsonschema = pytest.importorskip("jsonschema")
    assert jsonschema
    world.set_config(world.config.read_text().replace('workflow = "invoice-draft"', f'workflow = "{workflow}"'))
    world.visma._state.includes_vat_rule = "spec-2026"  # forces the IncludesVat correction (PUT) too
    orders = (
        demo_orders()
        + [
            o
            for o in generate_orders(60, seed=41, taxes_included=False)
            if o["displayFinancialStatus"] == "PAID" and not o.get("cancelledAt")
        ][:20]
    )
    for o in orders:
        world.shop.add_order(o)
    assert world.sync_json()[0] == 0
    first = next(o for o in world.shop.orders.values() if o["name"] == "#1001")
    world.shop.add_refund(first["id"], make_refund(first))
    assert world.sync_json()[0] == 0

    spec26, spec18 = load_specs()
    seen: set[str] = set()
    for method, endpoint, body in world.visma.accepted:
        name = SCHEMAS.get((method, endpoint))
        assert name, f"the product sent {method} /{endpoint}, which this test does not know"
        seen.add(name)
        plain = json.loads(json.dumps(body, default=float))  # jsonschema knows float, not Decimal
        assert [e.message for e in validator18(spec18, name).iter_errors(plain)] == [], (name, plain)
        assert [e.message for e in validator26(spec26, name).iter_errors(plain)] == [], (name, plain)
        assert set(plain) <= set(spec26["components"]["schemas"][name]["properties"])
        if name in ROWS:
            rows26 = spec26["components"]["schemas"][ROWS[name]]["properties"]
            for row in plain["Rows"]:
                assert set(row) <= set(rows26), set(row) - set(rows26)
    expected = {"CustomerApi", "ArticleApi", "CustomerInvoiceDraftApi"} | (
        {"OrderApi"} if workflow == "order" else set()
    )
    assert expected <= seen


def test_every_graphql_document_the_product_sends_is_a_validated_one(world) -> None:
    """test_contract_shopify validates ALL_QUERIES against the 2025-01 schema; here: the
    product sends nothing else, over a pass with line paging and refunds."""
    from shopvisma.sandbox.seed.orders import demo_orders, make_refund
    from shopvisma.shopify.queries import ALL_QUERIES

    for o in demo_orders():
        world.shop.add_order(o)
    world.sync_json()
    first = next(o for o in world.shop.orders.values() if o["name"] == "#1002")
    world.shop.add_refund(first["id"], make_refund(first))
    world.sync_json()
    operations = {r["operation"] for r in world.shop.requests}
    assert operations and operations <= set(ALL_QUERIES), operations
    assert "OrderRefunds" in operations
