"""Visma sandbox: body validation from schema.json, the seeded company, and the
server-side computations (ids, numbers, VAT and totals) of customers, articles, drafts and
orders. No HTTP here; visma.py calls these under its lock and turns ApiError into answers.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

COMPANY_TZ = ZoneInfo("Europe/Stockholm")
_NS = uuid.UUID("6f1c3a52-6d1e-4a51-9a0e-5b7f1c0d2e11")

Json = dict[str, Any]


@dataclass
class ApiError(Exception):
    """An answer in Visma's error envelope: {ErrorCode, DeveloperErrorMessage, ErrorId, Errors}."""

    status: int
    code: int
    message: str
    errors: list[Json] | None = None


def field_error(path: str, message: str, key: str) -> Json:
    return {"Field": path, "ErrorCode": "2000", "Message": message, "Key": key}


def validation_error(errors: list[Json]) -> ApiError:
    fields = ", ".join(e["Field"] for e in errors)
    return ApiError(400, 2000, f"DataModelValidationError - The request is invalid: {fields}", errors)


@cache
def schema() -> dict[str, Any]:
    """The extraction of both reference specs shipped with the product: schema.json (the bodies the
    sync posts; tests/contract/test_contract_visma.py) and schema_invoicing.json (booked invoices,
    payments, bank accounts; tests/sandbox/test_sandbox_visma_invoicing.py). Two files, because
    each is checked against its own extraction of the same specs."""
    merged: dict[str, Any] = {}
    for name in ("schema.json", "schema_invoicing.json"):
        text = resources.files("shopvisma.sandbox.visma").joinpath(name).read_text(encoding="utf-8")
        part = json.loads(text)
        if merged.keys() & part.keys():
            raise ValueError(f"{name} repeats schemas {sorted(merged.keys() & part.keys())}")
        merged.update(part)
    return merged


def scalar_properties(schema_name: str) -> list[str]:
    props = schema()[schema_name]["properties"]
    return [n for n, p in props.items() if not {"array", "object"} & set(p["type"])]


def output_properties(schema_name: str) -> set[str]:
    return set(schema()[schema_name]["properties"])


# ------------------------------------------------------------------ validation
def _decimals(value: int | Decimal) -> int:
    exponent = Decimal(value).normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _type_ok(value: Any, types: list[str], fmt: str | None) -> bool:
    for t in types:
        if t == "null" and value is None:
            return True
        if t == "string" and isinstance(value, str):
            if fmt == "uuid":
                return _is_uuid(value)
            if fmt == "date-time":
                return parse_datetime(value) is not None
            return True
        if t == "boolean" and isinstance(value, bool):
            return True
        if t == "integer" and isinstance(value, int) and not isinstance(value, bool):
            return True
        if t == "number" and isinstance(value, (int, Decimal)) and not isinstance(value, bool):
            return True
        if t == "array" and isinstance(value, list):
            return True
        if t == "object" and isinstance(value, dict):
            return True
    return False


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def parse_datetime(text: str) -> datetime | None:
    """.NET's DateTime binder accepts plain dates and ISO date-times, with or without offset."""
    try:
        if len(text) == 10:
            d = date.fromisoformat(text)
            return datetime(d.year, d.month, d.day, tzinfo=timezone.utc)
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


# Ranges both specs state (minimum/maximum) for fields the product sends.
_RANGES = {"DiscountPercentage": (Decimal(0), Decimal(1))}


def validate(body: Any, schema_name: str, prefix: str = "", decimals: dict[str, int] | None = None) -> list[Json]:
    """Required, JSON type, format, maxLength and decimal count, per schema.json.
    Unknown properties are ignored, as ASP.NET's JSON binder does. `decimals` overrides
    the spec's decimal count (UnitPrice depends on the customer, Quantity on the document)."""
    spec = schema()[schema_name]
    if not isinstance(body, dict):
        return [field_error(prefix.rstrip(".") or "body", "A JSON object is required.", "InvalidType")]
    errors: list[Json] = []
    for name in spec["required"]:
        value = body.get(name)
        if value is None or (value == "" and "string" in spec["properties"][name]["type"]):
            errors.append(field_error(prefix + name, f"The {name} field is required.", "Required"))
    for name, value in body.items():
        prop = spec["properties"].get(name)
        if prop is None or (value is None and name in spec["required"]):
            continue
        path = prefix + name
        if not _type_ok(value, prop["type"], prop.get("format")):
            wanted = prop.get("format") or "/".join(t for t in prop["type"] if t != "null")
            errors.append(field_error(path, f"The value for {name} is not a valid {wanted}.", "InvalidType"))
            continue
        if isinstance(value, str) and "maxLength" in prop and len(value.encode("utf-16-le")) // 2 > prop["maxLength"]:
            errors.append(
                field_error(
                    path,
                    f"The field {name} must be a string with a maximum length of {prop['maxLength']}.",
                    "MaxLength",
                )
            )
        if name in _RANGES and isinstance(value, (int, Decimal)) and not isinstance(value, bool):
            low, high = _RANGES[name]
            if not low <= value <= high:
                errors.append(field_error(path, f"The field {name} must be between {low} and {high}.", "Range"))
        allowed = (decimals or {}).get(name, prop.get("decimals"))
        if allowed is not None and isinstance(value, (int, Decimal)) and not isinstance(value, bool):
            if _decimals(value) > allowed:
                errors.append(field_error(path, f"{name}: at most {allowed} decimals are allowed.", "Decimals"))
        if prop.get("items") in schema() and isinstance(value, list):
            for i, item in enumerate(value):
                errors.extend(validate(item, prop["items"], f"{path}[{i}].", decimals))
    return errors


