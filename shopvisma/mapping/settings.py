"""The `[mapping]` table of config.toml, apart from the mapping code itself: config/settings.py
needs the settings' shape on every run, the mapping code only when there are orders."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from shopvisma.shopify.order import MoneyKey


def _doc(text: str) -> dict[str, str]:
    return {"doc": text}


@dataclass(frozen=True)
class MappingSettings:
    """The `[mapping]` table of config.toml. Every field has a default read from the
    company or a sensible constant; config/settings.py validates keys and types from these
    annotations, and docs/configuration.md documents each field (a test checks)."""

    vat_codings: dict[str, str] = field(
        default_factory=dict,
        metadata=_doc(
            'VAT rate in percent → Visma article account coding Id, e.g. {"25" = "…uuid…"}. '
            "Default: the one active coding of type Goods with that rate."
        ),
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
        metadata=_doc(
            "'percent': discounts as the row's DiscountPercentage; 'rows': separate negative rows; "
            "'price': the reduced unit price."
        ),
    )
    tip_coding_id: str = field(
        default="", metadata=_doc("Coding for tips (must have 0 % VAT). Default: the 0 % Goods coding.")
    )
    rounding_coding_id: str = field(
        default="", metadata=_doc("Coding for rounding rows (must have 0 % VAT). Default: the 0 % Goods coding.")
    )


def money_key(settings: MappingSettings) -> MoneyKey:
    """Which side of Shopify's MoneyBags the orders are read in (shopify.order.parse_order).
    Here, beside the setting, because sync, its refunds check and reconcile must all read the
    same amounts, and an idle pass needs it without loading the mapping code."""
    return "shopMoney" if settings.currency == "shop" else "presentmentMoney"
