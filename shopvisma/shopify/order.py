"""The Shopify order as the mapping sees it: typed, Decimal money, one currency.

Parsing lives here (not in the client) so that the mapping, the sandbox and the
tests share one definition of an order, and the GraphQL JSON shape is read in
exactly one place. `money` picks which side of every Shopify `MoneyBag` is
used: "presentmentMoney" (what the customer paid in) or "shopMoney".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from shopvisma.timefmt import parse_iso

MoneyKey = Literal["presentmentMoney", "shopMoney"]
ZERO = Decimal("0")


@dataclass(frozen=True)
class TaxLine:
    rate: Decimal  # a fraction: Decimal("0.25") for 25 %
    amount: Decimal
    title: str = ""


@dataclass(frozen=True)
class LineItem:
    id: str
    sku: str  # "" when Shopify has none
    name: str  # "Product - Variant"
    title: str  # product title as sold
    quantity: int
    unit_price: Decimal  # original unit price, before any discount
    discount: Decimal  # sum of discount allocations on the whole line (line + order level)
    tax_lines: tuple[TaxLine, ...] = ()
    taxable: bool = True
    is_gift_card: bool = False
    requires_shipping: bool = True

    @property
    def total(self) -> Decimal:
        """Line total after discounts, in the shop's price mode (gross if taxes included)."""
        return self.unit_price * self.quantity - self.discount


@dataclass(frozen=True)
class ShippingLine:
    title: str
    code: str
    price: Decimal  # original price
    discount: Decimal  # original - discounted
    tax_lines: tuple[TaxLine, ...] = ()

    @property
    def total(self) -> Decimal:
        return self.price - self.discount


@dataclass(frozen=True)
class Address:
    name: str = ""
    company: str = ""
    address1: str = ""
    address2: str = ""
    city: str = ""
    zip: str = ""
    country_code: str = ""
    phone: str = ""


@dataclass(frozen=True)
class RefundLine:
    line_item_id: str
    sku: str
    quantity: int
    subtotal: Decimal  # after discounts, before tax
    tax: Decimal


@dataclass(frozen=True)
class RefundShipping:
    subtotal: Decimal
    tax: Decimal


@dataclass(frozen=True)
class Transaction:
    """One Shopify payment movement (`OrderTransaction`), on the order's money side."""

    id: str
    kind: str  # upper case as Shopify sends it: SALE, CAPTURE, AUTHORIZATION, REFUND, ...
    status: str  # SUCCESS, FAILURE, PENDING, ERROR, ...
    gateway: str  # "shopify_payments", "paypal", "gift_card", "manual", ...
    amount: Decimal  # positive, in `currency`
    currency: str
    processed_at: datetime | None
    test: bool = False
    shop_amount: Decimal | None = None  # the same amount in the shop's currency
    shop_currency: str = ""
    parent_id: str = ""

    @property
    def is_payment(self) -> bool:
        """Money the customer paid: a successful, real sale or capture (an authorization
        only reserves money; its capture is the payment)."""
        return self.kind in ("SALE", "CAPTURE") and self.status == "SUCCESS" and not self.test

    @property
    def is_refund(self) -> bool:
        return self.kind == "REFUND" and self.status == "SUCCESS" and not self.test


@dataclass(frozen=True)
class Refund:
    id: str
    created_at: datetime
    total: Decimal
    lines: tuple[RefundLine, ...] = ()
    shipping: tuple[RefundShipping, ...] = ()
    transactions: tuple[Transaction, ...] = ()


@dataclass(frozen=True)
class Order:
    id: str
    name: str
    email: str  # as given by Shopify, may be ""
    created_at: datetime
    updated_at: datetime
    currency: str
    taxes_included: bool
    total: Decimal  # totalPriceSet: what the document must add up to
    total_tax: Decimal
    subtotal: Decimal = ZERO
    total_discounts: Decimal = ZERO
    total_shipping: Decimal = ZERO
    total_tip: Decimal = ZERO
    total_refunded: Decimal = ZERO  # totalRefundedSet: what all refunds together returned
    cancelled_at: datetime | None = None
    test: bool = False
    financial_status: str = ""  # lower case: "paid", "partially_refunded", ...
    fulfillment_status: str = ""  # lower case: "unfulfilled", "fulfilled", ...
    tags: tuple[str, ...] = ()
    customer_name: str = ""
    billing: Address | None = None
    shipping: Address | None = None
    lines: tuple[LineItem, ...] = ()
    shipping_lines: tuple[ShippingLine, ...] = ()
    refunds: tuple[Refund, ...] = ()
    lines_complete: bool = True  # False when Shopify had more line items than were fetched
    shop_currency: str = ""
    transactions: tuple[Transaction, ...] = ()  # read only with [payments]
    transactions_read: bool = False  # the query asked for them (an empty tuple is then "none")
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def normalized_email(self) -> str:
        return normalize_email(self.email)


