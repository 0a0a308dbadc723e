"""Visma sandbox: POST /v2/customerinvoices/{invoiceId}/payments (InvoicePaymentApi), the rules
the 2026 OpenAPI and the 2018 swagger state, and the readings they leave open ("quirks").

Real Visma serves no GET of an invoice's payments (visma-real-evidence.md 2.6), so accepted
payments are only kept in `State.payments` for tests; a client learns what is paid from the
invoice's RemainingAmount / PaymentStatus. Called by invoicing.route under the sandbox lock.
"""

from __future__ import annotations

import copy
import uuid
from decimal import Decimal
from typing import Any

from shopvisma.sandbox.visma.model import (
    Json,
    company_today,
    day_text,
    field_error,
    local_date,
    number,
    round2,
    utc,
    validate,
    validation_error,
)
from shopvisma.sandbox.visma.records import State, find, not_found

PAID = 0  # CustomerInvoiceApi.PaymentStatus
PAYMENT_TYPES = (1, 2, 3, 4)  # PartialPayment, CompletePayment, Rounding, BankCharge (2026; 2018 had 1-3)
_MONEY_DECIMALS = {"PaymentAmount": 2, "DomesticPaymentAmount": 2, "BankFeeAmount": 2}


def pay(state: State, invoice_id: str, body: Any, now: float) -> tuple[int, Json]:
    invoice = find(state.invoices, invoice_id)
    if invoice is None:
        raise not_found(invoice_id)
    errors = validate(body, "InvoicePaymentApi", decimals=_MONEY_DECIMALS)
    if errors or not isinstance(body, dict):
        raise validation_error(errors)
    errors = _refusals(state, invoice, body, now)
    if errors:
        raise validation_error(errors)
    payment = _apply(state, invoice, body, now)
    state.payments.append({"InvoiceId": invoice["Id"], "CreatedUtc": utc(now), **copy.deepcopy(payment)})
    return (200 if "payment-200" in state.quirks else 201), payment


def _signs(state: State, invoice: Json) -> tuple[int, int]:
    """(the sign a payment's amount must have, +1 if it lowers the remaining amount or -1 if it
    raises it). Default: the remaining's own sign (a credit invoice takes negative payments);
    "credit-payment-positive": positive on credit invoices too, moving the negative remaining
    toward zero."""
    if not invoice.get("IsCreditInvoice"):
        return 1, 1
    return (1, -1) if "credit-payment-positive" in state.quirks else (-1, 1)


def _settled(state: State, invoice: Json, body: Json) -> tuple[Decimal, Decimal]:
    """How much the payment settles, in invoice and in base currency. "If bank fee: for customer
    invoices, extract that amount here": PaymentAmount is net of the fee, so by default the fee
    settles the invoice too; "bank-fee-not-settling" books it as a cost only."""
    sign, direction = _signs(state, invoice)
    amount = number(body["PaymentAmount"])
    rate = number(invoice.get("CurrencyRate") or 1)
    domestic = number(body["DomesticPaymentAmount"]) if body.get("DomesticPaymentAmount") is not None else None
    domestic = domestic if domestic is not None else round2(amount * rate)
    fee = number(body.get("BankFeeAmount"))
    if "bank-fee-not-settling" in state.quirks:
        fee = Decimal(0)
    return (amount + sign * fee) * direction, (domestic + sign * round2(fee * rate)) * direction


