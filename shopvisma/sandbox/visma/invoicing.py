"""Visma sandbox: booked customer invoices, their payments, the company's bank accounts and
the sales-order life cycle (status, convert), with the rules of the 2026 OpenAPI and the 2018
swagger (visma-real-evidence.md 2.3, 2.6). Kept apart from records.py, which creates the
documents these book. Callers hold the sandbox lock; every function validates before it
changes anything, so a refusal leaves the company as it was.

Dates: Visma wants payment dates "in the timezone of the company"; the sandbox's company is in
Europe/Stockholm, so "today" is the sandbox clock's date there. A date written without an offset
is taken as written (a company-local date); one with an offset (or Z) is converted first.
"""

from __future__ import annotations

import copy
import uuid
from datetime import date
from decimal import Decimal
from typing import Any

from shopvisma.sandbox.visma.model import (
    BANK_ACCOUNT_TYPES,
    ApiError,
    Json,
    company_today,
    day_text,
    due_date,
    field_error,
    local_date,
    number,
    output_properties,
    parse_body,
    round2,
    utc,
    validate,
    validation_error,
)
from shopvisma.sandbox.visma.payments import pay
from shopvisma.sandbox.visma.quirks import present
from shopvisma.sandbox.visma.records import State, _conflict, _document, _shape, find, not_found, save_order

ORDER_INVOICED = 4  # OrderApi.Status: 1 Draft, 2 Ongoing, 3 Shipped, 4 Invoiced
UNPAID = 1  # CustomerInvoiceApi.PaymentStatus: 0 Paid, 1 Unpaid (2 Overdue is not served)
Answer = tuple[int, Any]


def _not_allowed(method: str) -> ApiError:
    return ApiError(405, 1000, f"The requested resource does not support http method '{method}'.")


def route(
    state: State, method: str, endpoint: str, rest: list[str], query: dict[str, str], raw: bytes, now: float
) -> Answer | None:
    """The writes this module owns; None hands the request back to the generic table code
    (lists, GET by id, drafts, customers, articles, DELETE of a draft)."""
    if len(rest) == 2:
        action = (endpoint, rest[1].lower())
        if action not in (
            ("customerinvoicedrafts", "convert"),
            ("customerinvoices", "payments"),
            ("orders", "convert"),
        ):
            raise ApiError(404, 3000, "No resource matches the request URI.")
        if method != "POST":
            raise _not_allowed(method)  # no GET of an invoice's payments, as in real Visma
        body = parse_body(raw)
        if action[0] == "customerinvoicedrafts":
            return convert_draft(state, rest[0], query, body, now)
        if action[0] == "orders":
            return 200, _served(state, convert_order(state, rest[0], body, now))
        return pay(state, rest[0], body, now)
    if endpoint == "customerinvoices" and method == "POST" and not rest:
        return 201, _served(state, create_invoice(state, parse_body(raw), now))
    if endpoint == "orders" and method in ("POST", "PUT", "DELETE") and len(rest) == (0 if method == "POST" else 1):
        return _order_write(state, method, rest, raw, now)
    return None


def _served(state: State, invoice: Json) -> Json:
    return copy.deepcopy(present("customerinvoices", invoice, state.quirks))


# ------------------------------------------------------------------ dates and money
def _flag(query: dict[str, str], name: str) -> bool:
    value = query.get(name, "false").lower()
    if value not in ("true", "false"):
        raise validation_error([field_error(name, f"The value '{value}' is not a valid boolean.", "InvalidType")])
    return value == "true"


def _rate(state: State, currency: str, given: Any) -> Decimal:
    if currency.upper() == state.company_currency.upper():
        return Decimal(1)
    if given is not None and number(given) > 0:
        return number(given)
    rate = state.currency_rates.get(currency.upper())
    if rate is None:
        raise validation_error([field_error("CurrencyRate", f"No currency rate for {currency} is known.", "Required")])
    return rate


# ------------------------------------------------------------------ booking
_ROW_KEEP = output_properties("CustomerInvoiceRowApi")


