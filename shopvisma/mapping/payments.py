"""Which Shopify payments still belong on a booked Visma invoice, and how to post them. No I/O.

Visma keeps no list of an invoice's payments that an API client can read: the only
record is what the invoice says is still unpaid (`RemainingAmountInvoiceCurrency`).
So "already registered" is decided from that one number: the order's payments are
taken in a fixed order (processed time, then id), and the amount paid on the invoice
must be the sum of the first k of them; those k are done and the rest are posted.
A paid amount that is no such sum (someone registered a different amount by hand) is
never guessed at: the order's payment stays pending, named. The same rule holds after
a crash between two payments, a lost checkpoint, or two runs at once, because every
pass starts again from what Visma says.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from shopvisma.shopify.order import Transaction

CENT = Decimal("0.01")
PARTIAL_PAYMENT, COMPLETE_PAYMENT = 1, 2  # InvoicePaymentApi.PaymentType


@dataclass(frozen=True)
class Payment:
    """One amount that should be on the invoice: a Shopify payment (positive) or, on a
    credit invoice, a refund paid back (negative)."""

    transaction_id: str
    gateway: str
    amount: Decimal  # signed, in `currency`
    currency: str
    on: date
    shop_amount: Decimal | None = None  # the same amount in the shop's currency, signed
    shop_currency: str = ""


@dataclass(frozen=True)
class PaymentStep:
    """One POST /v2/customerinvoices/{id}/payments."""

    payment: Payment
    bank_account_id: str
    bank_account: str  # for people: "1580 Shopify Payments"
    body: dict[str, Any]


@dataclass
class PaymentPlan:
    steps: list[PaymentStep] = field(default_factory=list)
    done: list[Payment] = field(default_factory=list)  # on the invoice already
    pending: str = ""  # why the rest is not posted ("" = nothing pending)
    hint: str = ""
    field: str = ""  # the config key to set, when one would help

    @property
    def paid(self) -> Decimal:
        return sum((p.amount for p in self.done), Decimal(0)) + sum((s.payment.amount for s in self.steps), Decimal(0))


def order_payments(transactions: Sequence[Transaction], today: date) -> list[Payment]:
    """The order's successful payments, in the fixed order the prefix rule needs."""
    return _payments([t for t in transactions if t.is_payment], today, sign=1)


def refund_payments(transactions: Sequence[Transaction], today: date) -> list[Payment]:
    """What one refund paid back, as negative amounts for its credit invoice."""
    return _payments([t for t in transactions if t.is_refund], today, sign=-1)


def _payments(transactions: list[Transaction], today: date, *, sign: int) -> list[Payment]:
    # Dated on the Shopify transaction's day (UTC: never later than the day in a Nordic
    # company's time zone, so never "in the future" for Visma), and never after today.
    ordered = sorted(transactions, key=lambda t: (t.processed_at is None, t.processed_at, t.id))
    out = []
    for t in ordered:
        if not t.amount:
            continue
        on = min(t.processed_at.date(), today) if t.processed_at is not None else today
        shop = t.shop_amount * sign if t.shop_amount is not None else None
        out.append(Payment(t.id, t.gateway, t.amount * sign, t.currency, on, shop, t.shop_currency))
    return out


def _label(account: Mapping[str, Any]) -> str:
    return f"{account.get('LedgerAccountNumber', '')} {account.get('Name', '')}".strip()


