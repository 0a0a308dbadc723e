"""The natural keys a Visma document is found by, and where each kind of document lives.

Exactly-once rests on these rules: a pass looks every order up by its reference before
it creates anything, so the reference a document is written with, the one sync looks
for and the one reconcile checks must never drift apart. They are written here only.
Cheap to import (no mapping code): an idle pass reads them too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shopvisma.shopify.order import Order

REFERENCE_FIELD = "YourReference"  # the Visma property that carries the reference

Kind = tuple[str, str]  # (endpoint path, kind): the kind is what outcomes and the checkpoint name

DRAFT: Kind = ("customerinvoicedrafts", "draft")
INVOICE: Kind = ("customerinvoices", "invoice")
ORDER: Kind = ("orders", "order")

# A credit is always created as a draft, whatever the workflow, and is an invoice once approved.
CREDIT_KINDS: tuple[Kind, ...] = (DRAFT, INVOICE)
CREDIT_CREATED: Kind = DRAFT


def order_reference(order: Order) -> str:
    """The Shopify order name ("#1001"): unique per shop and what an accountant searches for."""
    return order.name


def refund_reference(order: Order, index: int) -> str:
    """`index` counts the order's refunds in the order Shopify made them (selection.credited_refunds),
    so a refund keeps its reference when another one is added."""
    return f"{order.name} refund {index}"


def created_kind(workflow: str) -> Kind:
    """The document a transfer creates: a sales order, or (the default) an invoice draft."""
    return ORDER if workflow == "order" else DRAFT


def document_kinds(workflow: str) -> list[Kind]:
    """Where a transferred order can be: its own kind, or an invoice once approved/converted.
    With workflow = "invoice" the booked invoice is looked for first: a draft found next to
    it must never be converted into a second one."""
    if workflow == "invoice":
        return [INVOICE, DRAFT]
    return [created_kind(workflow), INVOICE]


def editable_path(kind: str) -> str | None:
    """The endpoint a document of `kind` may still be corrected at; None once it is a booked
    invoice, which a tool never rewrites."""
    return {k: path for path, k in (DRAFT, ORDER)}.get(kind)
