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
from shopvisma.engine.records import CREDIT_KINDS, VismaView, document_kinds
from shopvisma.shopify.order import Order, Refund, parse_order
from shopvisma.engine.sync_pass import Services, credited_refunds, selected

CENT = Decimal("0.01")


@dataclass
class Finding:
    order: str
    problem: str  # missing | duplicate | total-mismatch | vat-mismatch
    detail: str
    shopify_total: str = ""
    visma_total: str = ""
    documents: list[str] = field(default_factory=list)


def _lookup(view: VismaView, refs: list[str], kinds: list[tuple[str, str]],
            found: dict[str, list[dict[str, Any]]]) -> None:
    """Every document carrying each reference, through the lookup a pass uses, so a `$filter`
    Visma refuses falls back to the full list here too (matched trimmed and case-insensitively,
    as sync matches), and in the kinds sync puts them in (a credit is a draft or an invoice,
    whatever the workflow)."""
    by_key = {r.strip().lower(): r for r in refs}
    for path, kind in kinds:
        for doc in view.where(path, "YourReference", refs):
            ref = by_key.get(str(doc.get("YourReference") or "").strip().lower())
            if ref is not None:
                found.setdefault(ref, []).append({**doc, "_kind": kind})


def _refund_refs(order: Order) -> list[tuple[str, Refund]]:
    """(reference, refund) for the refunds sync credits, numbered as sync numbers them."""
    return [(f"{order.name} refund {i}", refund) for i, refund in credited_refunds(order)]


def reconcile(settings: Settings, services: Services, date_from: datetime, date_to: datetime) -> dict[str, Any]:
    from shopvisma.shopify.client import build_search

    start = max(date_from, settings.criteria.created_at_min) if settings.criteria.created_at_min else date_from
    search = build_search(settings.criteria, updated_since=None, created_at_min=start)
    search += f" created_at:<'{date_to.strftime('%Y-%m-%dT%H:%M:%SZ')}'"
    money = "presentmentMoney" if settings.mapping.currency == "presentment" else "shopMoney"
    orders: list[Order] = []
    for node in services.shopify.iter_orders(search):
        order = parse_order(node, money=money)  # type: ignore[arg-type]
        if not selected(order, settings) and date_from <= order.created_at < date_to:
            orders.append(order)
    refunds = {o.name: _refund_refs(o) for o in orders}
    view = VismaView(services.visma, settings, observations=services.observations)
    docs: dict[str, list[dict[str, Any]]] = {}
    _lookup(view, [o.name for o in orders], document_kinds(settings.visma.workflow), docs)
    _lookup(view, [ref for o in orders for ref, _ in refunds[o.name]], CREDIT_KINDS, docs)
    findings: list[Finding] = []
    matched = 0
    for order in orders:
        found = docs.get(order.name, [])
        ok = _check(order.name, found, order.total, order.total_tax, findings)
        for ref, refund in refunds[order.name]:
            ok = _check(ref, docs.get(ref, []), refund.total, None, findings) and ok
        matched += ok
    return {
        "from": date_from.isoformat(),
        "to": (date_to - timedelta(days=1)).isoformat(),  # inclusive, as the user typed it
        "orders": len(orders),
        "matched": matched,
        "findings": [f.__dict__ for f in findings],
        "ok": not findings,
    }


def _check(ref: str, found: list[dict[str, Any]], total: Decimal, vat: Decimal | None,
           findings: list[Finding]) -> bool:
    if not found:
        findings.append(Finding(ref, "missing", "no Visma document has this YourReference", shopify_total=f"{total:.2f}"))
        return False
    ids = [f"{d['_kind']} {d.get('Id')}" for d in found]
    if len(found) > 1:
        findings.append(Finding(ref, "duplicate", f"{len(found)} Visma documents carry this reference",
                                shopify_total=f"{total:.2f}", documents=ids))
        return False
    doc = found[0]
    from shopvisma.visma.readings import document_total

    v_total = abs(document_total(doc, total) or Decimal(0))
    if v_total != abs(total).quantize(CENT):
        findings.append(Finding(ref, "total-mismatch", f"Visma {v_total} vs Shopify {total:.2f}",
                                shopify_total=f"{total:.2f}", visma_total=f"{v_total}", documents=ids))
        return False
    if vat is not None and doc.get("TotalVatAmount") is not None:
        v_vat = abs(Decimal(str(doc["TotalVatAmount"]))).quantize(CENT)
        rows = max(1, len(doc.get("Rows") or []))
        if abs(v_vat - vat) > CENT * rows:
            findings.append(Finding(ref, "vat-mismatch", f"Visma VAT {v_vat} vs Shopify VAT {vat:.2f}",
                                    shopify_total=f"{total:.2f}", visma_total=f"{v_total}", documents=ids))
            return False
    return True