def _invoice_rows(rows: list[Json], includes_vat: bool, sign: Decimal) -> list[Json]:
    out = []
    for r in rows:
        amount = number(r.get("Amount")) * sign
        rate = r.get("VatRate")
        no_vat = round2(amount / (1 + rate / 100)) if rate is not None and includes_vat else amount
        row = {k: v for k, v in r.items() if k in _ROW_KEEP}
        row.update(
            Id=str(uuid.uuid4()),
            Amount=amount,
            AmountNoVat=no_vat,
            IsTextRow=bool(r.get("IsTextRow", r.get("ArticleId") is None)),
            IsDiscountInFixedAmount=False,
            IsWorkCost=bool(r.get("IsWorkCost", False)),
        )
        out.append(_shape(row, "CustomerInvoiceRowApi"))
    return out


def _build(
    state: State,
    doc: Json,
    money: tuple[Any, Any, Any],
    currency: str,
    rate: Decimal,
    days: tuple[date, str],
    now: float,
) -> Json:
    """A booked invoice from a draft, an order or a direct POST, not yet stored: the credit
    flag makes the totals negative (positive rows are negated, negative ones stay)."""
    amount, vat, roundings = (number(m) for m in money)
    credit = bool(doc.get("IsCreditInvoice"))
    sign = Decimal(-1) if credit and amount > 0 else Decimal(1)
    total, vat, roundings = amount * sign, vat * sign, roundings * sign
    invoice = {k: v for k, v in doc.items() if k in output_properties("CustomerInvoiceApi")}
    invoice.update(
        CurrencyCode=currency,
        CurrencyRate=rate,
        IsCreditInvoice=credit,
        InvoiceDate=day_text(days[0]),
        DueDate=days[1],
        TotalAmount=round2(total * rate),
        TotalVatAmount=round2(vat * rate),
        TotalRoundings=round2(roundings * rate),
        TotalAmountInvoiceCurrency=total,
        TotalVatAmountInvoiceCurrency=vat,
        SetOffAmountInvoiceCurrency=Decimal(0),
        RemainingAmount=round2(total * rate),
        RemainingAmountInvoiceCurrency=total,
        _RoundingsInvoiceCurrency=roundings,  # for the convert checks only; not a CustomerInvoiceApi name
        PaymentStatus=UNPAID,
        PaymentDate=None,
        IsNotDelivered=False,
        HasAutoInvoiceError=False,
        Rows=_invoice_rows(doc.get("Rows") or [], bool(doc.get("IncludesVat")), sign),
        CreatedUtc=utc(now),
        ModifiedUtc=utc(now),
    )
    return invoice


def _commit(state: State, invoice: Json) -> Json:
    invoice.update(
        Id=str(uuid.uuid4()),
        InvoiceNumber=state.next_invoice_number,
        VoucherNumber=f"A{state.next_voucher_number}",
        VoucherId=str(uuid.uuid4()),
    )
    state.next_invoice_number += 1
    state.next_voucher_number += 1
    invoice = _shape(invoice, "CustomerInvoiceApi")
    state.invoices[invoice["Id"]] = invoice
    return invoice


def _terms_days(state: State, doc: Json) -> int:
    terms = state.terms_of_payments.get(doc.get("TermsOfPaymentId") or "")
    return int(terms["NumberOfDays"]) if terms else 30


def _draft_invoice(state: State, draft: Json, keep: bool, now: float) -> Json:
    """The 2024+ convert rule (evidence 2.3): the draft's date is kept when asked to, or when it
    lies in the future; otherwise the invoice is dated today (and its due date follows)."""
    today, drafted = company_today(now), local_date(draft.get("InvoiceDate"))
    if drafted is not None and (keep or drafted > today):
        days = (drafted, draft.get("DueDate") or due_date(day_text(drafted), _terms_days(state, draft)))
    else:
        days = (today, due_date(day_text(today), _terms_days(state, draft)))
    currency = draft.get("InvoiceCurrencyCode") or state.company_currency
    money = (draft["TotalAmount"], draft["TotalVatAmount"], draft.get("TotalRoundings"))
    invoice = _build(state, draft, money, currency, _rate(state, currency, None), days, now)
    invoice["CreatedFromDraftId"] = draft["Id"]
    return invoice


