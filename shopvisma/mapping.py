"""Pure functions: a Shopify order → the Visma bodies that represent it. No I/O.

The accounting rules (docs/accounting.md) live here and in mapping_rows.py (row
arithmetic, Visma's totals rule); mapping_bodies.py writes the JSON bodies.
Anything that cannot be mapped exactly raises OrderError naming the order, the
reason and the config key that would fix it: a refused order stays pending, a
wrong invoice would be booked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from .mapping_bodies import credit_draft_body, draft_body, json_ready, order_body
from .mapping_plan import (
    VatCodings,
    needed_articles,
    plan_document,
    plan_refund,
    refund_needs_credit,
    require_email,
    resolve_vat_codings,
)
from .mapping_rows import ArticleSpec, DocumentPlan, RowPlan, cut, predict_totals
from .model import MoneyKey, Order

__all__ = [
    "ArticleSpec", "Coding", "Company", "DocumentPlan", "MappingSettings", "RowPlan", "VatCodings",
    "credit_draft_body", "customer_body", "customer_key", "document_includes_vat", "draft_body",
    "foreign_customer", "json_ready", "money_key", "needed_articles", "order_body", "plan_document", "plan_refund",
    "predict_totals", "resolve_vat_codings", "refund_needs_credit",
]


def _doc(text: str) -> dict[str, str]:
    return {"doc": text}


@dataclass(frozen=True)
class MappingSettings:
    """The `[mapping]` table of config.toml. Every field has a default read from the
    company or a sensible constant; config.py validates keys and types from these
    annotations, and docs/configuration.md documents each field (a test checks)."""

    vat_codings: dict[str, str] = field(
        default_factory=dict,
        metadata=_doc('VAT rate in percent → Visma article account coding Id, e.g. {"25" = "…uuid…"}. '
                      "Default: the one active coding of type Goods with that rate."),
    )
    unit_id: str = field(default="", metadata=_doc("Visma unit Id for new articles. Default: the unit 'st'/'pcs'."))
    terms_of_payment_id: str = field(
        default="", metadata=_doc("Terms of payment Id for new customers. Default: the company's (companysettings).")
    )
    customer_type: Literal["auto", "private", "company"] = field(
        default="auto",
        metadata=_doc("New customers: 'auto' = company when the billing address has a company name, else private."),
    )
    placeholder_city: str = field(default="Okänd", metadata=_doc("Invoice city for orders without an address."))
    placeholder_postal_code: str = field(
        default="00000", metadata=_doc("Invoice postal code for orders without an address.")
    )
    currency: Literal["presentment", "shop"] = field(
        default="presentment",
        metadata=_doc("Invoice in the currency the customer paid in ('presentment') or the shop currency ('shop')."),
    )
    shipping_articles: dict[str, str] = field(
        default_factory=dict,
        metadata=_doc('VAT rate in percent → article number for shipping rows. Default: "SHIPPING-<rate>".'),
    )
    gift_card_article: str = field(default="GIFTCARD", metadata=_doc("Article number for sold gift cards."))
    gift_card_coding_id: str = field(
        default="", metadata=_doc("Coding for sold gift cards (not revenue). Default: the 0 % Goods coding.")
    )
    tip_article: str = field(default="TIP", metadata=_doc("Article number for tips (0 % VAT)."))
    rounding_article: str = field(default="ROUNDING", metadata=_doc("Article number for rounding rows (0 % VAT)."))
    rounding_tolerance: Decimal = field(
        default=Decimal("0.05"),
        metadata=_doc("Largest rounding row allowed; a larger difference refuses the order."),
    )
    discount_mode: Literal["percent", "rows", "price"] = field(
        default="percent",
        metadata=_doc("'percent': discounts as the row's DiscountPercentage; 'rows': separate negative rows; "
                      "'price': the reduced unit price."),
    )
    tip_coding_id: str = field(
        default="", metadata=_doc("Coding for tips (must have 0 % VAT). Default: the 0 % Goods coding.")
    )
    rounding_coding_id: str = field(
        default="", metadata=_doc("Coding for rounding rows (must have 0 % VAT). Default: the 0 % Goods coding.")
    )


@dataclass(frozen=True)
class Coding:
    """One Visma article account coding (GET /v2/articleaccountcodings)."""

    id: str
    name: str
    type: str
    vat_percent: Decimal
    active: bool


@dataclass(frozen=True)
class Company:
    """Facts read from Visma once per pass and passed in, so mapping stays pure."""

    country_code: str
    currency: str
    show_prices_excl_vat_pc: bool
    terms_of_payment_id: str
    unit_id: str
    codings: tuple[Coding, ...]


def money_key(settings: MappingSettings) -> MoneyKey:
    """Which side of Shopify's MoneyBags the order must be parsed with (model.parse_order)."""
    return "shopMoney" if settings.currency == "shop" else "presentmentMoney"