def _refusals(state: State, invoice: Json, body: Json, now: float) -> list[Json]:
    errors: list[Json] = []
    account = find(state.bank_accounts, body["CompanyBankAccountId"])
    if account is None:
        message = f"Bank account with id {body['CompanyBankAccountId']} was not found."
        errors.append(field_error("CompanyBankAccountId", message, "NotFound"))
    elif not account.get("IsActive"):
        errors.append(field_error("CompanyBankAccountId", f"Bank account {account['Name']} is inactive.", "Inactive"))
    currency = str(invoice.get("CurrencyCode") or state.company_currency)
    if body["PaymentCurrency"].upper() != currency.upper():
        message = f"PaymentCurrency must be the invoice's currency ({currency})."
        errors.append(field_error("PaymentCurrency", message, "Invalid"))
    day, today = local_date(body["PaymentDate"]), company_today(now)
    if day is not None and day > today:
        message = f"Future dates cannot be set (today is {today.isoformat()} in the company's timezone)."
        errors.append(field_error("PaymentDate", message, "Range"))
    if body["PaymentType"] not in PAYMENT_TYPES:
        errors.append(field_error("PaymentType", "PaymentType must be 1, 2, 3 or 4.", "Range"))
    if number(body.get("BankFeeAmount")) < 0:
        errors.append(field_error("BankFeeAmount", "BankFeeAmount must be between 0 and 1000000000.", "Range"))
    foreign = currency.upper() != state.company_currency.upper()
    if body.get("DomesticPaymentAmount") is not None and not foreign:
        message = "DomesticPaymentAmount is only for invoices in a foreign currency."
        errors.append(field_error("DomesticPaymentAmount", message, "Invalid"))
    errors += _amount_refusals(state, invoice, body)
    return errors


def _amount_refusals(state: State, invoice: Json, body: Json) -> list[Json]:
    amount = number(body["PaymentAmount"])
    sign, _ = _signs(state, invoice)
    if amount == 0:
        return [field_error("PaymentAmount", "PaymentAmount cannot be 0.", "Range")]
    if (amount > 0) != (sign > 0):
        wanted = "positive" if sign > 0 else "negative (the invoice is a credit invoice)"
        return [field_error("PaymentAmount", f"PaymentAmount must be {wanted}.", "Range")]
    domestic = body.get("DomesticPaymentAmount")
    if domestic is not None and (number(domestic) > 0) != (sign > 0):
        return [field_error("DomesticPaymentAmount", "DomesticPaymentAmount must have PaymentAmount's sign.", "Range")]
    remaining = number(invoice["RemainingAmountInvoiceCurrency"])
    settled, _ = _settled(state, invoice, body)
    if abs(settled) > abs(remaining) and "overpayment-accepted" not in state.quirks:
        message = f"The payment ({abs(settled)}) exceeds the invoice's remaining amount ({abs(remaining)})."
        return [field_error("PaymentAmount", message, "Range")]
    return []


def _apply(state: State, invoice: Json, body: Json, now: float) -> Json:
    """Lower what remains; when nothing does (or an accepted overpayment crosses zero) the invoice
    is Paid, dated with the payment. A foreign invoice settled in full has 0 left in base
    currency too: Visma books the rest as an exchange-rate difference."""
    settled, settled_base = _settled(state, invoice, body)
    before = number(invoice["RemainingAmountInvoiceCurrency"])
    after = before - settled
    after_base = Decimal(0) if after == 0 else number(invoice["RemainingAmount"]) - settled_base
    day = day_text(local_date(body["PaymentDate"]) or company_today(now))
    invoice.update(RemainingAmountInvoiceCurrency=after, RemainingAmount=after_base, ModifiedUtc=utc(now))
    if after == 0 or (after < 0) != (before < 0):
        invoice.update(PaymentStatus=PAID, PaymentDate=day)
    payment: Json = {
        k: body[k]
        for k in ("CompanyBankAccountId", "Reference", "PaymentAmount", "PaymentCurrency", "PaymentType")
        if k in body
    }
    for k in ("BankFeeAmount", "FactoringFeeAmount", "FactoringFeeAccountNumber"):
        if body.get(k) is not None:
            payment[k] = body[k]
    payment["PaymentDate"] = day
    if invoice.get("CurrencyCode") != state.company_currency:
        rate = number(invoice.get("CurrencyRate") or 1)
        given = body.get("DomesticPaymentAmount")
        payment["DomesticPaymentAmount"] = (
            number(given) if given is not None else round2(number(body["PaymentAmount"]) * rate)
        )
    payment["BankTransactionId"] = str(uuid.uuid4())
    return payment
