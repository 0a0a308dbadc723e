"""The reference and kind rules: what sync writes, what sync looks for and what reconcile
checks are one function each, so a change to one is a change to all three."""

from __future__ import annotations

from decimal import Decimal

import pytest
from unit.engine.fakes import order_node

from shopvisma.engine.references import (
    CREDIT_CREATED,
    CREDIT_KINDS,
    DRAFT,
    INVOICE,
    ORDER,
    created_kind,
    document_kinds,
    editable_path,
    order_reference,
    refund_reference,
)
from shopvisma.mapping.company import Coding, Company
from shopvisma.mapping.plan import plan_document
from shopvisma.mapping.settings import MappingSettings, money_key
from shopvisma.shopify.order import parse_order

ORDER_1001 = parse_order(order_node(1001))


def test_an_order_is_found_by_its_name_and_a_refund_by_its_number() -> None:
    assert order_reference(ORDER_1001) == "#1001"
    assert refund_reference(ORDER_1001, 2) == "#1001 refund 2"


@pytest.mark.parametrize(("workflow", "created"), [("invoice-draft", DRAFT), ("order", ORDER)])
def test_a_workflow_creates_one_kind_and_looks_in_it_first(workflow: str, created: tuple[str, str]) -> None:
    assert created_kind(workflow) == created
    assert document_kinds(workflow) == [created, INVOICE]  # approved or converted: an invoice


def test_credits_are_drafts_whatever_the_workflow() -> None:
    assert CREDIT_CREATED == DRAFT and CREDIT_KINDS == (DRAFT, INVOICE)


def test_only_a_draft_or_a_sales_order_may_be_corrected() -> None:
    assert editable_path("draft") == "customerinvoicedrafts"
    assert editable_path("order") == "orders"
    assert editable_path("invoice") is None and editable_path("credit") is None


def test_the_plan_carries_the_reference_sync_looks_up() -> None:
    company = Company("SE", "SEK", False, "top", "unit", (Coding("c25", "Varor 25%", "Goods", Decimal(25), True),))
    plan = plan_document(ORDER_1001, company, MappingSettings(), includes_vat=True, is_foreign=False)
    assert plan.reference == order_reference(ORDER_1001)


@pytest.mark.parametrize(("currency", "key"), [("presentment", "presentmentMoney"), ("shop", "shopMoney")])
def test_one_money_side_for_sync_refunds_and_reconcile(currency: str, key: str) -> None:
    assert money_key(MappingSettings(currency=currency)) == key  # type: ignore[arg-type]