def find_bank_account(value: str, accounts: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """A configured bank account: its ledger account number ("1580") or its Id."""
    wanted = value.strip().lower()
    for account in accounts:
        if str(account.get("Id", "")).lower() == wanted or str(account.get("LedgerAccountNumber", "")) == wanted:
            return account
    return None


def plan_payments(
    payments: Sequence[Payment],
    *,
    invoice: Mapping[str, Any],
    accounts: Mapping[str, str],
    bank_accounts: Sequence[Mapping[str, Any]],
    company_currency: str,
) -> PaymentPlan:
    """What to post on `invoice` (a CustomerInvoiceApi as Visma returned it) so that its
    paid amount equals `payments`, or why not."""
    plan = PaymentPlan()
    currency = str(invoice.get("CurrencyCode") or invoice.get("InvoiceCurrencyCode") or company_currency)
    total = _amount(invoice, "TotalAmountInvoiceCurrency", "TotalAmount")
    remaining = _amount(invoice, "RemainingAmountInvoiceCurrency", "RemainingAmount")
    if total is None or remaining is None:
        plan.pending = "Visma's invoice shows no total or remaining amount to register payments against"
        plan.hint = "check the invoice in Visma; the next sync tries again"
        return plan
    paid = total - remaining
    k, running = 0, Decimal(0)
    while k < len(payments) and running != paid and abs(running + payments[k].amount) <= abs(paid):
        running += payments[k].amount
        k += 1
    if running != paid:
        listed = ", ".join(f"{p.amount:.2f}" for p in payments) or "none"
        plan.pending = (
            f"the invoice shows {paid:.2f} {currency} paid, which is not a run of Shopify's payments "
            f"({listed}) in order; nothing more is registered"
        )
        plan.hint = "compare the invoice's payments in Visma with the order in Shopify and correct them by hand"
        return plan
    plan.done = list(payments[:k])
    for p in payments[k:]:
        problem = _check(p, currency, remaining)
        account: Mapping[str, Any] | None = None
        if not problem:
            mapped = _mapped(p.gateway, accounts)
            if mapped is None:
                plan.field = f"payments.accounts.{p.gateway or '*'}"
                problem = f'no bank account is mapped for the Shopify gateway "{p.gateway}"'
                plan.hint = f'add it to [payments] accounts, e.g. {p.gateway or "manual"} = "1930" (or "*" = "1930")'
            else:
                account = find_bank_account(mapped, bank_accounts)
                if account is None or not account.get("IsActive", True):
                    what = "is inactive" if account is not None else "does not exist"
                    plan.field = f"payments.accounts.{p.gateway}"
                    problem = f'the Visma bank account "{mapped}" mapped for "{p.gateway}" {what}'
                    plan.hint = "create it in Visma (Settings → Bank accounts) or map the gateway to another one"
        if problem:
            plan.pending = f"payment {p.amount:.2f} {p.currency} via {p.gateway or 'unknown gateway'}: {problem}"
            plan.hint = plan.hint or "correct it in Shopify or Visma; the next sync registers it"
            return plan
        assert account is not None
        complete = p.amount == remaining
        body: dict[str, Any] = {
            "CompanyBankAccountId": account["Id"],
            "PaymentDate": p.on.isoformat(),
            "PaymentAmount": p.amount,
            "PaymentCurrency": currency,
            "PaymentType": COMPLETE_PAYMENT if complete else PARTIAL_PAYMENT,
            "Reference": f"Shopify {p.gateway} {p.transaction_id.rsplit('/', 1)[-1]}"[:50],
        }
        if currency != company_currency and p.shop_currency == company_currency and p.shop_amount is not None:
            body["DomesticPaymentAmount"] = p.shop_amount
        plan.steps.append(PaymentStep(p, str(account["Id"]), _label(account), body))
        remaining -= p.amount
    return plan


def _check(p: Payment, currency: str, remaining: Decimal) -> str:
    if p.currency and p.currency != currency:
        return f"it is in {p.currency} but the invoice is in {currency}"
    if p.amount.quantize(CENT) != p.amount:
        return "it has more than 2 decimals"
    if abs(p.amount) > abs(remaining) or (remaining and (p.amount > 0) != (remaining > 0)):
        return f"it is more than the {remaining:.2f} {currency} still unpaid on the invoice"
    return ""


def _mapped(gateway: str, accounts: Mapping[str, str]) -> str | None:
    return accounts.get(gateway.strip().lower()) or accounts.get("*")


def _amount(invoice: Mapping[str, Any], key: str, fallback: str) -> Decimal | None:
    value = invoice.get(key, invoice.get(fallback))
    return None if value is None else Decimal(str(value)).quantize(CENT)
