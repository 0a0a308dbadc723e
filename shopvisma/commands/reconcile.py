"""`shopvisma reconcile`: prove to the accountant that Shopify and Visma agree.

Read-only. For every Shopify order of a period that matches the criteria, find
its Visma documents by reference and report what is missing, what is there
twice, and where totals or VAT differ. Refunds are checked the same way against
their credit drafts ("#1001 refund 1").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from shopvisma.config.settings import Settings
from shopvisma.engine.records import VismaRecords
from shopvisma.engine.references import CREDIT_KINDS, document_kinds, order_reference, refund_reference
from shopvisma.engine.selection import credited_refunds, rejection_reason
from shopvisma.engine.sync_pass import Services
from shopvisma.mapping.settings import money_key
from shopvisma.shopify.order import Order, Refund, parse_order
from shopvisma.timefmt import iso_z

CENT = Decimal("0.01")


@dataclass
class Finding:
    order: str
    problem: str  # missing | duplicate | total-mismatch | vat-mismatch | unpaid | overpaid
    detail: str
    shopify_total: str = ""
    visma_total: str = ""
    documents: list[str] = field(default_factory=list)


def _refund_refs(order: Order) -> list[tuple[str, Refund]]:
    """(reference, refund) for the refunds sync credits, numbered as sync numbers them."""
    return [(refund_reference(order, i), refund) for i, refund in credited_refunds(order)]


def reconcile(settings: Settings, services: Services, date_from: datetime, date_to: datetime) -> dict[str, Any]:
    from shopvisma.shopify.search import build_search

    start = max(date_from, settings.criteria.created_at_min) if settings.criteria.created_at_min else date_from
    search = build_search(settings.criteria, updated_since=None, created_at_min=start)
    search += f" created_at:<'{iso_z(date_to)}'"
    money = money_key(settings.mapping)
    orders: list[Order] = []
    for node in services.shopify.iter_orders(search):
        order = parse_order(node, money=money)
        if not rejection_reason(order, settings) and date_from <= order.created_at < date_to:
            orders.append(order)
    refunds = {o.name: _refund_refs(o) for o in orders}
    # Through the lookup a pass uses: a `$filter` Visma refuses falls back to the full list
    # here too, references match as sync matches them, in the kinds sync puts them in.
    view = VismaRecords(services.visma, settings, observations=services.observations)
    docs = view.documents_by_reference([order_reference(o) for o in orders], document_kinds(settings.visma.workflow))
    for ref, found in view.documents_by_reference(
        [ref for o in orders for ref, _ in refunds[o.name]], CREDIT_KINDS
    ).items():
        docs.setdefault(ref, []).extend(found)
    findings: list[Finding] = []
    matched = 0
    for order in orders:
        ref = order_reference(order)
        ok = _check(ref, docs.get(ref, []), order.total, order.total_tax, findings)
        if ok and settings.payments is not None:
            ok = _check_paid(ref, docs[ref][0], _paid(order.transactions, refund=False), order.currency, findings)
        for refund_ref, refund in refunds[order.name]:
            fine = _check(refund_ref, docs.get(refund_ref, []), refund.total, None, findings)
            if fine and settings.payments is not None:
                paid_back = _paid(refund.transactions, refund=True)
                fine = _check_paid(refund_ref, docs[refund_ref][0], paid_back, order.currency, findings)
            ok = fine and ok
        matched += ok
    doc: dict[str, Any] = {
        "from": date_from.isoformat(),
        "to": (date_to - timedelta(days=1)).isoformat(),  # inclusive, as the user typed it
        "orders": len(orders),
        "matched": matched,
        "findings": [f.__dict__ for f in findings],
    }
    if settings.payouts is not None:  # per payout: voucher missing, duplicated, or rows that differ
        from shopvisma.engine.payouts import reconcile_payouts

        doc["payouts"], doc["payouts_matched"], more = reconcile_payouts(settings, services, date_from, date_to)
        doc["findings"] += more
    doc["ok"] = not doc["findings"]
    return doc


def _check(ref: str, found: list[dict[str, Any]], total: Decimal, vat: Decimal | None, findings: list[Finding]) -> bool:
    if not found:
        findings.append(
            Finding(ref, "missing", "no Visma document has this YourReference", shopify_total=f"{total:.2f}")
        )
        return False
    ids = [f"{d['_kind']} {d.get('Id')}" for d in found]
    if len(found) > 1:
        findings.append(
            Finding(
                ref,
                "duplicate",
                f"{len(found)} Visma documents carry this reference",
                shopify_total=f"{total:.2f}",
                documents=ids,
            )
        )
        return False
    doc = found[0]
    from shopvisma.visma.readings import document_total

    v_total = abs(document_total(doc, total) or Decimal(0))
    if v_total != abs(total).quantize(CENT):
        findings.append(
            Finding(
                ref,
                "total-mismatch",
                f"Visma {v_total} vs Shopify {total:.2f}",
                shopify_total=f"{total:.2f}",
                visma_total=f"{v_total}",
                documents=ids,
            )
        )
        return False
    if vat is not None and doc.get("TotalVatAmount") is not None:
        v_vat = abs(Decimal(str(doc["TotalVatAmount"]))).quantize(CENT)
        rows = max(1, len(doc.get("Rows") or []))
        if abs(v_vat - vat) > CENT * rows:
            findings.append(
                Finding(
                    ref,
                    "vat-mismatch",
                    f"Visma VAT {v_vat} vs Shopify VAT {vat:.2f}",
                    shopify_total=f"{total:.2f}",
                    visma_total=f"{v_total}",
                    documents=ids,
                )
            )
            return False
    return True


def _paid(transactions: Any, *, refund: bool) -> Decimal:
    """What Shopify says was paid (an order's successful payments) or paid back (a refund's)."""
    return sum((t.amount for t in transactions if (t.is_refund if refund else t.is_payment)), Decimal(0))


def _check_paid(ref: str, doc: dict[str, Any], shopify: Decimal, currency: str, findings: list[Finding]) -> bool:
    """[payments]: a booked invoice's paid amount (total − remaining, invoice currency) against
    Shopify's payments; a credit's against what its refund paid back. Drafts and sales orders
    carry no payments and are not checked."""
    if doc.get("_kind") != "invoice":
        return True
    total = doc.get("TotalAmountInvoiceCurrency", doc.get("TotalAmount"))
    remaining = doc.get("RemainingAmountInvoiceCurrency", doc.get("RemainingAmount"))
    if total is None or remaining is None:
        return True
    paid = abs(Decimal(str(total)) - Decimal(str(remaining))).quantize(CENT)
    want = abs(shopify).quantize(CENT)
    if paid == want:
        return True
    findings.append(
        Finding(
            ref,
            "unpaid" if paid < want else "overpaid",
            f"Visma shows {paid} {currency} paid on invoice {doc.get('InvoiceNumber') or doc.get('Id')}, "
            f"Shopify's successful payments are {want:.2f}",
            shopify_total=f"{want:.2f}",
            visma_total=f"{paid}",
            documents=[f"invoice {doc.get('Id')}"],
        )
    )
    return False


def run_reconcile(settings: Settings, date_from: datetime, date_to: datetime) -> dict[str, Any]:
    """Read-only, but a Visma token refresh rewrites tokens.json: hold the run lock."""
    from shopvisma.commands.common import locked_state_dir, open_services

    with locked_state_dir(settings) as paths:
        services = open_services(settings, paths.checkpoint)
        return reconcile(settings, services, date_from, date_to)
