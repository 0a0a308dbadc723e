"""One order (or one refund) → its Visma document, with customer and articles.

sync.py decides *which* orders a pass handles; this module does the writes for one
of them, in the order that keeps a crash harmless: articles and customer (found
by natural key first), then an intent in the checkpoint, then the document, then
the read-back check of Visma's own totals.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from dataclasses import field as dc_field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from shopvisma import mapping
from shopvisma.config import Settings
from shopvisma.errors import OrderError
from shopvisma.matching import VismaView
from shopvisma.model import Order, Refund
from shopvisma.state import Checkpoint, record_intent, record_refund, record_transfer
from shopvisma.state import iso as iso_utc

log = logging.getLogger("shopvisma.documents")


@dataclass
class OrderOutcome:
    """What happened to one order (or refund) in this pass; `status` drives the exit code."""

    name: str
    status: str  # created | exists | failed | would-create | edited
    order_id: str = ""
    document_id: str = ""
    kind: str = ""  # draft | order | invoice | credit
    reason: str = ""
    field: str = ""
    hint: str = ""
    customer: str = ""  # "reuse 12" | "create" | "created 13"
    articles: list[str] = dc_field(default_factory=list)
    body: dict[str, Any] | None = None
    expected_total: str = ""
    visma_total: str = ""
    currency: str = ""
    transient: bool = False  # failed for a reason outside the order (Visma trouble)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v not in ("", None, [])}


def refund_reference(order: Order, index: int) -> str:
    return f"{order.name} refund {index}"


def _customer_for(order: Order, view: VismaView, company: mapping.Company, settings: Settings,
                  outcome: OrderOutcome) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """(existing customer or None, the customer as the document will see it)."""
    currency = order.currency or company.currency
    customer = view.choose_customer(order.normalized_email, currency)
    if customer is not None:
        outcome.customer = f"reuse {customer.get('CustomerNumber') or customer['Id']}"
        return customer, customer
    outcome.customer = "create"
    return None, mapping.customer_body(order, company, settings.mapping, currency=currency)


def _ensure_articles(specs: list[Any], view: VismaView, outcome: OrderOutcome, *,
                     dry_run: bool) -> dict[str, str]:
    ids: dict[str, str] = {}
    for spec in specs:
        art = view.articles.get(spec.number.lower())
        outcome.articles.append(f"{'reuse' if art else 'create'} {spec.number}")
        if art is None and dry_run:
            ids[spec.number] = f"<new article {spec.number}>"
            outcome.body = {**(outcome.body or {}), "articles": [*(outcome.body or {}).get("articles", []), spec.body()]}
        else:
            ids[spec.number] = (art or view.create_article(spec))["Id"]
    return ids


def transfer(order: Order, settings: Settings, services: Any, checkpoint: Checkpoint, view: VismaView,
              outcome: OrderOutcome, *, dry_run: bool) -> None:
    company = view.load_company()
    mapping.require_email(order)
    customer, cust_view = _customer_for(order, view, company, settings, outcome)
    includes_vat = mapping.document_includes_vat(cust_view, company)
    is_foreign = mapping.foreign_customer(cust_view, company)
    plan = mapping.plan_document(order, company, settings.mapping, includes_vat=includes_vat, is_foreign=is_foreign)
    outcome.expected_total = f"{plan.expected_total:.2f}"
    workflow = settings.visma.workflow
    kind, path = ("order", "orders") if workflow == "order" else ("draft", "customerinvoicedrafts")
    if dry_run and customer is None:
        outcome.body = {"customer": cust_view}
    article_ids = _ensure_articles(plan.articles(), view, outcome, dry_run=dry_run)
    if dry_run:
        cid = customer["Id"] if customer else "<new customer>"
        document = _document_body(plan, workflow, cid, article_ids, cust_view, order)
        outcome.body = {**outcome.body, "document": document} if outcome.body else document
        outcome.status, outcome.kind = "would-create", kind
        return
    if customer is None:
        customer = view.create_customer(order.normalized_email, cust_view)
        outcome.customer = f"created {customer.get('CustomerNumber') or customer['Id']}"
    body = _document_body(plan, workflow, customer["Id"], article_ids, customer, order)
    record_intent(checkpoint, order.name, kind, order.id)
    services.save_checkpoint(checkpoint)
    doc = view.create_document(path, kind, body, order.name)
    outcome.status, outcome.document_id, outcome.kind = "created", doc.get("Id", ""), kind
    mark_done(checkpoint, order, outcome.document_id, kind)  # it exists: never create it again
    doc = _verify_totals(view, path, doc, plan, order, settings, company, customer, article_ids,
                         is_foreign, kind=kind, checkpoint=checkpoint)
    outcome.visma_total = _cents(doc.get("TotalAmount"))


def credit(order: Order, refund: Refund, index: int, settings: Settings, services: Any,
            checkpoint: Checkpoint, view: VismaView, outcome: OrderOutcome, *, dry_run: bool) -> None:
    """One credit invoice draft per Shopify refund, found by its reference before creating."""
    ref = refund_reference(order, index)
    found = view.documents.get(ref)
    if found is not None:
        outcome.status, outcome.document_id = "exists", found.get("Id", "")
        if not dry_run:
            checkpoint.pending.pop(ref, None)
            record_refund(checkpoint, refund.id, order.name, outcome.document_id)
        return
    company = view.load_company()
    customer = view.choose_customer(order.normalized_email, order.currency or company.currency)
    if customer is None:
        raise OrderError(ref, "the Visma customer of the original document was not found (by e-mail and currency)",
                         hint="check the customer in Visma; the next sync retries the credit", field="email")
    outcome.customer = f"reuse {customer.get('CustomerNumber') or customer['Id']}"
    is_foreign = mapping.foreign_customer(customer, company)
    plan = mapping.plan_refund(order, refund, company, settings.mapping, index=index, is_foreign=is_foreign,
                               includes_vat=mapping.document_includes_vat(customer, company))
    outcome.expected_total = f"{plan.expected_total:.2f}"
    article_ids = _ensure_articles(plan.articles(), view, outcome, dry_run=dry_run)
    body = mapping.credit_draft_body(plan, customer_id=customer["Id"], article_ids=article_ids, customer=customer)
    if dry_run:
        outcome.body = {**outcome.body, "document": body} if outcome.body else body
        outcome.status = "would-create"
        return
    record_intent(checkpoint, ref, "credit", order.id)
    services.save_checkpoint(checkpoint)
    doc = view.create_document("customerinvoicedrafts", "draft", body, ref)
    outcome.status, outcome.document_id = "created", doc.get("Id", "")
    checkpoint.intents.pop(ref, None)
    checkpoint.pending.pop(ref, None)
    record_refund(checkpoint, refund.id, order.name, outcome.document_id)
    doc = _verify_totals(view, "customerinvoicedrafts", doc, plan, order, settings, company,
                         customer, article_ids, is_foreign, kind="credit", refund=(refund, index),
                         checkpoint=checkpoint)
    outcome.visma_total = _cents(doc.get("TotalAmount"))


def _cents_of(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


def _cents(value: Any) -> str:
    return "" if value is None else f"{Decimal(str(value)):.2f}"


def _document_body(plan: Any, workflow: str, customer_id: str, article_ids: dict[str, str],
                   customer: dict[str, Any], order: Order) -> dict[str, Any]:
    if workflow == "order":
        return mapping.order_body(plan, customer_id=customer_id, article_ids=article_ids, customer=customer,
                                  order_date=order.created_at.date().isoformat())
    return mapping.draft_body(plan, customer_id=customer_id, article_ids=article_ids, customer=customer)


def _verify_totals(view: VismaView, path: str, doc: dict[str, Any], plan: Any, order: Order, settings: Settings,
                   company: mapping.Company, customer: dict[str, Any], article_ids: dict[str, str],
                   is_foreign: bool, *, kind: str, checkpoint: Checkpoint,
                   refund: tuple[Refund, int] | None = None) -> dict[str, Any]:
    """Visma decides whether row prices include VAT: read `IncludesVat` back and, when the
    prediction was wrong, correct the rows with PUT before anyone approves the document.
    Then Visma's total must equal Shopify's to the cent, or the order is reported loudly."""
    includes = doc.get("IncludesVat")
    if includes is not None and bool(includes) != plan.includes_vat:
        log.warning("%s: Visma priced the rows %s VAT; correcting the document", plan.reference,
                    "including" if includes else "excluding")
        if refund is not None:
            plan = mapping.plan_refund(order, refund[0], company, settings.mapping, index=refund[1],
                                       includes_vat=bool(includes), is_foreign=is_foreign)
        else:
            plan = mapping.plan_document(order, company, settings.mapping, includes_vat=bool(includes),
                                         is_foreign=is_foreign)
        missing = [a for a in plan.articles() if a.number not in article_ids]  # e.g. a rounding row now
        view.lookup_articles([a.number for a in missing])
        for spec in missing:
            article_ids[spec.number] = (view.articles.get(spec.number.lower()) or view.create_article(spec))["Id"]
        if refund is not None:
            body = mapping.credit_draft_body(plan, customer_id=customer["Id"], article_ids=article_ids,
                                             customer=customer)
        else:
            body = _document_body(plan, settings.visma.workflow, customer["Id"], article_ids, customer, order)
        doc = view.client.put(f"{path}/{doc['Id']}", body)
    total, vat = doc.get("TotalAmount"), doc.get("TotalVatAmount")
    problem = ""
    if total is not None and _cents_of(total) != plan.expected_total:
        problem = f"Visma computed a total of {_cents_of(total)} but Shopify's is {plan.expected_total:.2f}"
    elif vat is not None and _cents_of(vat) != plan.expected_vat:
        problem = f"Visma computed VAT of {_cents_of(vat)} but {plan.expected_vat:.2f} was expected"
    if problem:
        reason = (f"{problem} {order.currency}; {kind} {doc.get('Id')} was created and needs a manual check "
                  "before approval")
        # Kept (bounded) for `status` after the pending entry is gone: the document exists.
        checkpoint.edited[plan.reference] = {"reason": reason, "at": iso_utc(datetime.now(UTC)),
                                             "document_id": doc.get("Id", "")}
        raise OrderError(plan.reference, reason, field="total",
                         hint="compare the document in Visma with the Shopify order (docs/accounting.md)")
    return doc


def mark_done(checkpoint: Checkpoint, order: Order, document_id: str, kind: str) -> None:
    record_transfer(checkpoint, order.name, document_id, kind)
    checkpoint.recent[order.name]["total"] = str(order.total)