def book_draft(state: State, draft_id: str, now: float, keep: bool = False, checks: Any = None) -> Json:
    """Book a draft and delete it (a user approving it in Visma, or /convert)."""
    draft = find(state.drafts, draft_id)
    if draft is None:
        raise not_found(draft_id)
    invoice = _draft_invoice(state, draft, keep, now)
    if checks is not None:
        _check_totals(invoice, checks)
    del state.drafts[draft["Id"]]
    return _commit(state, invoice)


def convert_draft(state: State, draft_id: str, query: dict[str, str], body: Any, now: float) -> Answer:
    keep = _flag(query, "keepOriginalDraftDate")
    if not _flag(query, "overrideCompanyKeepOriginalDraftDate"):
        keep = keep or bool(state.company_settings.get("KeepOriginalDraftDate"))
    if body is not None:
        errors = validate(body, "CustomerInvoiceDraftValidationApi")
        if errors:
            raise validation_error(errors)
    invoice = book_draft(state, draft_id, now, keep, body)
    return (200 if "convert-200" in state.quirks else 201), _served(state, invoice)


def _check_totals(invoice: Json, checks: Json) -> None:
    """CustomerInvoiceDraftValidationApi: what the client expects; any given value that differs
    from the booked one refuses the convert (rows are matched on LineNumber)."""
    errors: list[Json] = []
    for name in ("TotalAmountInvoiceCurrency", "TotalVatAmountInvoiceCurrency", "TotalRoundingsInvoiceCurrency"):
        booked = invoice["_RoundingsInvoiceCurrency" if name.startswith("TotalRoundings") else name]
        if checks.get(name) is not None and number(checks[name]) != number(booked):
            errors.append(field_error(name, f"{name} is {booked} on the invoice, not {checks[name]}.", "Mismatch"))
    rows = {r.get("LineNumber"): r for r in invoice["Rows"]}
    for i, check in enumerate(checks.get("Rows") or []):
        row = rows.get(check.get("LineNumber"))
        if row is None:
            errors.append(field_error(f"Rows[{i}].LineNumber", "No row has this line number.", "NotFound"))
            continue
        rate = row.get("VatRate")
        inc = row["Amount"] if rate is None or invoice.get("IncludesVat") else round2(row["Amount"] * (1 + rate / 100))
        for name, booked in (
            ("TotalAmountNoVatInvoiceCurrency", row["AmountNoVat"]),
            ("TotalAmountIncVatInvoiceCurrency", inc),
        ):
            if check.get(name) is not None and number(check[name]) != booked:
                errors.append(field_error(f"Rows[{i}].{name}", f"{name} is {booked} on the row.", "Mismatch"))
    if errors:
        raise validation_error(errors)


def create_invoice(state: State, body: Any, now: float) -> Json:
    """POST /customerinvoices: validated like a draft (CustomerInvoiceApi; a row without ArticleId
    is a text row, IsTextRow being read-only here), booked at once. CreatedFromDraftId books that
    draft instead and deletes it."""
    if isinstance(body, dict) and body.get("CreatedFromDraftId") is not None:
        errors = validate(body, "CustomerInvoiceApi")
        draft_id = body["CreatedFromDraftId"]
        if not errors and find(state.drafts, draft_id) is None:
            errors.append(field_error("CreatedFromDraftId", f"Draft with id {draft_id} was not found.", "NotFound"))
        if errors:
            raise validation_error(errors)
        return book_draft(state, draft_id, now)
    prepared = body
    if isinstance(body, dict) and isinstance(body.get("Rows"), list):
        rows = [{**r, "IsTextRow": not r.get("ArticleId")} if isinstance(r, dict) else r for r in body["Rows"]]
        prepared = {**body, "Rows": rows}
    errors = [
        field_error(f"Rows[{i}].Text", "A text row needs a Text.", "Required")
        for i, r in enumerate(prepared.get("Rows") or [] if isinstance(prepared, dict) else [])
        if isinstance(r, dict) and r["IsTextRow"] and not r.get("Text")
    ]
    try:
        doc = _document(state, prepared, "CustomerInvoiceApi", now, None)
    except ApiError as err:
        raise validation_error((err.errors or []) + errors) from err
    if errors:
        raise validation_error(errors)
    customer = state.customers[doc["CustomerId"]]
    currency = customer.get("CurrencyCode") or state.company_currency
    day = local_date(body.get("InvoiceDate")) or company_today(now)
    days = (day, body.get("DueDate") or due_date(day_text(day), _terms_days(state, doc)))
    money = (doc["TotalAmount"], doc["TotalVatAmount"], doc.get("TotalRoundings"))
    invoice = _build(state, doc, money, currency, _rate(state, currency, body.get("CurrencyRate")), days, now)
    return _commit(state, invoice)


