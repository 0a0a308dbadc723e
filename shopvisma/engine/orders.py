"""workflow = "order": what happens to a Visma sales order after it was created.

Two follow-ups, both decided from what Visma holds now (never from local state alone),
so a lost checkpoint or a crash between two steps cannot make either happen twice:

* `move_on`: with `[visma] order_status = "fulfillment"`, an order transferred while Shopify
  had not fulfilled it is Ongoing (2); once Shopify fulfils it, the Visma order is moved on to
  Shipped (3), once, and never backwards (a status a person set later, or an invoiced order,
  is left alone).
* `convert_order`: with `[visma] convert_orders = "when-fulfilled"` or `"at-once"`, the order
  is booked as a customer invoice with `POST /v2/orders/{id}/convert` (200, the invoice:
  a CustomerInvoiceApi). The invoice carries the order's `YourReference`, and is looked for
  *first*: a crash right after the convert leaves the invoice, which the next pass finds, and
  an order Visma already shows as Invoiced (4) is never converted again.

The pass calls these for a document it found by reference (`view.documents`) or has just
created; they return what they did and fill the outcome, and write nothing else.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from shopvisma.config.settings import Settings
from shopvisma.engine.outcomes import OrderOutcome
from shopvisma.engine.records import VismaRecords, WriteNotDoneError
from shopvisma.engine.references import INVOICE, ORDER, order_reference

if TYPE_CHECKING:
    from shopvisma.shopify.order import Order

log = logging.getLogger("shopvisma.engine.orders")

# OrderApi.Status (2026 OpenAPI): Draft = 1, Ongoing = 2, Shipped = 3, Invoiced = 4.
DRAFT, ONGOING, SHIPPED, INVOICED = 1, 2, 3, 4

# Read-only OrderApi properties (2026 OpenAPI, `readOnly: true`): Visma ignores them on a PUT,
# so they are not sent back. CustomerIsPrivatePerson stays: the 2018 swagger required it.
_READ_ONLY = frozenset(
    {
        "Id",
        "Number",
        "CreatedUtc",
        "ModifiedUtc",
        "CustomerNumber",
        "CustomerName",
        "DeliveryTermId",
        "DeliveryMethodId",
        "IncludesVat",
        "SalesDocumentAttachments",
        "MessageThreads",
        "Notes",
        "MaxAllowedTaxReductionAmount",
        "RotReducedInvoicingPercent",
        "IsNotDelivered",
        "CreatedFromQuoteId",
        "BackgroundId",
    }
)
_ROW_READ_ONLY = frozenset({"VatRate", "UnitId", "UnitName", "IsServiceArticle", "VatRateId"})


def is_fulfilled(order: Order) -> bool:
    return order.fulfillment_status == "fulfilled"


def wants_move_on(settings: Settings, order: Order) -> bool:
    """[visma] order_status = "fulfillment" and Shopify now says the order is fulfilled."""
    v = settings.visma
    return v.workflow == "order" and v.order_status == "fulfillment" and is_fulfilled(order)


def wants_convert(settings: Settings, order: Order) -> bool:
    """[visma] convert_orders: "at-once" always, "when-fulfilled" once Shopify has fulfilled it."""
    v = settings.visma
    if v.workflow != "order" or v.convert_orders == "never":
        return False
    return v.convert_orders == "at-once" or is_fulfilled(order)


def follow_up_due(order: Order, done: dict[str, Any] | None, settings: Settings) -> bool:
    """An order transferred in an earlier pass (`done` = its checkpoint.recent entry) must be
    looked up in Visma again: it should be moved on or converted, and this state dir has not
    seen that settled. Cheap (no request): the skip rule of the pass can call it per order."""
    if done is None or done.get("kind") == INVOICE[1]:
        return False  # not transferred yet (the pass looks it up anyway), or booked already
    if wants_convert(settings, order):
        return True
    return wants_move_on(settings, order) and "status" not in done


def remember(
    done: dict[str, Any], order: Order, settings: Settings, outcome: OrderOutcome, doc: dict[str, Any]
) -> None:
    """What the checkpoint's recent entry keeps after `follow_up` (call it after mark_done, which
    rewrites the entry), so the next pass skips the order without a request: the Visma status
    seen once Shopify had fulfilled the order (Shipped, or whatever a person set: never moved
    again), and the invoice once converted. Losing it costs one lookup: Visma decides."""
    if wants_move_on(settings, order) and _status(doc):
        done["status"] = _status(doc)
    if outcome.kind == INVOICE[1] and outcome.document_id:
        done.update(document_id=outcome.document_id, kind=INVOICE[1])
        if outcome.document_number:
            done["number"] = outcome.document_number


def follow_up(
    view: VismaRecords, order: Order, doc: dict[str, Any], settings: Settings, outcome: OrderOutcome
) -> dict[str, Any]:
    """Both follow-ups of a Visma order found by reference, in the order they must happen:
    moved on first (Ongoing → Shipped), then converted. Returns the booked invoice when there
    is one (what [payments] registers on), else {}."""
    move_on(view, order, doc, settings, outcome)
    return convert_order(view, order, doc, settings, outcome)


def _number(doc: dict[str, Any]) -> str:
    return str(doc.get("InvoiceNumber") or doc.get("Number") or "")


def _status(doc: dict[str, Any]) -> int:
    try:
        return int(doc.get("Status") or 0)
    except (TypeError, ValueError):
        return 0


def put_body(current: dict[str, Any], status: int) -> dict[str, Any]:
    """The whole order as Visma holds it, with another Status: a PUT replaces the order (rows
    left out would be removed), so everything writable is sent back as read."""
    body = {k: v for k, v in current.items() if k not in _READ_ONLY and not k.startswith("_")}
    body["Rows"] = [{k: v for k, v in row.items() if k not in _ROW_READ_ONLY} for row in current.get("Rows") or []]
    body["Status"] = status
    return body


def move_on(view: VismaRecords, order: Order, doc: dict[str, Any], settings: Settings, outcome: OrderOutcome) -> bool:
    """Ongoing → Shipped once Shopify has fulfilled the order; True when it wrote.

    The status is read from Visma (GET orders/{id}) just before: only an order still at Ongoing
    (2) is moved; Draft (1) is a person's "not ready" and stays, Shipped (3) is done, Invoiced (4)
    is frozen (Visma refuses any write to it). A document that is already an invoice is left."""
    if not wants_move_on(settings, order) or doc.get("_kind", ORDER[1]) != ORDER[1]:
        return False
    current = view.client.get(f"{ORDER[0]}/{doc['Id']}")
    status = _status(current)
    if status != ONGOING:
        log.debug("%s: Visma order %s has Status %s; not moved", order.name, doc.get("Id"), status)
        return False
    from shopvisma.visma.errors import AmbiguousWriteError

    try:
        saved = view.client.put(f"{ORDER[0]}/{doc['Id']}", put_body(current, SHIPPED))
    except AmbiguousWriteError as exc:
        saved = view.client.get(f"{ORDER[0]}/{doc['Id']}")  # a PUT is idempotent: what does Visma hold?
        if _status(saved) != SHIPPED:
            raise WriteNotDoneError(order.name, f"status change of the Visma order {doc['Id']}", exc) from None
    doc["Status"] = _status(saved) or SHIPPED
    outcome.document_id = outcome.document_id or str(doc.get("Id", ""))
    outcome.kind = outcome.kind or ORDER[1]
    outcome.document_number = outcome.document_number or _number(saved)
    log.info("%s: Visma order %s moved on to Shipped", order.name, doc.get("Id"))
    return True


def find_invoice(view: VismaRecords, order: Order) -> dict[str, Any] | None:
    """The booked invoice carrying the order's reference, never cached (a lookup after a crash
    or a lost answer must see what was just made); the oldest by number when there are more."""
    ref = order_reference(order)
    found = view.documents_by_reference([ref], [INVOICE]).get(ref) or []
    found.sort(key=lambda d: (len(_number(d)), _number(d)))
    return found[0] if found else None


def _booked(outcome: OrderOutcome, invoice: dict[str, Any], *, now: bool) -> dict[str, Any]:
    outcome.kind, outcome.document_id = INVOICE[1], str(invoice.get("Id", ""))
    outcome.document_number = _number(invoice)
    outcome.booked = now
    return invoice


def convert_order(
    view: VismaRecords,
    order: Order,
    doc: dict[str, Any],
    settings: Settings,
    outcome: OrderOutcome,
    *,
    fresh: bool = False,
) -> dict[str, Any]:
    """Book the Visma order as a customer invoice when [visma] convert_orders says it is time;
    returns the invoice (a CustomerInvoiceApi, what [payments] registers on), or {} when it is
    not time yet. Exactly once: an invoice with the order's reference is looked for first, and
    an order Visma shows as Invoiced is never converted again. `fresh`: `doc` was created in
    this pass, after the pass had looked the reference up as an order and as an invoice and
    found neither, so the two reads before the convert are skipped."""
    if not wants_convert(settings, order):
        return {}
    if doc.get("_kind") == INVOICE[1]:  # the pass found the invoice itself
        return _booked(outcome, doc, now=False)
    if not fresh:
        invoice = find_invoice(view, order)
        if invoice is not None:
            return _booked(outcome, invoice, now=False)
    current = doc if fresh else view.client.get(f"{ORDER[0]}/{doc['Id']}")
    if _status(current) == INVOICED:
        # Converted (by a person, or by a run whose invoice lost its reference): never twice.
        outcome.kind, outcome.document_id = ORDER[1], str(doc.get("Id", ""))
        outcome.reason = "the Visma order is Invoiced, but no invoice with its reference was found"
        outcome.hint = "find the invoice in Visma by the order number; nothing is converted again"
        log.warning("%s: Visma order %s is Invoiced without an invoice carrying %s", order.name, doc["Id"], order.name)
        return {}
    from shopvisma.visma.errors import AmbiguousWriteError

    try:
        invoice = view.client.post(f"{ORDER[0]}/{doc['Id']}/convert", {})
    except AmbiguousWriteError as exc:
        found = find_invoice(view, order)
        if found is None:
            raise WriteNotDoneError(order.name, f"invoice of the Visma order {doc['Id']}", exc) from None
        invoice = found
    doc["Status"] = INVOICED
    log.info("%s: Visma order %s converted into invoice %s", order.name, doc["Id"], _number(invoice))
    return _booked(outcome, invoice, now=True)