def normalize_email(email: str | None) -> str:
    """The contract's match key: trimmed and case-insensitive."""
    return (email or "").strip().lower()


def parse_datetime(value: str | None) -> datetime | None:
    """A Shopify DateTime field; Shopify leaves optional ones (cancelledAt) null or empty."""
    return parse_iso(value) if value else None


def _money(bag: dict[str, Any] | None, key: MoneyKey) -> Decimal:
    """A MoneyBag's amount on the chosen side; decimal strings stay exact."""
    if not bag:
        return ZERO
    side = bag.get(key) or bag.get("shopMoney") or bag.get("presentmentMoney") or {}
    amount = side.get("amount")
    return Decimal(str(amount)) if amount is not None else ZERO


def _nodes(conn: Any) -> list[dict[str, Any]]:
    """Connection or plain list: GraphQL `{nodes}`/`{edges{node}}` or a list."""
    if conn is None:
        return []
    if isinstance(conn, list):
        return conn
    if "nodes" in conn and conn["nodes"] is not None:
        return conn["nodes"]
    return [e["node"] for e in conn.get("edges") or []]


def _tax_lines(items: list[dict[str, Any]] | None, key: MoneyKey) -> tuple[TaxLine, ...]:
    return tuple(
        TaxLine(
            rate=Decimal(str(t.get("rate") if t.get("rate") is not None else "0")),
            amount=_money(t.get("priceSet"), key),
            title=t.get("title") or "",
        )
        for t in items or []
    )


def _transactions(items: Any, key: MoneyKey) -> tuple[Transaction, ...]:
    out = []
    for t in _nodes(items):
        bag = t.get("amountSet") or {}
        side = bag.get(key) or bag.get("shopMoney") or {}
        shop = bag.get("shopMoney") or {}
        out.append(
            Transaction(
                id=t.get("id", ""),
                kind=(t.get("kind") or "").upper(),
                status=(t.get("status") or "").upper(),
                gateway=t.get("gateway") or "",
                amount=_money(bag, key),
                currency=side.get("currencyCode") or "",
                processed_at=parse_datetime(t.get("processedAt") or t.get("createdAt")),
                test=bool(t.get("test", False)),
                shop_amount=Decimal(str(shop["amount"])) if shop.get("amount") is not None else None,
                shop_currency=shop.get("currencyCode") or "",
                parent_id=(t.get("parentTransaction") or {}).get("id", ""),
            )
        )
    return tuple(out)


def _address(a: dict[str, Any] | None) -> Address | None:
    if not a:
        return None
    name = a.get("name") or " ".join(x for x in (a.get("firstName"), a.get("lastName")) if x)
    return Address(
        name=name or "",
        company=a.get("company") or "",
        address1=a.get("address1") or "",
        address2=a.get("address2") or "",
        city=a.get("city") or "",
        zip=a.get("zip") or "",
        country_code=a.get("countryCodeV2") or a.get("countryCode") or "",
        phone=a.get("phone") or "",
    )


