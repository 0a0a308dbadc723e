"""One order (or one refund) → its Visma document, with customer and articles.

sync_pass decides *which* orders a pass handles; this module does the writes for one
of them, in the order that keeps a crash harmless: articles and customer (found
by natural key first), then an intent in the checkpoint, then the document, then
the read-back check of Visma's own totals.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from shopvisma.config.settings import Settings
from shopvisma.engine.outcomes import OrderOutcome
from shopvisma.engine.payments import planned_invoice
from shopvisma.engine.records import VismaRecords
from shopvisma.engine.references import (
    CREDIT_CREATED,
    created_kind,
    editable_path,
    order_reference,
    refund_reference,
)
from shopvisma.engine.settle import Fixer, document_body
from shopvisma.errors import OrderError
from shopvisma.mapping.bodies import credit_draft_body
from shopvisma.mapping.company import Company, customer_body, foreign_customer
from shopvisma.mapping.plan import plan_document, plan_refund, require_email
from shopvisma.mapping.rows import ArticleSpec
from shopvisma.shopify.order import Order, Refund
from shopvisma.state.checkpoint import Checkpoint, record_intent, record_refund, record_transfer
from shopvisma.timefmt import iso_z, utc_now
from shopvisma.visma.readings import document_total

if TYPE_CHECKING:
    from shopvisma.engine.sync_pass import Services

log = logging.getLogger("shopvisma.engine.transfer")


def _customer_for(
    order: Order, view: VismaRecords, company: Company, settings: Settings, outcome: OrderOutcome
) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """(existing customer or None, the customer as the document will see it)."""
    currency = order.currency or company.currency
    customer = view.choose_customer(order.normalized_email, currency)
    if customer is not None:
        outcome.customer = f"reuse {customer.get('CustomerNumber') or customer['Id']}"
        return customer, customer
    outcome.customer = "create"
    return None, customer_body(order, company, settings.mapping, currency=currency)


def _ensure_articles(
    specs: list[ArticleSpec], view: VismaRecords, outcome: OrderOutcome, *, dry_run: bool
) -> dict[str, str]:
    ids: dict[str, str] = {}
    for spec in specs:
        art = view.articles.get(spec.number.lower())
        outcome.articles.append(f"{'reuse' if art else 'create'} {spec.number}")
        if art is None and dry_run:
            ids[spec.number] = f"<new article {spec.number}>"
            outcome.body = {
                **(outcome.body or {}),
                "articles": [*(outcome.body or {}).get("articles", []), spec.body()],
            }
        else:
            ids[spec.number] = (art or view.create_article(spec))["Id"]
    return ids


def transfer(
    order: Order,
    settings: Settings,
    services: Services,
    checkpoint: Checkpoint,
    view: VismaRecords,
    outcome: OrderOutcome,
    *,
    dry_run: bool,
) -> None:
    company = view.load_company()
    require_email(order)
    customer, cust_view = _customer_for(order, view, company, settings, outcome)
    includes_vat = view.predict_includes_vat(cust_view, company)
    is_foreign = foreign_customer(cust_view, company)
    plan = plan_document(order, company, settings.mapping, includes_vat=includes_vat, is_foreign=is_foreign)
    outcome.expected_total = f"{plan.expected_total:.2f}"
    workflow = settings.visma.workflow
    path, kind = created_kind(workflow)
    if dry_run and customer is None:
        outcome.body = {"customer": cust_view}
    article_ids = _ensure_articles(plan.articles(), view, outcome, dry_run=dry_run)
    if dry_run:
        cid = customer["Id"] if customer else "<new customer>"
        document = document_body(plan, workflow, cid, article_ids, cust_view, order, settings.visma.order_status)
        outcome.body = {**outcome.body, "document": document} if outcome.body else document
        outcome.status, outcome.kind = "would-create", kind
        if workflow == "invoice":  # booked at once: the draft is only the checked first step
            outcome.kind = "invoice"
            outcome.body = {**outcome.body, "then": "POST /v2/customerinvoicedrafts/{Id}/convert (booked at once)"}
            _register(view, order, planned_invoice(order, plan.expected_total), settings, outcome, dry_run=True)
        elif workflow == "order" and _orders().wants_convert(settings, order):
            outcome.body = {**outcome.body, "then": "POST /v2/orders/{Id}/convert (booked as an invoice)"}
            shown = planned_invoice(order, plan.expected_total)
            _register(view, order, shown, settings, outcome, dry_run=True)
        return
    if customer is None:
        customer = view.create_customer(order.normalized_email, cust_view)
        outcome.customer = f"created {customer.get('CustomerNumber') or customer['Id']}"
    body = document_body(plan, workflow, customer["Id"], article_ids, customer, order, settings.visma.order_status)
    record_intent(checkpoint, order.name, kind, order.id)
    services.save_checkpoint(checkpoint)
    doc = view.create_document(path, kind, body, order_reference(order))
    outcome.status, outcome.document_id, outcome.kind = "created", doc.get("Id", ""), kind
    outcome.document_number = document_number(doc)
    fix = Fixer(view, settings, company, order, customer, article_ids, is_foreign, path, kind, checkpoint)
    doc = fix.settle(doc, plan)  # exact, or deleted (fix raised)
    outcome.visma_total = _cents(doc.get("TotalAmount", doc.get("TotalAmountInvoiceCurrency")))
    if workflow == "invoice":
        doc = book_draft(view, doc, outcome)
    elif workflow == "order" and _orders().wants_convert(settings, order):
        mark_done(checkpoint, order, outcome)  # the order is in Visma whatever the convert does
        doc = _orders().convert_order(view, order, doc, settings, outcome, fresh=True) or doc
    mark_done(checkpoint, order, outcome)  # the invoice is the order's: payments are its own step
    if workflow == "order":
        _orders().remember(checkpoint.recent[order.name], order, settings, outcome, doc)
    if outcome.booked:
        _register(view, order, doc, settings, outcome, dry_run=False)
        mark_done(checkpoint, order, outcome)


def _register(
    view: VismaRecords,
    order: Order,
    invoice: dict[str, Any],
    settings: Settings,
    outcome: OrderOutcome,
    *,
    dry_run: bool,
    refund: tuple[Refund, int] | None = None,
) -> None:
    """[payments]: the order's payments on its invoice, or a refund's paid-back amounts on its credit."""
    if settings.payments is None:
        return
    from shopvisma.engine.payments import register
    from shopvisma.mapping.payments import refund_payments

    paid_back = refund_payments(refund[0].transactions, utc_now().date()) if refund is not None else None
    paid = register(view, order, invoice, settings, outcome, dry_run=dry_run, refund_payments=paid_back)
    outcome.paid = "" if paid is None else f"{paid:.2f}"


def _orders() -> Any:
    """engine/orders (workflow = "order" only): loaded when the workflow needs it."""
    from shopvisma.engine import orders

    return orders


def book_draft(view: VismaRecords, draft: dict[str, Any], outcome: OrderOutcome) -> dict[str, Any]:
    """workflow = "invoice": the draft, checked to the cent, is converted into a booked invoice.
    Converting last means a booked invoice is never wrong (a draft can still be corrected or
    deleted); a crash before the convert leaves the draft, which the next pass finds by its
    reference, checks and converts; a crash after it leaves the invoice, which is found first."""
    invoice = view.client.post(
        f"customerinvoicedrafts/{draft['Id']}/convert",
        {},
        params={"keepOriginalDraftDate": "true", "overrideCompanyKeepOriginalDraftDate": "true"},
    )
    outcome.document_id, outcome.kind, outcome.booked = str(invoice.get("Id", "")), "invoice", True
    outcome.document_number = document_number(invoice)
    return invoice


def document_number(doc: dict[str, Any]) -> str:
    """The number a person finds the document by in Visma (a draft has none)."""
    return str(doc.get("InvoiceNumber") or doc.get("Number") or "")


def verify_existing(
    order: Order,
    doc: dict[str, Any],
    settings: Settings,
    checkpoint: Checkpoint,
    view: VismaRecords,
    outcome: OrderOutcome,
    *,
    dry_run: bool,
    refund: tuple[Refund, int] | None = None,
) -> None:
    """A document found by its reference that this state dir never saw settle (a crash
    between its create and its correction, a lost checkpoint): its total must be checked
    before the order counts as done. A draft or a sales order that is off is corrected
    (or deleted and the order refused); an approved invoice that is off is reported."""
    kind = doc.get("_kind", "")
    outcome.status, outcome.document_id, outcome.kind = "exists", doc.get("Id", ""), kind
    outcome.document_number = document_number(doc)
    target = -refund[0].total if refund is not None else order.total
    total = document_total(doc, target)
    if total is None or total == target:
        if kind == "draft" and settings.visma.workflow == "invoice":
            if dry_run:  # a crash came between the draft and its convert: sync converts it
                outcome.kind = "invoice"
                _register(view, order, planned_invoice(order, target), settings, outcome, dry_run=True, refund=refund)
                return
            doc = book_draft(view, doc, outcome)
        if kind == "order" and refund is None and settings.visma.workflow == "order":
            if dry_run:
                if _orders().wants_convert(settings, order):
                    outcome.body = {"then": "POST /v2/orders/{Id}/convert (booked as an invoice)"}
                return
            # Moved on once Shopify fulfils it, converted when [visma] convert_orders says so.
            doc = _orders().follow_up(view, order, doc, settings, outcome) or doc
        if outcome.kind == "invoice":
            _register(view, order, doc, settings, outcome, dry_run=dry_run, refund=refund)
        return
    found = f"{total} {order.currency} where Shopify's total is {target:.2f}"
    path = editable_path(kind)
    name = refund_reference(order, refund[1]) if refund is not None else order_reference(order)
    if path is None:  # approved: a booked invoice is never rewritten by a tool
        reason = f"the approved Visma invoice {doc.get('Id')} totals {found}"
        outcome.status, outcome.reason = "edited", reason
        outcome.hint = "credit the invoice in Visma and invoice the order again by hand (docs/accounting.md)"
        if not dry_run:
            checkpoint.edited[name] = {"reason": reason, "at": iso_z(utc_now()), "document_id": doc.get("Id", "")}
        return
    if dry_run:
        outcome.reason = f"the {kind} totals {found}; sync corrects it"
        return
    log.warning("%s: the Visma %s %s totals %s; correcting it", name, kind, doc.get("Id"), found)
    company = view.load_company()
    customer = view.customer_by_id(order.normalized_email, str(doc.get("CustomerId") or ""))
    if customer is None:
        raise OrderError(
            name,
            f"the Visma {kind} {doc.get('Id')} totals {found}, and its customer "
            f"{doc.get('CustomerId')} was not found to correct it",
            hint="correct or delete the document in Visma; the next sync checks it again",
            field="total",
        )
    is_foreign = foreign_customer(customer, company)
    includes = doc.get("IncludesVat")
    includes_vat = bool(includes) if includes is not None else view.predict_includes_vat(customer, company)
    fix = Fixer(view, settings, company, order, customer, {}, is_foreign, path, kind, checkpoint, refund)
    plan = fix.plan(includes_vat)
    fixed = fix.settle(fix.put(doc, plan), plan)
    if kind == "draft" and settings.visma.workflow == "invoice":
        _register(view, order, book_draft(view, fixed, outcome), settings, outcome, dry_run=False, refund=refund)
    outcome.visma_total = f"{target:.2f}"


def credit(
    order: Order,
    refund: Refund,
    index: int,
    settings: Settings,
    services: Services,
    checkpoint: Checkpoint,
    view: VismaRecords,
    outcome: OrderOutcome,
    *,
    dry_run: bool,
) -> None:
    """One credit invoice draft per Shopify refund, found by its reference before creating."""
    ref = refund_reference(order, index)
    found = view.documents.get(ref)
    if found is not None:  # never seen settled here (open_refunds skips those): check it
        verify_existing(order, found, settings, checkpoint, view, outcome, dry_run=dry_run, refund=(refund, index))
        if not dry_run:
            _credited(checkpoint, order, refund, ref, outcome)
        return
    company = view.load_company()
    customer = view.choose_customer(order.normalized_email, order.currency or company.currency)
    if customer is None:
        raise OrderError(
            ref,
            "the Visma customer of the original document was not found (by e-mail and currency)",
            hint="check the customer in Visma; the next sync retries the credit",
            field="email",
        )
    outcome.customer = f"reuse {customer.get('CustomerNumber') or customer['Id']}"
    is_foreign = foreign_customer(customer, company)
    plan = plan_refund(
        order,
        refund,
        company,
        settings.mapping,
        index=index,
        is_foreign=is_foreign,
        includes_vat=view.predict_includes_vat(customer, company),
    )
    outcome.expected_total = f"{plan.expected_total:.2f}"
    article_ids = _ensure_articles(plan.articles(), view, outcome, dry_run=dry_run)
    body = credit_draft_body(plan, customer_id=customer["Id"], article_ids=article_ids, customer=customer)
    credited = _credited_number(order, view, checkpoint)
    if credited:  # the API has no writable link (CreditedBy is read-only): say it where people look
        body["OurReference"] = f"Credit of invoice {credited}"[:100]
    books = settings.visma.workflow == "invoice"
    if dry_run:
        outcome.body = {**outcome.body, "document": body} if outcome.body else body
        outcome.status = "would-create"
        if books:
            outcome.body = {**outcome.body, "then": "POST /v2/customerinvoicedrafts/{Id}/convert (booked at once)"}
            shown = planned_invoice(order, plan.expected_total)
            _register(view, order, shown, settings, outcome, dry_run=True, refund=(refund, index))
        return
    record_intent(checkpoint, ref, "credit", order.id)
    services.save_checkpoint(checkpoint)
    doc = view.create_document(*CREDIT_CREATED, body, ref)
    outcome.status, outcome.document_id = "created", doc.get("Id", "")
    fix = Fixer(
        view,
        settings,
        company,
        order,
        customer,
        article_ids,
        is_foreign,
        CREDIT_CREATED[0],
        "credit",
        checkpoint,
        (refund, index),
    )
    doc = fix.settle(doc, plan)
    outcome.visma_total = _cents(doc.get("TotalAmount"))
    checkpoint.intents.pop(ref, None)
    if books:  # a booked credit invoice, like the invoice it credits
        doc = book_draft(view, doc, outcome)
        _register(view, order, doc, settings, outcome, dry_run=False, refund=(refund, index))
    _credited(checkpoint, order, refund, ref, outcome)


def _credited(checkpoint: Checkpoint, order: Order, refund: Refund, ref: str, outcome: OrderOutcome) -> None:
    """The refund is done once its credit is in Visma and (with [payments]) its paid-back amount
    is on it; a pending payment keeps the refund open, so the next pass comes back to it."""
    checkpoint.pending.pop(ref, None)
    if not outcome.payment_pending:
        record_refund(checkpoint, refund.id, order.name, outcome.document_id)


def _credited_number(order: Order, view: VismaRecords, checkpoint: Checkpoint) -> str:
    """The number of the invoice a refund credits, where this pass or the checkpoint knows it."""
    doc = view.documents.get(order_reference(order)) or {}
    if doc.get("_kind") == "invoice" and document_number(doc):
        return document_number(doc)
    done = checkpoint.recent.get(order.name) or {}
    return str(done.get("number") or "") if done.get("kind") == "invoice" else ""


def _cents(value: Any) -> str:
    return "" if value is None else f"{Decimal(str(value)):.2f}"


def mark_done(checkpoint: Checkpoint, order: Order, outcome: OrderOutcome) -> None:
    record_transfer(checkpoint, order.name, outcome.document_id, outcome.kind)
    done = checkpoint.recent[order.name]
    done["total"] = str(order.total)
    if outcome.document_number:  # InvoiceNumber / order Number: what write-back tags the order with
        done["number"] = outcome.document_number
    if outcome.paid:  # every Shopify payment is on the invoice (engine/payments.payments_due)
        done["paid"] = outcome.paid