# ------------------------------------------------------------------ seed
def parse_body(raw: bytes) -> Any:
    """JSON with Decimal numbers (money never passes through float); bad JSON is Visma's 400 / 2000."""
    try:
        return json.loads(raw.decode("utf-8"), parse_float=Decimal) if raw.strip() else None
    except (ValueError, UnicodeDecodeError) as exc:
        raise validation_error(
            [field_error("body", f"The request body is not valid JSON: {exc}", "InvalidJson")]
        ) from exc


def seed_id(name: str) -> str:
    return str(uuid.uuid5(_NS, name))


def seed(company_currency: str, show_prices_excl_vat_pc: bool, order_module: bool) -> dict[str, Any]:
    """A standard Swedish company, identical on every start, so tests can name its ids."""
    terms = [
        _terms("30 dagar", "30 days", 30, 0, "Normal"),
        _terms("10 dagar", "10 days", 10, 0, "Normal"),
        _terms("Kontant", "Cash", 0, 2, "Cash"),
    ]
    units = [
        {"Id": seed_id("unit-st"), "Name": "Styck", "Code": "st", "Abbreviation": "st", "AbbreviationEnglish": "pcs"},
        {"Id": seed_id("unit-h"), "Name": "Timme", "Code": "h", "Abbreviation": "h", "AbbreviationEnglish": "h"},
        {"Id": seed_id("unit-kg"), "Name": "Kilogram", "Code": "kg", "Abbreviation": "kg", "AbbreviationEnglish": "kg"},
    ]
    codings = [
        _coding("Varor 25% moms", "Goods 25% VAT", "Goods", 25, 3001),
        _coding("Varor 12% moms", "Goods 12% VAT", "Goods", 12, 3002),
        _coding("Varor 6% moms", "Goods 6% VAT", "Goods", 6, 3003),
        _coding("Varor momsfri", "Goods VAT exempt", "Goods", 0, 3004),
        _coding("Tjänster 25% moms", "Services 25% VAT", "Services", 25, 3041),
        _coding("Varor 25% moms (gammal)", "Goods 25% VAT (old)", "Goods", 25, 3011, active=False),
    ]
    vatcodes = [
        {"Id": seed_id(f"vat-{c}"), "Code": c, "Description": d, "VatRate": Decimal(r), "OssCodeType": 0}
        for c, d, r in (
            ("10", "Utgående moms 25%", "25"),
            ("11", "Utgående moms 12%", "12"),
            ("12", "Utgående moms 6%", "6"),
            ("00", "Momsfri försäljning", "0"),
        )
    ]
    settings = {
        "Name": "Sandlådan AB",
        "Email": "info@sandladan.example",
        "Address1": "Storgatan 1",
        "PostalCode": "11122",
        "City": "Stockholm",
        "CountryCode": "SE",
        "CurrencyCode": company_currency,
        "TermsOfPaymentId": terms[0]["Id"],
        "CorporateIdentityNumber": "556000-0000",
        "ShowPricesExclVatPC": show_prices_excl_vat_pc,
        "ActivatedModules": ["sales_standard"] if order_module else [],
        "NextCustomerNumber": 1,
        "NextOrderNumber": 1,
        "NextCustomerInvoiceNumber": 1,
        "DomesticCurrencyRounding": 0,
        "KeepOriginalDraftDate": False,
    }
    return {
        "termsofpayments": {t["Id"]: t for t in terms},
        "units": {u["Id"]: u for u in units},
        "codings": {c["Id"]: c for c in codings},
        "vatcodes": {v["Id"]: v for v in vatcodes},
        "company_settings": settings,
        "bankaccounts": {b["Id"]: b for b in _bank_accounts(company_currency)},
    }


