"""[payments]: a booked invoice gets the order's Shopify payments registered, exactly once.

The plan (mapping/payments.py) is pure and decides from what the invoice says is still
unpaid; this module does the I/O around it: the company's bank accounts (read once per
pass), the POSTs in order, and a re-read of the invoice when an answer was lost, so the
plan starts again from Visma's own figure instead of from a guess.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from shopvisma.config.settings import Settings
from shopvisma.engine.outcomes import OrderOutcome
from shopvisma.engine.records import VismaRecords
from shopvisma.timefmt import utc_now

if TYPE_CHECKING:
    from shopvisma.mapping.payments import Payment, PaymentPlan
    from shopvisma.shopify.order import Order

log = logging.getLogger("shopvisma.engine.payments")

MAX_LOST_ANSWERS = 3  # payment answers lost in a row before the order's payment is left pending


def paid_in_shopify(order: Order) -> Decimal:
    """The sum of the order's successful payments: what the checkpoint compares with."""
    return sum((t.amount for t in order.transactions if t.is_payment), Decimal(0))


def payments_due(order: Order, done: dict[str, Any], settings: Settings) -> bool:
    """An order transferred earlier must be looked at again when Shopify now shows more (or
    other) payments than were registered: a capture after fulfilment, a second partial payment."""
    if settings.payments is None or not order.transactions_read or done.get("kind") not in ("invoice", None):
        return False
    return done.get("paid") is None or Decimal(str(done["paid"])) != paid_in_shopify(order)


def bank_accounts(view: VismaRecords) -> list[dict[str, Any]]:
    """GET /v2/bankaccounts, once per pass (it needs ea:purchase_readonly: `login visma` asks for it)."""
    with view.creating(("bankaccounts", "")):  # orders in flight side by side read them once
        if view.bank_accounts is None:
            view.bank_accounts = [
                {k: a.get(k) for k in ("Id", "Name", "LedgerAccountNumber", "IsActive", "CurrencyCode")}
                for a in view.client.iter_list("bankaccounts")
            ]
    return view.bank_accounts


def register(
    view: VismaRecords,
    order: Order,
    invoice: dict[str, Any],
    settings: Settings,
    outcome: OrderOutcome,
    *,
    dry_run: bool,
    refund_payments: Sequence[Payment] | None = None,
) -> Decimal | None:
    """Register what is missing on `invoice` (a booked CustomerInvoiceApi); return the paid
    amount when nothing is left pending (None otherwise). `refund_payments`: a credit
    invoice's paid-back amounts instead of the order's payments."""
    from shopvisma.mapping.payments import order_payments, plan_payments

    assert settings.payments is not None
    today = utc_now().date()
    payments = list(refund_payments) if refund_payments is not None else order_payments(order.transactions, today)
    company = view.load_company()
    accounts = bank_accounts(view) if payments else []

    def plan_for(doc: dict[str, Any]) -> PaymentPlan:
        return plan_payments(
            payments,
            invoice=doc,
            accounts=settings.payments.accounts if settings.payments else {},
            bank_accounts=accounts,
            company_currency=company.currency,
        )

    plan = plan_for(invoice)
    if dry_run:
        outcome.payments = [_shown(step.body, step.bank_account, step.payment.gateway) for step in plan.steps]
        return _finish(plan, outcome)
    lost = 0
    while True:
        step_failed = False
        for step in plan.steps:
            try:
                _post(view, str(invoice["Id"]), step.body, outcome, step.bank_account, step.payment.gateway)
            except _AnswerLost:
                step_failed = True
                break
        if not step_failed:
            return _finish(plan, outcome)
        lost += 1
        if lost >= MAX_LOST_ANSWERS:
            outcome.payment_pending = "Visma did not confirm the payments registered; the next sync checks them"
            outcome.payment_hint = "nothing is registered twice: the next sync reads what the invoice says is unpaid"
            return None
        # Whatever went through shows in the invoice's remaining amount: plan again from it.
        invoice = view.client.get(f"customerinvoices/{invoice['Id']}")
        plan = plan_for(invoice)


class _AnswerLost(Exception):
    pass


def _post(
    view: VismaRecords, invoice_id: str, body: dict[str, Any], outcome: OrderOutcome, account: str, gateway: str
) -> None:
    from shopvisma.visma.errors import AmbiguousWriteError, VismaValidationError

    sent = _signed(view, body)
    try:
        view.client.post(f"customerinvoices/{invoice_id}/payments", sent)
    except AmbiguousWriteError:
        raise _AnswerLost from None
    except VismaValidationError as exc:
        # A credit invoice's payment: the docs give no sign. Negative (the invoice's own sign)
        # is tried first; refused for its sign, the positive reading is taken and remembered.
        if Decimal(str(body["PaymentAmount"])) < 0 and not view.credit_payments_positive:
            if "PaymentAmount" in str(exc.field_errors) or "positive" in exc.message.lower():
                view.credit_payments_positive = True
                try:
                    view.client.post(f"customerinvoices/{invoice_id}/payments", _signed(view, body))
                except AmbiguousWriteError:
                    raise _AnswerLost from None
            else:
                raise
        else:
            raise
    outcome.payments.append(_shown(body, account, gateway))


def _signed(view: VismaRecords, body: dict[str, Any]) -> dict[str, Any]:
    if not view.credit_payments_positive or Decimal(str(body["PaymentAmount"])) >= 0:
        return body
    flipped = dict(body, PaymentAmount=-Decimal(str(body["PaymentAmount"])))
    if body.get("DomesticPaymentAmount") is not None:
        flipped["DomesticPaymentAmount"] = -Decimal(str(body["DomesticPaymentAmount"]))
    return flipped


def _shown(body: dict[str, Any], account: str, gateway: str) -> dict[str, Any]:
    return {
        "amount": f"{Decimal(str(body['PaymentAmount'])):.2f}",
        "currency": body["PaymentCurrency"],
        "date": body["PaymentDate"],
        "gateway": gateway,
        "bank_account": account,
    }


def _finish(plan: PaymentPlan, outcome: OrderOutcome) -> Decimal | None:
    if plan.pending:
        outcome.payment_pending, outcome.payment_hint = plan.pending, plan.hint
        outcome.field = outcome.field or plan.field
        return None
    return plan.paid


def planned_invoice(order: Order, total: Decimal) -> dict[str, Any]:
    """dry-run: the invoice a new order would get, as far as payments need it."""
    return {
        "Id": "<new invoice>",
        "CurrencyCode": order.currency,
        "TotalAmountInvoiceCurrency": total,
        "RemainingAmountInvoiceCurrency": total,
    }
