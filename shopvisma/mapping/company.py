"""The company facts the mapping reads (Company, Coding) and the customer a document names.

Pure, no I/O: the engine reads the facts from Visma once per pass and passes them in.
The rows live in plan.py and rows.py, the document bodies in bodies.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from shopvisma.mapping.plan import require_email
from shopvisma.mapping.rows import cut

if TYPE_CHECKING:
    from shopvisma.mapping.settings import MappingSettings
    from shopvisma.shopify.order import Order


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
        body.update(
            {
                "DeliveryCustomerName": cut(ship.company or ship.name, 50),
                "DeliveryAddress1": cut(ship.address1, 50),
                "DeliveryAddress2": cut(ship.address2, 50),
                "DeliveryPostalCode": cut(ship.zip, 10),
                "DeliveryCity": cut(ship.city, 50),
                "DeliveryCountryCode": cut(ship.country_code, 2).upper(),
            }
        )
    return body