def parse_order(node: dict[str, Any], money: MoneyKey = "presentmentMoney") -> Order:
    """Turn one GraphQL `Order` node (the shape the product's query returns) into an Order."""
    lines = []
    line_conn = node.get("lineItems") or {}
    for li in _nodes(line_conn):
        discount = sum(
            (_money(d.get("allocatedAmountSet"), money) for d in li.get("discountAllocations") or []),
            ZERO,
        )
        lines.append(
            LineItem(
                id=li.get("id", ""),
                sku=(li.get("sku") or "").strip(),
                name=li.get("name") or li.get("title") or "",
                title=li.get("title") or li.get("name") or "",
                quantity=int(li.get("quantity") or 0),
                unit_price=_money(li.get("originalUnitPriceSet"), money),
                discount=discount,
                tax_lines=_tax_lines(li.get("taxLines"), money),
                taxable=bool(li.get("taxable", True)),
                is_gift_card=bool(li.get("isGiftCard", False)),
                requires_shipping=bool(li.get("requiresShipping", True)),
            )
        )
    shipping_lines = []
    for sl in _nodes(node.get("shippingLines")):
        price = _money(sl.get("originalPriceSet"), money)
        discounted = sl.get("discountedPriceSet")
        discount = price - _money(discounted, money) if discounted else ZERO
        shipping_lines.append(
            ShippingLine(
                title=sl.get("title") or "Shipping",
                code=sl.get("code") or "",
                price=price,
                discount=discount,
                tax_lines=_tax_lines(sl.get("taxLines"), money),
            )
        )
    refunds = []
    for r in node.get("refunds") or []:
        rlines = tuple(
            RefundLine(
                line_item_id=(rl.get("lineItem") or {}).get("id", ""),
                sku=((rl.get("lineItem") or {}).get("sku") or "").strip(),
                quantity=int(rl.get("quantity") or 0),
                subtotal=_money(rl.get("subtotalSet"), money),
                tax=_money(rl.get("totalTaxSet"), money),
            )
            for rl in _nodes(r.get("refundLineItems"))
        )
        rship = tuple(
            RefundShipping(
                subtotal=_money(s.get("subtotalAmountSet"), money),
                tax=_money(s.get("taxAmountSet"), money),
            )
            for s in _nodes(r.get("refundShippingLines"))
        )
        refunds.append(
            Refund(
                id=r.get("id", ""),
                created_at=parse_datetime(r.get("createdAt")) or datetime.min,
                total=_money(r.get("totalRefundedSet"), money),
                lines=rlines,
                shipping=rship,
                transactions=_transactions(r.get("transactions"), money),
            )
        )
    customer = node.get("customer") or {}
    billing = _address(node.get("billingAddress"))
    shipping = _address(node.get("shippingAddress"))
    customer_name = (
        customer.get("displayName")
        or " ".join(x for x in (customer.get("firstName"), customer.get("lastName")) if x)
        or (billing.name if billing else "")
        or (shipping.name if shipping else "")
    )
    currency = (
        (node.get("presentmentCurrencyCode") if money == "presentmentMoney" else node.get("currencyCode"))
        or node.get("currencyCode")
        or ""
    )
    page_info = line_conn.get("pageInfo") if isinstance(line_conn, dict) else None
    return Order(
        id=node["id"],
        name=node["name"],
        email=node.get("email") or "",
        created_at=parse_datetime(node.get("createdAt")),  # type: ignore[arg-type]
        updated_at=parse_datetime(node.get("updatedAt")),  # type: ignore[arg-type]
        cancelled_at=parse_datetime(node.get("cancelledAt")),
        test=bool(node.get("test", False)),
        financial_status=(node.get("displayFinancialStatus") or "").lower(),
        fulfillment_status=(node.get("displayFulfillmentStatus") or "").lower(),
        tags=tuple(node.get("tags") or ()),
        currency=currency,
        shop_currency=node.get("currencyCode") or "",
        taxes_included=bool(node.get("taxesIncluded", False)),
        total=_money(node.get("totalPriceSet"), money),
        total_tax=_money(node.get("totalTaxSet"), money),
        subtotal=_money(node.get("subtotalPriceSet"), money),
        total_discounts=_money(node.get("totalDiscountsSet"), money),
        total_shipping=_money(node.get("totalShippingPriceSet"), money),
        total_tip=_money(node.get("totalTipReceivedSet"), money),
        total_refunded=_money(node.get("totalRefundedSet"), money),
        customer_name=customer_name,
        billing=billing,
        shipping=shipping,
        lines=tuple(lines),
        shipping_lines=tuple(shipping_lines),
        refunds=tuple(refunds),
        lines_complete=not (page_info or {}).get("hasNextPage", False),
        transactions=_transactions(node.get("transactions"), money),
        transactions_read="transactions" in node,
        raw=node,
    )