def customer_key(order: Order, settings: MappingSettings) -> tuple[str, str]:
    """(normalized e-mail, currency): a Visma draft takes its currency from the customer,
    so one e-mail buying in two currencies gets one customer per currency."""
    return order.normalized_email, order.currency


def document_includes_vat(customer: dict[str, Any], company: Company) -> bool:
    """Visma's IncludesVat: private customer and the company does not show prices excl. VAT."""
    return bool(customer.get("IsPrivatePerson", True)) and not company.show_prices_excl_vat_pc


def foreign_customer(customer: dict[str, Any], company: Company) -> bool:
    """4-decimal unit prices are allowed for a foreign customer or currency."""
    country = (customer.get("InvoiceCountryCode") or company.country_code).upper()
    currency = (customer.get("CurrencyCode") or company.currency).upper()
    return country != company.country_code.upper() or currency != company.currency.upper()


def customer_body(order: Order, company: Company, settings: MappingSettings, *, currency: str) -> dict[str, Any]:
    """POST /v2/customers for the order's buyer; placeholders where Shopify has no address."""
    require_email(order)
    addr = order.billing or order.shipping
    ship = order.shipping
    if settings.customer_type == "auto":
        private = not (addr and addr.company.strip())
    else:
        private = settings.customer_type == "private"
    name = (addr.company if addr and not private else "") or order.customer_name or (addr.name if addr else "")
    body: dict[str, Any] = {
        "Name": cut(name, 50) or cut(order.normalized_email, 50),
        "EmailAddress": order.normalized_email,
        "InvoiceAddress1": cut(addr.address1 if addr else "", 50),
        "InvoiceAddress2": cut(addr.address2 if addr else "", 50),
        "InvoicePostalCode": cut(addr.zip if addr else "", 10) or cut(settings.placeholder_postal_code, 10),
        "InvoiceCity": cut(addr.city if addr else "", 50) or cut(settings.placeholder_city, 50),
        "InvoiceCountryCode": cut((addr.country_code if addr else "") or company.country_code, 2).upper(),
        "CurrencyCode": cut(currency or company.currency, 3).upper(),
        "IsPrivatePerson": private,
        "IsActive": True,
        "TermsOfPaymentId": settings.terms_of_payment_id or company.terms_of_payment_id,
        "Telephone": cut(addr.phone if addr else "", 50),
    }
    if not private and addr and addr.name:
        body["ContactPersonName"] = cut(addr.name, 100)
    if ship and ship.address1:
        body.update({
            "DeliveryCustomerName": cut(ship.company or ship.name, 50),
            "DeliveryAddress1": cut(ship.address1, 50),
            "DeliveryAddress2": cut(ship.address2, 50),
            "DeliveryPostalCode": cut(ship.zip, 10),
            "DeliveryCity": cut(ship.city, 50),
            "DeliveryCountryCode": cut(ship.country_code, 2).upper(),
        })
    return body


