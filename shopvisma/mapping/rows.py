"""Row arithmetic: Visma's totals rule and exact row construction. No I/O.

Apart from plan.py so the money rules (which an accountant reviews) sit apart
from the Shopify-shape plumbing. Everything here works on Decimals in the
document's price mode (gross when the document includes VAT, net otherwise).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Any, Literal

ZERO = Decimal("0")
CENT = Decimal("0.01")
HUNDRED = Decimal("100")
ONE = Decimal("1")
RowKind = Literal["product", "shipping", "gift_card", "tip", "rounding", "discount"]

# Visma's row DiscountPercentage is a FRACTION (0.1 = 10 %), 0 ≤ d ≤ 1, at most 4 decimals
# (both specs: `maximum: 1`; docs/architecture.md, Visma totals rule). RowPlan.discount_percentage
# holds exactly the value sent, so the totals we predict are computed from what Visma receives.
# The resolution is therefore 0.01 %: one step moves a row by (UnitPrice × Quantity) / 10 000.
DISCOUNT_QUANTUM = Decimal("0.0001")


def round_half_up(value: Decimal, quantum: Decimal = CENT) -> Decimal:
    """Visma rounds half away from zero (Decimal's ROUND_HALF_UP), never banker's rounding."""
    return value.quantize(quantum, rounding=ROUND_HALF_UP)


def pct_key(rate: Decimal) -> Decimal:
    """A VAT percent as a canonical dict key: 25.00 → 25, 0.0 → 0."""
    n = rate.normalize()
    return n if n != 0 else ZERO


def fmt_pct(rate: Decimal) -> str:
    """The config spelling of a rate: "25", "12", "25.5"."""
    return format(pct_key(rate), "f")


def is_visma_discount(d: Decimal) -> bool:
    """What Visma accepts as DiscountPercentage: a finite fraction 0..1 with at most 4 decimals."""
    return d.is_finite() and ZERO <= d <= ONE and d == d.quantize(DISCOUNT_QUANTUM)


def cut(text: str | None, limit: int) -> str:
    """Trim to Visma's max length counted in UTF-16 units (what .NET counts), never
    splitting an emoji's surrogate pair or leaving a dangling combining mark."""
    s = unicodedata.normalize("NFC", (text or "").strip())
    units = 0
    out = []
    for ch in s:
        size = 2 if ord(ch) > 0xFFFF else 1
        if units + size > limit:
            break
        out.append(ch)
        units += size
    while out and unicodedata.combining(out[-1]):
        out.pop()
    return "".join(out).strip()


@dataclass(frozen=True)
class ArticleSpec:
    """An article the document needs; `body()` is the POST /v2/articles body when it is missing."""

    number: str
    name: str
    coding_id: str
    unit_id: str
    vat_percent: Decimal
    kind: RowKind = "product"
    net_price: Decimal = ZERO
    gross_price: Decimal = ZERO

    def body(self) -> dict[str, Any]:
        def price(p: Decimal) -> Decimal:
            return min(max(round_half_up(p), ZERO), Decimal("99000000"))

        return {
            "Number": self.number,
            "Name": cut(self.name, 50) or self.number,
            "CodingId": self.coding_id,
            "UnitId": self.unit_id,
            "IsActive": True,
            "NetPrice": price(self.net_price),
            "GrossPrice": price(self.gross_price),
        }


@dataclass(frozen=True)
class RowPlan:
    """One document row, with the VAT rate Visma will apply (that of the article's coding)."""

    article: ArticleSpec
    text: str
    unit_price: Decimal
    quantity: Decimal
    discount_percentage: Decimal = ZERO
    kind: RowKind = "product"

    @property
    def vat_percent(self) -> Decimal:
        return self.article.vat_percent

    @property
    def amount(self) -> Decimal:
        return row_amount(self.unit_price, self.quantity, self.discount_percentage)


@dataclass
class DocumentPlan:
    """Everything needed to write the document body and to check Visma's answer afterwards."""

    order_name: str
    rows: list[RowPlan]
    includes_vat: bool
    expected_total: Decimal
    expected_vat: Decimal
    vat_by_rate: dict[Decimal, Decimal]
    rounding: Decimal
    notes: list[str] = field(default_factory=list)
    currency: str = ""
    reference: str = ""  # YourReference: "#1001", "#1001 refund 1"
    is_credit: bool = False
    is_foreign: bool = False
    shopify_vat_by_rate: dict[Decimal, Decimal] = field(default_factory=dict)

    def articles(self) -> list[ArticleSpec]:
        """The distinct articles the rows reference, in row order."""
        seen: dict[str, ArticleSpec] = {}
        for r in self.rows:
            seen.setdefault(r.article.number, r.article)
        return list(seen.values())


def row_amount(unit_price: Decimal, quantity: Decimal, discount_percentage: Decimal = ZERO) -> Decimal:
    """Visma's row amount: round_half_up(UnitPrice × Quantity × (1 − DiscountPercentage), 2),
    DiscountPercentage being the fraction Visma receives (0.1 = 10 %)."""
    return round_half_up(unit_price * quantity * (1 - discount_percentage))


def predict_totals(rows: list[RowPlan], includes_vat: bool) -> tuple[Decimal, Decimal, dict[Decimal, Decimal]]:
    """Visma's totals rule (docs/architecture.md): (TotalAmount, TotalVatAmount, VAT per rate).

    VAT is computed once per rate on the sum of that rate's rows, not per row, which is
    why it can differ from Shopify's per-line tax by a cent or two."""
    sums: dict[Decimal, Decimal] = {}
    for r in rows:
        key = pct_key(r.vat_percent)
        sums[key] = sums.get(key, ZERO) + r.amount
    vat_by_rate: dict[Decimal, Decimal] = {}
    for rate, s in sums.items():
        f = rate / HUNDRED
        vat_by_rate[rate] = round_half_up(s * f / (1 + f)) if includes_vat else round_half_up(s * f)
    vat = sum(vat_by_rate.values(), ZERO)
    net_or_gross = sum(sums.values(), ZERO)
    total = net_or_gross if includes_vat else net_or_gross + vat
    return total, vat, vat_by_rate


def amount_rows(
    article: ArticleSpec,
    text: str,
    amount: Decimal,
    quantity: int,
    *,
    quantum: Decimal,
    kind: RowKind,
    negate: bool = False,
) -> list[RowPlan]:
    """Rows adding up to exactly `amount` for `quantity` units, at a plain unit price.

    When amount/quantity does not fit the allowed decimals, the units are split into two
    rows one cent apart (e.g. 10.00 for 3 = 2 × 3.33 + 1 × 3.34), so the total stays exact.
    `negate` writes negative quantities (credit invoices) with the same positive prices."""
    sign = Decimal(-1) if negate else Decimal(1)
    if quantity <= 0:
        quantity = 1
    unit = (amount / quantity).quantize(quantum, rounding=ROUND_HALF_UP)
    if row_amount(unit, Decimal(quantity)) == amount:
        return [RowPlan(article, text, unit, sign * quantity, ZERO, kind)]
    cents = int((amount / CENT).to_integral_value(rounding=ROUND_FLOOR))
    base, extra = divmod(cents, quantity)
    rows = []
    if quantity - extra:
        rows.append(RowPlan(article, text, Decimal(base) * CENT, sign * (quantity - extra), ZERO, kind))
    if extra:
        rows.append(RowPlan(article, text, Decimal(base + 1) * CENT, sign * extra, ZERO, kind))
    return rows


def _exact_discount(unit: Decimal, quantity: int, amount: Decimal) -> Decimal | None:
    """The DiscountPercentage (fraction, 4 decimals) that makes the row amount exactly `amount`,
    or None when no grid point does.

    The row amount is linear in d, so the grid point nearest 1 − amount/original (ties
    rounded up, i.e. the row rounded down onto Visma's half-up edge) gives the unrounded
    amount nearest `amount`; if that one misses, every other point is further off. One step
    moves the row by original/10 000: rows up to 100.00 always have an exact fraction,
    larger ones often not. The two neighbours are only a guard against the quotient's own
    28-digit rounding."""
    original = unit * quantity
    if original <= 0:
        return None
    guess = (1 - amount / original).quantize(DISCOUNT_QUANTUM, rounding=ROUND_HALF_UP)
    for d in (guess, guess + DISCOUNT_QUANTUM, guess - DISCOUNT_QUANTUM):
        if ZERO <= d <= ONE and row_amount(unit, Decimal(quantity), d) == amount:
            return d
    return None


def discounted_rows(
    article: ArticleSpec,
    text: str,
    list_unit: Decimal,
    quantity: int,
    amount: Decimal,
    *,
    mode: str,
    quantum: Decimal,
    kind: RowKind,
) -> tuple[list[RowPlan], str]:
    """Rows for `quantity` units listed at `list_unit` whose discounted total is `amount`.

    mode 'percent': one row at the list price with the DiscountPercentage fraction (4 decimals)
    chosen so the row amount is exactly `amount`; 'rows': the undiscounted row plus a negative
    discount row on the same article (same VAT rate, same revenue account); 'price': the
    reduced unit price (split rows when indivisible). When no 4-decimal fraction hits the
    amount exactly (possible once the row's list total exceeds 100.00), 'percent' falls back
    to 'price', with a note: a rounding row instead would move revenue to the 0 % coding
    and use up rounding_tolerance, while the reduced price is exact at the line's own rate."""
    q = Decimal(quantity)
    original = row_amount(list_unit, q)
    if amount == original:
        if list_unit * q == original:
            return [RowPlan(article, text, list_unit, q, ZERO, kind)], ""
        return amount_rows(article, text, amount, quantity, quantum=quantum, kind=kind), ""
    if mode == "percent" and amount < original:
        d = ONE if amount == 0 else _exact_discount(list_unit, quantity, amount)
        if d is not None:
            return [RowPlan(article, text, list_unit, q, d, kind)], ""
        note = f"{text}: no 4-decimal DiscountPercentage gives exactly {amount}; reduced unit price used"
        return amount_rows(article, text, amount, quantity, quantum=quantum, kind=kind), note
    if mode == "rows" and amount < original:
        main = RowPlan(article, text, list_unit, q, ZERO, kind)
        disc = RowPlan(article, cut(f"Rabatt: {text}", 2000), amount - original, Decimal(1), ZERO, "discount")
        return [main, disc], ""
    return amount_rows(article, text, amount, quantity, quantum=quantum, kind=kind), ""
