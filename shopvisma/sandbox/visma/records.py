"""Visma sandbox: the company's data and the server-side rules for creating customers,
articles, invoice drafts and orders (booked invoices and payments: invoicing.py).

Every builder validates first and raises ApiError (nothing is stored on refusal), then
returns the stored record in Visma's JSON shape. Callers hold the sandbox lock.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from shopvisma.sandbox.visma.model import (
    ApiError,
    Json,
    due_date,
    field_error,
    number,
    output_properties,
    round2,
    row_amount,
    schema,
    seed,
    totals,
    utc,
    validate,
    validation_error,
)

# Scalar fields a customer invoice carries here (for $filter on /customerinvoices).
INVOICE_FIELDS = (
    "Id",
    "InvoiceNumber",
    "CustomerId",
    "CustomerNumber",
    "CustomerName",
    "CurrencyCode",
    "EuThirdParty",
    "IsCreditInvoice",
    "RotReducedInvoicingType",
    "YourReference",
    "OurReference",
    "InvoiceDate",
    "DueDate",
    "TermsOfPaymentId",
    "TotalAmount",
    "TotalVatAmount",
    "TotalRoundings",
    "TotalAmountInvoiceCurrency",
    "TotalVatAmountInvoiceCurrency",
    "RemainingAmount",
    "RemainingAmountInvoiceCurrency",
    "IncludesVat",
    "CustomerIsPrivatePerson",
    "InvoiceCity",
    "InvoicePostalCode",
    "InvoiceCountryCode",
    "CreatedFromDraftId",
    "CreatedFromOrderId",
    "CreatedUtc",
    "ModifiedUtc",
    "CurrencyRate",
    "PaymentStatus",
    "PaymentDate",
    "VoucherNumber",
    "VoucherId",
    "SendType",
)


INCLUDES_VAT_RULES = ("setting-name", "spec-2026")


@dataclass
class State:
    company_currency: str
    show_prices_excl_vat_pc: bool
    # The sandbox's live set of readings (visma_quirks.py); shared, so switching one mid-test
    # changes what the next request sees.
    quirks: set[str] = field(default_factory=set)
    customers: dict[str, Json] = field(default_factory=dict)
    articles: dict[str, Json] = field(default_factory=dict)
    drafts: dict[str, Json] = field(default_factory=dict)
    orders: dict[str, Json] = field(default_factory=dict)
    invoices: dict[str, Json] = field(default_factory=dict)
    units: dict[str, Json] = field(default_factory=dict)
    codings: dict[str, Json] = field(default_factory=dict)
    vatcodes: dict[str, Json] = field(default_factory=dict)
    terms_of_payments: dict[str, Json] = field(default_factory=dict)
    company_settings: Json = field(default_factory=dict)
    bank_accounts: dict[str, Json] = field(default_factory=dict)
    payments: list[Json] = field(default_factory=list)  # accepted invoice payments (Visma serves no GET)
    # "Default: Automatic calculation of the currency rate": the sandbox's stand-in (SEK per unit)
    currency_rates: dict[str, Decimal] = field(default_factory=dict)
    next_customer_number: int = 1
    next_order_number: int = 1
    next_invoice_number: int = 1
    next_voucher_number: int = 1

    @property
    def includes_vat_rule(self) -> str:
        """Which reading of IncludesVat the emulator follows: "setting-name" (private person and
        ShowPricesExclVatPC off, as the setting's name says) or "spec-2026" (private and the
        checkbox ON, as the 2026 OpenAPI description words it). Real Visma: unconfirmed, so the
        product must read IncludesVat back; tests run both readings. The same switch as the
        "includes-vat-spec-2026" quirk."""
        return "spec-2026" if "includes-vat-spec-2026" in self.quirks else "setting-name"

    @includes_vat_rule.setter
    def includes_vat_rule(self, rule: str) -> None:
        if rule not in INCLUDES_VAT_RULES:
            raise ValueError(f"includes_vat_rule must be one of {INCLUDES_VAT_RULES}, not {rule!r}")
        if rule == "spec-2026":
            self.quirks.add("includes-vat-spec-2026")
        else:
            self.quirks.discard("includes-vat-spec-2026")

    @property
    def order_module(self) -> bool:
        """Whether the company has sales_standard: the same switch as the "no-order-module" quirk."""
        return "no-order-module" not in self.quirks

    def settings(self) -> Json:
        """Company settings as served now (ActivatedModules follows the module switch)."""
        self.company_settings["ActivatedModules"] = ["sales_standard"] if self.order_module else []
        return dict(self.company_settings)

    def __post_init__(self) -> None:
        data = seed(self.company_currency, self.show_prices_excl_vat_pc, self.order_module)
        self.terms_of_payments.update(data["termsofpayments"])
        self.units.update(data["units"])
        self.codings.update(data["codings"])
        self.vatcodes.update(data["vatcodes"])
        self.company_settings.update(data["company_settings"])
        self.bank_accounts.update(data["bankaccounts"])
        self.currency_rates.update(
            {c: Decimal(r) for c, r in (("EUR", "11.50"), ("USD", "10.50"), ("NOK", "1.00"), ("DKK", "1.54"))}
        )


def _writable(body: Json, schema_name: str) -> Json:
    """What a client may set: known, not read-only properties (the rest is ignored)."""
    props = schema()[schema_name]["properties"]
    return {k: v for k, v in body.items() if k in props and not props[k].get("readOnly")}


def _shape(record: Json, schema_name: str) -> Json:
    """Only property names the spec defines leave the sandbox (rows differ per document type)."""
    names = output_properties(schema_name)
    return {k: v for k, v in record.items() if k in names}


def _lookup(
    errors: list[Json],
    table: dict[str, Json],
    body: Json,
    name: str,
    what: str,
    prefix: str = "",
    required: bool = True,
) -> Json | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, str):
        key = value.lower()
        for k, rec in table.items():
            if k.lower() == key:
                return rec
    if isinstance(value, str) or required:
        errors.append(field_error(prefix + name, f"{what} with id {value} was not found.", "NotFound"))
    return None


def _conflict(message: str) -> ApiError:
    return ApiError(400, 4000, f"Conflict - {message}")


# ------------------------------------------------------------------ customers and articles
def create_customer(state: State, body: Any, now: float) -> Json:
    errors = validate(body, "CustomerApi")
    if errors or not isinstance(body, dict):
        raise validation_error(errors)
    _lookup(errors, state.terms_of_payments, body, "TermsOfPaymentId", "Terms of payment")
    if errors:
        raise validation_error(errors)
    taken = {str(c.get("CustomerNumber", "")).lower() for c in state.customers.values()}
    number_ = body.get("CustomerNumber")
    if number_:
        if number_.lower() in taken:
            raise _conflict(f"A customer with CustomerNumber {number_} already exists.")
    else:
        while str(state.next_customer_number) in taken:
            state.next_customer_number += 1
        number_ = str(state.next_customer_number)
        state.next_customer_number += 1
    customer = _writable(body, "CustomerApi")
    customer.update(
        Id=str(uuid.uuid4()),
        CustomerNumber=number_,
        ChangedUtc=utc(now),
        CurrencyCode=body.get("CurrencyCode") or state.company_currency,
        ReverseChargeOnConstructionServices=bool(body.get("ReverseChargeOnConstructionServices", False)),
    )
    state.customers[customer["Id"]] = customer
    return customer


def create_article(state: State, body: Any, now: float) -> Json:
    errors = validate(body, "ArticleApi")
    if errors or not isinstance(body, dict):
        raise validation_error(errors)
    unit = _lookup(errors, state.units, body, "UnitId", "Unit")
    coding = _lookup(errors, state.codings, body, "CodingId", "Article account coding")
    if errors or unit is None or coding is None:
        raise validation_error(errors)
    if any(a["Number"].lower() == body["Number"].lower() for a in state.articles.values()):
        raise _conflict(f"An article with Number {body['Number']} already exists.")
    article = _writable(body, "ArticleApi")
    rate = coding["VatRatePercent"] / 100
    if "NetPrice" in body and "GrossPrice" not in body:
        article["GrossPrice"] = round2(number(body["NetPrice"]) * (1 + rate))
    if "GrossPrice" in body and "NetPrice" not in body:
        article["NetPrice"] = round2(number(body["GrossPrice"]) / (1 + rate))
    article.update(
        Id=str(uuid.uuid4()),
        CodingId=coding["Id"],
        UnitId=unit["Id"],
        CodingName=coding["Name"],
        UnitName=unit["Name"],
        UnitAbbreviation=unit["Abbreviation"],
        IsServiceArticle=coding["Type"] == "Services",
        CreatedUtc=utc(now),
        ChangedUtc=utc(now),
    )
    state.articles[article["Id"]] = article
    return article


# ------------------------------------------------------------------ drafts and orders
def _is_foreign(state: State, customer: Json | None, currency: str | None) -> bool:
    """UnitPrice may carry 4 decimals for foreign customers (and, on orders, currencies)."""
    if customer is None:
        return False
    home = state.company_settings["CountryCode"]
    country = customer.get("InvoiceCountryCode") or home
    return country.upper() != home or (currency is not None and currency.upper() != state.company_currency)


def _rows(state: State, body: Json, row_schema: str, includes_vat: bool, errors: list[Json]) -> list[Json]:
    out: list[Json] = []
    for i, row in enumerate(body.get("Rows") or []):
        if not isinstance(row, dict):
            continue
        prefix = f"Rows[{i}]."
        article: Json | None = None
        if row.get("IsTextRow") is False:
            if not row.get("ArticleId"):
                errors.append(
                    field_error(prefix + "ArticleId", "ArticleId is required when IsTextRow is false.", "Required")
                )
            else:
                article = _lookup(errors, state.articles, row, "ArticleId", "Article", prefix)
        result = _writable(row, row_schema)
        result["Id"] = str(uuid.uuid4())
        result.setdefault("LineNumber", i + 1)
        if article is None:
            result.update(Amount=Decimal("0"), VatRate=None)
            out.append(_shape(result, row_schema))
            continue
        coding = state.codings[article["CodingId"]]
        unit = state.units.get(article["UnitId"], {})
        price = number(row.get("UnitPrice")) if row.get("UnitPrice") is not None else None
        if price is None or (price == 0 and body.get("ReplaceUnitPriceWhenZero")):
            price = number(article.get("GrossPrice" if includes_vat else "NetPrice"))
        quantity, discount = number(row.get("Quantity")), number(row.get("DiscountPercentage"))
        rate = coding["VatRatePercent"]
        vat_id = next((v["Id"] for v in state.vatcodes.values() if v["VatRate"] == rate), None)
        result.update(
            ArticleId=article["Id"],
            ArticleNumber=article["Number"],
            Text=row.get("Text") or article["Name"],
            UnitId=article["UnitId"],
            UnitName=unit.get("Name"),
            UnitAbbreviation=unit.get("Abbreviation"),
            IsServiceArticle=coding["Type"] == "Services",
            UnitPrice=price,
            Quantity=quantity,
            DiscountPercentage=discount,
            VatRate=rate,
            Amount=row_amount(price, quantity, discount),
        )
        result["VatRateId"] = vat_id
        out.append(_shape(result, row_schema))
    return out


def _document(state: State, body: Any, kind: str, now: float, existing: Json | None) -> Json:
    """Shared by drafts ("CustomerInvoiceDraftApi") and orders ("OrderApi")."""
    is_order = kind == "OrderApi"
    row_schema = "OrderRowApi" if is_order else "CustomerInvoiceDraftRowApi"
    if not isinstance(body, dict):
        raise validation_error(validate(body, kind))
    errors: list[Json] = []
    customer = _lookup(errors, state.customers, body, "CustomerId", "Customer", required=False)
    currency = body.get("CurrencyCode") if is_order and isinstance(body.get("CurrencyCode"), str) else None
    unit_price_decimals = 4 if _is_foreign(state, customer, currency) else 2
    errors = validate(body, kind, decimals={"UnitPrice": unit_price_decimals}) + errors
    if is_order and isinstance(body.get("Status"), int) and not 1 <= body["Status"] <= 4:
        errors.append(field_error("Status", "Status must be 1 (Draft), 2, 3 or 4.", "Range"))
    _lookup(errors, state.terms_of_payments, body, "TermsOfPaymentId", "Terms of payment")
    private = bool(customer and customer.get("IsPrivatePerson"))
    checkbox = bool(state.company_settings["ShowPricesExclVatPC"])
    includes_vat = private and (checkbox if state.includes_vat_rule == "spec-2026" else not checkbox)
    rows = _rows(state, body, row_schema, includes_vat, errors)
    if errors or customer is None:
        raise validation_error(errors)
    t = totals(
        [(r["Amount"], r["VatRate"]) for r in rows if r.get("VatRate") is not None],
        includes_vat,
        per_row="vat-per-row" in state.quirks,
    )
    doc = _writable(body, kind)
    terms = state.terms_of_payments.get(body.get("TermsOfPaymentId") or customer["TermsOfPaymentId"])
    doc.update(
        Id=existing["Id"] if existing else str(uuid.uuid4()),
        CreatedUtc=existing["CreatedUtc"] if existing else utc(now),
        CustomerId=customer["Id"],
        CustomerNumber=customer["CustomerNumber"],
        CustomerName=customer["Name"],
        CustomerIsPrivatePerson=private,
        IncludesVat=includes_vat,
        Rows=rows,
        TermsOfPaymentId=terms["Id"] if terms else customer["TermsOfPaymentId"],
        ReverseChargeOnConstructionServices=bool(body.get("ReverseChargeOnConstructionServices", False)),
        InvoiceAddress1=body.get("InvoiceAddress1") or customer.get("InvoiceAddress1"),
        InvoiceAddress2=body.get("InvoiceAddress2") or customer.get("InvoiceAddress2"),
    )
    for name in ("InvoiceCustomerName", "InvoicePostalCode", "InvoiceCity", "InvoiceCountryCode"):
        source = "Name" if name == "InvoiceCustomerName" else name
        doc[name] = body.get(name) if is_order and body.get(name) else customer.get(source)
    doc["InvoiceCountryCode"] = doc["InvoiceCountryCode"] or state.company_settings["CountryCode"]
    if is_order:
        doc.update(
            Number=existing["Number"] if existing else state.next_order_number,
            ModifiedUtc=utc(now),
            Amount=t.amount,
            VatAmount=t.vat,
            RoundingsAmount=t.roundings,
            IsNotDelivered=True,
        )
        if existing is None:
            state.next_order_number += 1
    else:
        invoice_date = body.get("InvoiceDate") or utc(now)[:10] + "T00:00:00"
        base_currency = (customer.get("CurrencyCode") or state.company_currency) == state.company_currency
        doc.update(
            InvoiceCurrencyCode=customer.get("CurrencyCode") or state.company_currency,
            IsCreditInvoice=bool(body.get("IsCreditInvoice", False)),
            InvoiceDate=invoice_date,
            DueDate=body.get("DueDate") or due_date(invoice_date, terms["NumberOfDays"] if terms else 30),
            TotalAmount=t.amount,
            TotalVatAmount=t.vat,
            TotalRoundings=t.roundings,
            ReplaceUnitPriceWhenZero=bool(body.get("ReplaceUnitPriceWhenZero", False)),
        )
        if base_currency:
            doc.update(TotalAmountBaseCurrency=t.amount, TotalVatAmountBaseCurrency=t.vat)
    return _shape(doc, kind)


def save_draft(state: State, body: Any, now: float, draft_id: str | None = None) -> Json:
    existing = _existing(state.drafts, draft_id)
    draft = _document(state, body, "CustomerInvoiceDraftApi", now, existing)
    state.drafts[draft["Id"]] = draft
    return draft


def save_order(state: State, body: Any, now: float, order_id: str | None = None) -> Json:
    existing = _existing(state.orders, order_id)
    order = _document(state, body, "OrderApi", now, existing)
    state.orders[order["Id"]] = order
    return order


def _existing(table: dict[str, Json], record_id: str | None) -> Json | None:
    if record_id is None:
        return None
    record = find(table, record_id)
    if record is None:
        raise not_found(record_id)
    return record


def find(table: dict[str, Json], record_id: str) -> Json | None:
    key = record_id.lower()
    return next((r for k, r in table.items() if k.lower() == key), None)


def not_found(record_id: str) -> ApiError:
    return ApiError(404, 3000, f"ResourceNotFound - The resource with id {record_id} was not found.")
