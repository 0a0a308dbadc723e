"""The JSON bodies of Visma documents, written from a DocumentPlan. No I/O.

Kept apart from the planning so the field lists can be checked against both Visma
specs (2026 OpenAPI and the 2018 swagger, whose required fields we also send) in
one place. Money stays Decimal; the HTTP client turns Decimals into JSON numbers.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from shopvisma.mapping.rows import DocumentPlan, RowPlan, cut, is_visma_discount, round_half_up


def _article_id(article_ids: dict[str, str], row: RowPlan) -> str:
    try:
        return article_ids[row.article.number]
    except KeyError:
        raise ValueError(f"no Visma article Id given for article number {row.article.number!r}") from None


def _discount(row: RowPlan) -> Decimal:
    """DiscountPercentage as Visma takes it: the plan already holds the fraction (0.1 = 10 %);
    anything else is a planning bug, stopped here rather than sent as a 1000 % discount."""
    d = row.discount_percentage
    if not is_visma_discount(d):
        raise ValueError(f"row {row.text!r}: DiscountPercentage {d} is not a fraction 0..1 with 4 decimals")
    return d


def _customer_fields(customer: dict[str, Any]) -> dict[str, Any]:
    """The customer's invoice address, which the 2018 swagger required on the document itself."""
    return {
        "InvoiceCustomerName": cut(customer.get("Name") or "", 50),
        "InvoiceAddress1": cut(customer.get("InvoiceAddress1") or "", 50),
        "InvoiceAddress2": cut(customer.get("InvoiceAddress2") or "", 50),
        "InvoicePostalCode": cut(customer.get("InvoicePostalCode") or "", 10),
        "InvoiceCity": cut(customer.get("InvoiceCity") or "", 50),
        "InvoiceCountryCode": cut(customer.get("InvoiceCountryCode") or "", 2),
        "CustomerIsPrivatePerson": bool(customer.get("IsPrivatePerson", True)),
    }


def _draft_row(row: RowPlan, line_number: int, article_ids: dict[str, str]) -> dict[str, Any]:
    return {
        "LineNumber": line_number,
        "IsTextRow": False,
        "ReversedConstructionServicesVatFree": False,
        "ArticleId": _article_id(article_ids, row),
        "ArticleNumber": row.article.number,
        "Text": cut(row.text, 2000) or row.article.number,
        "UnitPrice": row.unit_price,
        "Quantity": row.quantity,
        "DiscountPercentage": _discount(row),
    }


def draft_body(
    plan: DocumentPlan, *, customer_id: str, article_ids: dict[str, str], customer: dict[str, Any]
) -> dict[str, Any]:
    """POST /v2/customerinvoicedrafts. YourReference carries the Shopify order name: the
    sync engine finds an existing document by it, which is what makes a re-run safe."""
    body: dict[str, Any] = {
        "CustomerId": customer_id,
        "IsCreditInvoice": plan.is_credit,
        "RotReducedInvoicingType": 0,
        "EuThirdParty": False,
        "YourReference": cut(plan.reference or plan.order_name, 50),
        **_customer_fields(customer),
        "Rows": [_draft_row(r, i, article_ids) for i, r in enumerate(plan.rows, start=1)],
    }
    return body


def credit_draft_body(
    plan: DocumentPlan, *, customer_id: str, article_ids: dict[str, str], customer: dict[str, Any]
) -> dict[str, Any]:
    """A credit invoice draft for one Shopify refund (plan from plan_refund)."""
    if not plan.is_credit:
        raise ValueError("credit_draft_body needs a plan from plan_refund")
    return draft_body(plan, customer_id=customer_id, article_ids=article_ids, customer=customer)


def _date(value: date | datetime | str) -> str:
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)[:10]


def order_body(
    plan: DocumentPlan,
    *,
    customer_id: str,
    article_ids: dict[str, str],
    customer: dict[str, Any],
    order_date: date | datetime | str,
    status: int = 1,
) -> dict[str, Any]:
    """POST /v2/orders (workflow "order"); `status` is the OrderApi Status (1 Draft, 2 Ongoing, 3 Shipped). Unlike drafts, an order takes CurrencyCode.

    Amount/VatAmount/RoundingsAmount were required by the 2018 swagger; we send our
    prediction (Amount = total excluding VAT); Visma recomputes them from the rows."""
    rows = []
    for i, r in enumerate(plan.rows, start=1):
        rows.append(
            {
                "LineNumber": i,
                "IsTextRow": False,
                "IsWorkCost": False,
                "EligibleForReverseChargeOnVat": False,
                "ArticleId": _article_id(article_ids, r),
                "ArticleNumber": r.article.number,
                "Text": cut(r.text, 2000) or r.article.number,
                "UnitPrice": r.unit_price,
                "Quantity": r.quantity,
                "DiscountPercentage": _discount(r),
            }
        )
    return {
        "CustomerId": customer_id,
        "CurrencyCode": plan.currency or str(customer.get("CurrencyCode") or ""),
        "Status": status,
        "OrderDate": _date(order_date),
        "EuThirdParty": False,
        "ReverseChargeOnConstructionServices": False,
        "RotReducedInvoicingType": 0,
        "YourReference": cut(plan.reference or plan.order_name, 50),
        "Amount": round_half_up(plan.expected_total - plan.expected_vat),
        "VatAmount": plan.expected_vat,
        "RoundingsAmount": Decimal("0.00"),
        **_customer_fields(customer),
        "Rows": rows,
    }