# ------------------------------------------------------------------ orders
def _order_write(state: State, method: str, rest: list[str], raw: bytes, now: float) -> Answer | None:
    """Status 4 (Invoiced) comes only from /convert, and an invoiced order is frozen (4002
    CanNotBeCreatedOrUpdated; a DELETE 4001 CanNotBeDeleted)."""
    existing = find(state.orders, rest[0]) if rest else None
    if rest and existing is None:
        raise not_found(rest[0])
    if existing is not None and existing.get("Status") == ORDER_INVOICED:
        if method == "DELETE":
            raise ApiError(400, 4001, "CanNotBeDeleted - An invoiced order cannot be deleted.")
        raise ApiError(400, 4002, "CanNotBeCreatedOrUpdated - An invoiced order cannot be changed.")
    if method == "DELETE":
        return None
    body = parse_body(raw)
    if isinstance(body, dict) and body.get("Status") == ORDER_INVOICED:
        message = "Status 4 (Invoiced) is set by POST /v2/orders/{id}/convert, not by a write."
        raise validation_error([field_error("Status", message, "Range")])
    saved = save_order(state, body, now, rest[0] if rest else None)
    return (200 if rest else 201), copy.deepcopy(present("orders", saved, state.quirks))


def convert_order(state: State, order_id: str, body: Any, now: float) -> Json:
    order = find(state.orders, order_id)
    if order is None:
        raise not_found(order_id)
    if body is not None and not isinstance(body, dict):
        raise validation_error([field_error("body", "A JSON object is required.", "InvalidType")])
    if order.get("Status") == ORDER_INVOICED:
        raise _conflict(f"Order {order.get('Number')} has already been converted to an invoice.")
    today = company_today(now)
    days = (today, due_date(day_text(today), _terms_days(state, order)))
    currency = order.get("CurrencyCode") or state.company_currency
    money = (order["Amount"], order["VatAmount"], order.get("RoundingsAmount"))
    invoice = _build(state, order, money, currency, _rate(state, currency, None), days, now)
    invoice["CreatedFromOrderId"] = order["Id"]
    invoice = _commit(state, invoice)
    order.update(Status=ORDER_INVOICED, ModifiedUtc=utc(now))
    return invoice


# ------------------------------------------------------------------ bank accounts
def add_bank_account(
    state: State,
    name: str,
    ledger_account_number: int,
    bank_account_type: int = 1,
    *,
    is_active: bool = True,
    is_default_cheque_account: bool = False,
    currency_code: str | None = None,
    now: float = 0.0,
) -> Json:
    if bank_account_type not in BANK_ACCOUNT_TYPES:
        raise ValueError(f"bank_account_type must be one of {sorted(BANK_ACCOUNT_TYPES)}")
    account: Json = {
        "Id": str(uuid.uuid4()),
        "Name": name,
        "LedgerAccountNumber": ledger_account_number,
        "BankAccountType": bank_account_type,
        "BankAccountTypeDescription": BANK_ACCOUNT_TYPES[bank_account_type],
        "Bban": None,
        "Iban": None,
        "Bank": None,
        "IsActive": is_active,
        "IsDefaultChequeAccount": is_default_cheque_account,
        "HasActiveBankAgreement": False,
        "CurrencyCode": currency_code or state.company_currency,
        "ModifiedUtc": utc(now),
    }
    state.bank_accounts[account["Id"]] = account
    return account