def _bank_accounts(currency: str) -> list[Json]:
    """The accounts a Shopify shop's money lands on (BankAccountType from the 2026 enum: 1
    ChequeAccount, 5 DigitalWalletAccount), plus a closed one so "must be active" can be tested."""
    rows = (
        ("Företagskonto", 1930, 1, True, True, "5011-1234567"),
        ("PayPal", 1940, 5, True, False, None),
        ("Shopify Payments (clearing)", 1580, 5, True, False, None),
        ("Plusgiro (avslutat)", 1920, 1, False, False, "1234567-8"),
    )
    return [
        {
            "Id": seed_id(f"bank-{ledger}"),
            "Name": name,
            "LedgerAccountNumber": ledger,
            "BankAccountType": kind,
            "BankAccountTypeDescription": BANK_ACCOUNT_TYPES[kind],
            "Bban": bban,
            "Iban": None,
            "Bank": None,
            "IsActive": active,
            "IsDefaultChequeAccount": default,
            "HasActiveBankAgreement": False,
            "CurrencyCode": currency,
            "ModifiedUtc": "2025-01-01T00:00:00Z",
        }
        for name, ledger, kind, active, default, bban in rows
    ]


BANK_ACCOUNT_TYPES = {
    1: "ChequeAccount",
    2: "CashAccount",
    3: "SavingsAccount",
    4: "CurrencyAccount",
    5: "DigitalWalletAccount",
    6: "CashCreditAccount",
    7: "TaxAccount",
}


def _terms(name: str, english: str, days: int, type_id: int, type_text: str) -> Json:
    return {
        "Id": seed_id(f"terms-{name}"),
        "Name": name,
        "NameEnglish": english,
        "NumberOfDays": days,
        "TermsOfPaymentTypeId": type_id,
        "TermsOfPaymentTypeText": type_text,
        "AvailableForSales": True,
        "AvailableForPurchase": True,
    }


def _coding(name: str, english: str, kind: str, rate: int, account: int, active: bool = True) -> Json:
    """`VatRate` is "the VAT rate code" (a string) in the spec, reported as "25%" style; the
    number to compute with is `VatRatePercent` (its scale is the "vat-rate-fraction" reading)."""
    return {
        "Id": seed_id(f"coding-{name}"),
        "Name": name,
        "NameEnglish": english,
        "Type": kind,
        "VatRate": f"{rate}%",
        "IsActive": active,
        "VatRatePercent": Decimal(rate),
        "DomesticSalesSubjectToVatAccountNumber": account,
        "ChangedUtc": "2025-01-01T00:00:00Z",
    }


# ------------------------------------------------------------------ documents
def utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def round2(x: Decimal) -> Decimal:
    return x.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def row_amount(unit_price: Decimal, quantity: Decimal, discount_percentage: Decimal) -> Decimal:
    """docs/architecture.md, Visma totals rule: DiscountPercentage is a fraction (0.1 = 10 %),
    as both specs say (minimum 0, maximum 1, 4 decimals)."""
    return round2(unit_price * quantity * (1 - discount_percentage))


@dataclass
class Totals:
    amount: Decimal  # incl. VAT
    vat: Decimal
    roundings: Decimal = Decimal("0")
    per_rate: dict[Decimal, Decimal] = field(default_factory=dict)


def totals(rows: list[tuple[Decimal, Decimal]], includes_vat: bool, *, per_row: bool = False) -> Totals:
    """(row amount, VAT percent) pairs → document totals by the Visma totals rule; `per_row`
    (the "vat-per-row" reading) rounds each row's VAT and sums those instead."""
    per_rate: dict[Decimal, Decimal] = {}
    for amount, rate in rows:
        per_rate[rate] = per_rate.get(rate, Decimal("0")) + amount

    def vat_of(amount: Decimal, rate_percent: Decimal) -> Decimal:
        r = rate_percent / 100
        return round2(amount * r / (1 + r)) if includes_vat else round2(amount * r)

    if per_row:
        vat = sum((vat_of(amount, rate) for amount, rate in rows), Decimal("0"))
    else:
        vat = sum((vat_of(total, rate) for rate, total in per_rate.items()), Decimal("0"))
    net_or_gross = sum(per_rate.values(), Decimal("0"))
    total_amount = net_or_gross if includes_vat else net_or_gross + vat
    return Totals(amount=round2(total_amount), vat=round2(vat), per_rate=per_rate)


def company_today(now: float) -> date:
    """Today in the company's timezone (Europe/Stockholm here), which Visma's dates are in."""
    return datetime.fromtimestamp(now, COMPANY_TZ).date()


def local_date(text: Any) -> date | None:
    """A date the client sent, in the company's timezone: as written without an offset (the
    spec asks for company-local dates), converted when it carries one (or Z)."""
    if not isinstance(text, str) or parse_datetime(text) is None:
        return None
    if len(text) == 10:
        return date.fromisoformat(text)
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed.astimezone(COMPANY_TZ).date() if parsed.tzinfo else parsed.date()


def day_text(d: date) -> str:
    return d.isoformat() + "T00:00:00"


def due_date(invoice_date: str, days: int) -> str:
    d = parse_datetime(invoice_date) or datetime.now(timezone.utc)
    return (d + timedelta(days=days)).strftime("%Y-%m-%dT00:00:00")


def number(value: Any) -> Decimal:
    return Decimal(str(value)) if value is not None else Decimal("0")
