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

from shopvisma.config import Settings
from shopvisma.model import Order, parse_order
from shopvisma.matching import batches as _batches
from shopvisma.matching import quote as _quote
from shopvisma.sync import Services, selected

CENT = Decimal("0.01")


@dataclass
class Finding:
    order: str
    problem: str  # missing | duplicate | total-mismatch | vat-mismatch
    detail: str
    shopify_total: str = ""
    visma_total: str = ""
    documents: list[str] = field(default_factory=list)


def _doc_kinds(settings: Settings) -> list[tuple[str, str]]:
    first = ("orders", "order") if settings.visma.workflow == "order" else ("customerinvoicedrafts", "draft")
    return [first, ("customerinvoices", "invoice")]


def _lookup(services: Services, settings: Settings, refs: list[str]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {r: [] for r in refs}
    for path, kind in _doc_kinds(settings):
        for batch in _batches(refs):
            flt = " or ".join(f"YourReference eq {_quote(r)}" for r in batch)
            for doc in services.visma.iter_list(path, filter=flt):
                ref = (doc.get("YourReference") or "").strip()
                if ref in found:
                    found[ref].append({**doc, "_kind": kind})
    return found


def _refund_refs(order: Order) -> list[str]:
    return [f"{order.name} refund {i}" for i in range(1, len(order.refunds) + 1)]


def reconcile(settings: Settings, services: Services, date_from: datetime, date_to: datetime) -> dict[str, Any]:
    from shopvisma.shopify import build_search

    start = max(date_from, settings.criteria.created_at_min) if settings.criteria.created_at_min else date_from
    search = build_search(settings.criteria, updated_since=None, created_at_min=start)
    search += f" created_at:<'{date_to.strftime('%Y-%m-%dT%H:%M:%SZ')}'"
    money = "presentmentMoney" if settings.mapping.currency == "presentment" else "shopMoney"
    orders: list[Order] = []
    for node in services.shopify.iter_orders(search):
        order = parse_order(node, money=money)  # type: ignore[arg-type]
        if not selected(order, settings) and date_from <= order.created_at < date_to:
            orders.append(order)
    refs = [o.name for o in orders] + [r for o in orders for r in _refund_refs(o)]
    docs = _lookup(services, settings, refs) if refs else {}
    findings: list[Finding] = []
    matched = 0
    for order in orders:
        found = docs.get(order.name, [])
        ok = _check(order.name, found, order.total, order.total_tax, findings)
        for i, refund in enumerate(order.refunds, start=1):
            ref = f"{order.name} refund {i}"
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
    v_total = abs(Decimal(str(doc.get("TotalAmount", 0)))).quantize(CENT)
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
