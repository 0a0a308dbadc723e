"""Planning: a Shopify order (or one of its refunds) → the rows of a Visma document. No I/O.

Company and settings are only annotations here (company.py imports this module for
require_email), so nothing of them is imported at run time. The reference each plan
carries comes from engine.references, the one place sync and reconcile read it too.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from shopvisma.engine.references import order_reference, refund_reference
from shopvisma.errors import OrderError
from shopvisma.mapping.codings import rate_key, resolve_vat_codings
from shopvisma.mapping.rows import (
    CENT,
    HUNDRED,
    ZERO,
    ArticleSpec,
    DocumentPlan,
    RowKind,
    RowPlan,
    amount_rows,
    cut,
    discounted_rows,
    fmt_pct,
    pct_key,
    predict_totals,
    round_half_up,
)
from shopvisma.shopify.order import LineItem, Order, Refund, TaxLine

if TYPE_CHECKING:
    from shopvisma.mapping.company import Company
    from shopvisma.mapping.settings import MappingSettings


def require_email(order: Order) -> None:
    if not order.normalized_email:
        raise OrderError(
            order.name,
            "the order has no e-mail address, so no Visma customer can be matched",
            hint="add an e-mail to the order in Shopify",
            field="email",
        )
    if len(order.normalized_email) > 255:
        raise OrderError(order.name, "the e-mail address is longer than Visma's 255 characters", field="email")


def _tax_rate(order: Order, what: str, tax_lines: tuple[TaxLine, ...]) -> Decimal | None:
    """The one VAT rate (percent) Shopify charged, or None when it charged none."""
    rates = {pct_key(t.rate * HUNDRED) for t in tax_lines if t.rate or t.amount}
    if len(rates) > 1:
        shown = ", ".join(f"{fmt_pct(r)} %" for r in sorted(rates))
        raise OrderError(
            order.name,
            f"{what} carries several taxes ({shown}); one VAT rate per row is supported",
            hint="book this order by hand",
            field="tax_lines",
        )
    return rates.pop() if rates else None


class _Planner:
    """State of one plan: the resolved codings, the articles seen, the rows so far."""

    def __init__(
        self, order: Order, company: Company, settings: MappingSettings, includes_vat: bool, is_foreign: bool
    ) -> None:
        self.order, self.company, self.settings = order, company, settings
        self.includes_vat, self.is_foreign = includes_vat, is_foreign
        self.quantum = Decimal("0.0001") if is_foreign else CENT
        self.codings = resolve_vat_codings(company, settings)
        self.coding_rates = {c.id: pct_key(c.vat_percent) for c in company.codings}
        self.articles: dict[str, ArticleSpec] = {}
        self.rows: list[RowPlan] = []
        self.notes: list[str] = []
        self.shopify_vat: dict[Decimal, Decimal] = {}
        if self.codings.key_problems:
            key, reason = self.codings.key_problems[0]
            raise self.fail(
                reason, field=key, hint=f'write each {key} key as a VAT rate in percent, e.g. "25" or "12.5"'
            )

    def fail(self, reason: str, *, hint: str = "", field: str = "") -> OrderError:
        return OrderError(self.order.name, reason, hint=hint, field=field)

    def coding_for_rate(self, rate: Decimal, what: str) -> str:
        if rate in self.codings:
            return self.codings[rate]
        problem = self.codings.problems.get(rate) or f"Visma has no active Goods coding with {fmt_pct(rate)} % VAT"
        return self._refuse_coding(f"{what} is taxed at {fmt_pct(rate)} % but {problem}", rate)

    def _refuse_coding(self, reason: str, rate: Decimal) -> str:
        options = (
            ", ".join(f"{c.name} = {c.id}" for c in self.company.codings if c.active and pct_key(c.vat_percent) == rate)
            or "none"
        )
        raise self.fail(
            reason,
            field="vat_codings",
            hint=f'add [mapping] vat_codings = {{"{fmt_pct(rate)}" = "<coding id>"}} to the config '
            f"(codings with {fmt_pct(rate)} %: {options})",
        )

    def zero_coding(self, configured: str, key: str, what: str) -> str:
        """The coding of a 0 % row (gift card, tip, rounding): configured or the 0 % Goods coding."""
        if configured:
            rate = self.coding_rates.get(configured)
            if rate is None:
                raise self.fail(f"[mapping] {key} names coding {configured}, which Visma does not have", field=key)
            if rate != 0:
                raise self.fail(
                    f"[mapping] {key} names a coding with {fmt_pct(rate)} % VAT; {what} needs 0 %", field=key
                )
            return configured
        if ZERO in self.codings:
            return self.codings[ZERO]
        problem = self.codings.problems.get(ZERO) or "Visma has no active Goods coding with 0 % VAT"
        raise self.fail(
            f"{what} needs a 0 % coding but {problem}",
            field=key,
            hint=f'set [mapping] {key} = "<coding id>" (or vat_codings = {{"0" = "<coding id>"}})',
        )

    def article(
        self, number: str, name: str, coding_id: str, kind: RowKind, unit: Decimal, rate: Decimal
    ) -> ArticleSpec:
        vat = self.coding_rates.get(coding_id, rate)
        if unit and self.order.taxes_included:
            gross, net = unit, round_half_up(unit / (1 + vat / HUNDRED))
        else:
            net, gross = unit, round_half_up(unit * (1 + vat / HUNDRED))
        spec = ArticleSpec(
            number,
            cut(name, 50) or number,
            coding_id,
            self.settings.unit_id or self.company.unit_id,
            vat,
            kind,
            net,
            gross,
        )
        seen = self.articles.get(number)
        if seen is None:
            self.articles[number] = spec
            return spec
        if seen.coding_id != coding_id:
            raise self.fail(
                f"article {number} is sold at {fmt_pct(seen.vat_percent)} % and at {fmt_pct(vat)} % "
                "in one order; a Visma article has one VAT coding",
                field="sku",
            )
        return seen

    def doc_amount(self, amount: Decimal, tax: Decimal) -> Decimal:
        """Shopify's amount in the document's price mode, using Shopify's own tax amount
        (never recomputed from the rate, which would drift by cents)."""
        if self.order.taxes_included == self.includes_vat:
            return amount
        return amount - tax if self.order.taxes_included else amount + tax

    def doc_unit(self, unit: Decimal, rate: Decimal) -> Decimal:
        """A list price in the document's mode; display only, the discount makes the amount exact."""
        if self.order.taxes_included == self.includes_vat:
            return unit
        f = 1 + rate / HUNDRED
        return round_half_up(unit / f if self.order.taxes_included else unit * f, self.quantum)

    def record_tax(self, rate: Decimal | None, tax: Decimal) -> None:
        key = rate if rate is not None else ZERO
        self.shopify_vat[key] = self.shopify_vat.get(key, ZERO) + tax

    def add(self, rows: list[RowPlan], note: str = "") -> None:
        self.rows.extend(rows)
        if note:
            self.notes.append(note)


def _tip_line_ids(order: Order) -> set[str]:
    """Shopify's tip is a line without SKU, tax or shipping (REST calls it "Tip")."""
    if order.total_tip <= 0:
        return set()
    cands = [
        li for li in order.lines if not li.sku and not li.is_gift_card and not li.tax_lines and not li.requires_shipping
    ]
    named = [li for li in cands if li.title.strip().lower() in {"tip", "dricks", "drikkepenge", "tips"}]
    for group in (named, cands):
        if group and sum((li.total for li in group), ZERO) == order.total_tip:
            return {li.id for li in group}
    single = [li for li in cands if li.total == order.total_tip]
    return {single[0].id} if single else set()


def _usual_rate(order: Order) -> Decimal:
    """The rate of the order's taxed product lines, for a zero-price line Shopify sent without tax."""
    counts: dict[Decimal, int] = {}
    for li in order.lines:
        for t in li.tax_lines:
            if t.rate:
                k = pct_key(t.rate * HUNDRED)
                counts[k] = counts.get(k, 0) + 1
    return max(counts, key=lambda k: counts[k]) if counts else ZERO


def _plan_line(p: _Planner, li: LineItem, tip_ids: set[str], usual: Decimal) -> None:
    order, s = p.order, p.settings
    what = f"line {li.name or li.title!r}"
    tax = sum((t.amount for t in li.tax_lines), ZERO)
    if li.quantity <= 0 and li.total == 0:
        return
    if li.id in tip_ids:
        coding = p.zero_coding(s.tip_coding_id, "tip_coding_id", "a tip")
        art = p.article(s.tip_article, "Dricks", coding, "tip", ZERO, ZERO)
        p.record_tax(ZERO, ZERO)
        p.add(amount_rows(art, li.title or "Dricks", li.total, max(li.quantity, 1), quantum=p.quantum, kind="tip"))
        return
    if li.is_gift_card:
        if tax:
            raise p.fail(
                f"gift card {what} carries tax; a sold gift card is not revenue at a VAT rate", field="tax_lines"
            )
        coding = p.zero_coding(s.gift_card_coding_id, "gift_card_coding_id", "a sold gift card")
        art = p.article(s.gift_card_article, "Presentkort", coding, "gift_card", li.unit_price, ZERO)
        p.record_tax(ZERO, ZERO)
        rows, note = discounted_rows(
            art,
            li.name or "Presentkort",
            li.unit_price,
            li.quantity,
            li.total,
            mode=s.discount_mode,
            quantum=p.quantum,
            kind="gift_card",
        )
        p.add(rows, note)
        return
    if not li.sku:
        raise p.fail(
            f"{what} has no SKU, so it cannot be matched to a Visma article",
            hint="give the variant a SKU in Shopify",
            field="sku",
        )
    if len(li.sku) > 40:
        raise p.fail(f"SKU {li.sku!r} is longer than Visma's 40-character article number", field="sku")
    rate = _tax_rate(order, what, li.tax_lines)
    if rate is None:
        rate = usual if (li.taxable and li.total == 0) else ZERO
    coding = p.coding_for_rate(rate, what)
    art = p.article(li.sku, li.name or li.title, coding, "product", li.unit_price, rate)
    p.record_tax(rate, tax)
    amount = p.doc_amount(li.total, tax)
    text = li.name or li.title
    if not li.discount:  # a converted price must not turn into a made-up discount
        p.add(amount_rows(art, text, amount, li.quantity, quantum=p.quantum, kind="product"))
        return
    rows, note = discounted_rows(
        art,
        text,
        p.doc_unit(li.unit_price, rate),
        li.quantity,
        amount,
        mode=s.discount_mode,
        quantum=p.quantum,
        kind="product",
    )
    p.add(rows, note)


def _shipping_article(p: _Planner, rate: Decimal, what: str) -> ArticleSpec:
    coding = p.coding_for_rate(rate, what)
    configured = {rate_key(k): v for k, v in p.settings.shipping_articles.items()}
    number = configured.get(rate) or f"SHIPPING-{fmt_pct(rate)}"
    return p.article(number, f"Frakt {fmt_pct(rate)} %", coding, "shipping", ZERO, rate)


def _plan_shipping(p: _Planner) -> None:
    for sl in p.order.shipping_lines:
        what = f"shipping {sl.title!r}"
        tax = sum((t.amount for t in sl.tax_lines), ZERO)
        rate = _tax_rate(p.order, what, sl.tax_lines)
        if rate is None and sl.total == 0:
            p.notes.append(f"{what}: free shipping, no row")
            continue
        rate = rate if rate is not None else ZERO
        art = _shipping_article(p, rate, what)
        p.record_tax(rate, tax)
        amount = p.doc_amount(sl.total, tax)
        if not sl.discount:
            p.add(amount_rows(art, sl.title or "Frakt", amount, 1, quantum=p.quantum, kind="shipping"))
            continue
        rows, note = discounted_rows(
            art,
            sl.title or "Frakt",
            p.doc_unit(sl.price, rate),
            1,
            amount,
            mode=p.settings.discount_mode,
            quantum=p.quantum,
            kind="shipping",
        )
        p.add(rows, note)


def _finish(p: _Planner, target: Decimal, reference: str, is_credit: bool, bias: Decimal = ZERO) -> DocumentPlan:
    """Predict Visma's totals; close a gap within rounding_tolerance with a 0 % rounding row.

    `bias` is how far Visma's own total was seen to land above our prediction for these
    rows (its VAT rounding is not documented): the rows then aim at `target - bias`, so
    Visma's total is `target`. A 0 % row moves the total by exactly its amount in either
    price mode, which is why one correction is enough."""
    s, order = p.settings, p.order
    if not p.rows:
        raise p.fail("nothing to invoice: the order has no lines", field="lines")
    total, vat, by_rate = predict_totals(p.rows, p.includes_vat)
    aim = target - bias
    diff = aim - total
    if abs(diff) > s.rounding_tolerance:
        raise p.fail(
            f"the Visma document would total {total} {order.currency}, Shopify says {target}: "
            f"a difference of {diff}, more than rounding_tolerance {s.rounding_tolerance}",
            hint="check the order's discounts, duties and taxes in Shopify; book it by hand if needed",
            field="total",
        )
    if diff:
        coding = p.zero_coding(s.rounding_coding_id, "rounding_coding_id", "a rounding row")
        art = p.article(s.rounding_article, "Öresavrundning", coding, "rounding", ZERO, ZERO)
        p.rows.append(RowPlan(art, "Öresavrundning", diff, Decimal(1), ZERO, "rounding"))
        p.notes.append(f"rounding row {diff} so the total equals Shopify's {target}")
        total, vat, by_rate = predict_totals(p.rows, p.includes_vat)
    assert total == aim, (total, aim)
    return DocumentPlan(
        order_name=order.name,
        rows=p.rows,
        includes_vat=p.includes_vat,
        expected_total=target,
        expected_vat=vat,
        vat_by_rate=by_rate,
        rounding=diff,
        notes=p.notes,
        currency=order.currency,
        reference=reference,
        is_credit=is_credit,
        is_foreign=p.is_foreign,
        shopify_vat_by_rate=p.shopify_vat,
    )


def plan_document(
    order: Order,
    company: Company,
    settings: MappingSettings,
    *,
    includes_vat: bool,
    is_foreign: bool,
    bias: Decimal = ZERO,
) -> DocumentPlan:
    """The rows of the invoice draft / sales order for `order`, totalling order.total to the cent."""
    require_email(order)
    if not order.lines_complete:
        raise OrderError(
            order.name,
            "not all line items could be read from Shopify",
            field="lines",
            hint="the next run fetches the order again",
        )
    p = _Planner(order, company, settings, includes_vat, is_foreign)
    tip_ids = _tip_line_ids(order)
    usual = _usual_rate(order)
    for li in order.lines:
        _plan_line(p, li, tip_ids, usual)
    _plan_shipping(p)
    if order.total_tip > 0 and not tip_ids:
        coding = p.zero_coding(settings.tip_coding_id, "tip_coding_id", "a tip")
        art = p.article(settings.tip_article, "Dricks", coding, "tip", ZERO, ZERO)
        p.add([RowPlan(art, "Dricks", order.total_tip, Decimal(1), ZERO, "tip")])
    return _finish(p, order.total, order_reference(order), False, bias)


def needed_articles(
    order: Order,
    company: Company,
    settings: MappingSettings,
    *,
    includes_vat: bool | None = None,
    is_foreign: bool = False,
) -> list[ArticleSpec]:
    """Every article the document rows reference. Without `includes_vat` (the customer not yet
    known) the union over both price modes, since only the rounding row depends on it."""
    modes = [includes_vat] if includes_vat is not None else [True, False]
    found: dict[str, ArticleSpec] = {}
    error: OrderError | None = None
    for mode in modes:
        try:
            plan = plan_document(order, company, settings, includes_vat=mode, is_foreign=is_foreign)
        except OrderError as exc:
            error = error or exc
            continue
        for a in plan.articles():
            found.setdefault(a.number, a)
    if not found and error is not None:
        raise error
    return list(found.values())


def refund_needs_credit(refund: Refund) -> bool:
    """A refund that returned no money (restock only) needs no credit invoice."""
    return refund.total != 0


def plan_refund(
    order: Order,
    refund: Refund,
    company: Company,
    settings: MappingSettings,
    *,
    includes_vat: bool,
    is_foreign: bool,
    index: int,
    bias: Decimal = ZERO,
) -> DocumentPlan:
    """A credit invoice draft for one refund: negative quantities at positive prices, so
    Visma's TotalAmount is −refund.total (see docs/accounting.md, "Refunds")."""
    require_email(order)
    reference = refund_reference(order, index)
    p = _Planner(order, company, settings, includes_vat, is_foreign)
    if not refund_needs_credit(refund):
        raise p.fail(f"refund {index} returned no money; there is nothing to credit", field="refunds")
    by_id = {li.id: li for li in order.lines}
    by_sku = {li.sku: li for li in order.lines if li.sku}
    tip_ids = _tip_line_ids(order)
    # Shopify's refund subtotal is in the shop's price mode; check that reading against the
    # refunded total and fall back to the other one rather than guess.
    gross_if_incl = sum((rl.subtotal for rl in refund.lines), ZERO) + sum(
        (s.subtotal + s.tax for s in refund.shipping), ZERO
    )
    gross_if_excl = sum((rl.subtotal + rl.tax for rl in refund.lines), ZERO) + sum(
        (s.subtotal + s.tax for s in refund.shipping), ZERO
    )
    subtotal_incl = order.taxes_included
    if gross_if_incl != gross_if_excl:
        if gross_if_incl == refund.total:
            subtotal_incl = True
        elif gross_if_excl == refund.total:
            subtotal_incl = False
    for rl in refund.lines:
        li = by_id.get(rl.line_item_id) or by_sku.get(rl.sku)
        if li is None:
            raise p.fail(f"refund {index} refunds a line that is not on the order", field="refunds")
        gross = rl.subtotal if subtotal_incl else rl.subtotal + rl.tax
        amount = gross if p.includes_vat else gross - rl.tax
        qty = max(rl.quantity, 1)
        if li.id in tip_ids:
            art = p.article(
                settings.tip_article,
                "Dricks",
                p.zero_coding(settings.tip_coding_id, "tip_coding_id", "a tip"),
                "tip",
                ZERO,
                ZERO,
            )
            kind: RowKind = "tip"
        elif li.is_gift_card:
            art = p.article(
                settings.gift_card_article,
                "Presentkort",
                p.zero_coding(settings.gift_card_coding_id, "gift_card_coding_id", "a gift card"),
                "gift_card",
                li.unit_price,
                ZERO,
            )
            kind = "gift_card"
        else:
            if not li.sku:
                raise p.fail(f"refunded line {li.name!r} has no SKU", field="sku")
            what = f"refunded line {li.name!r}"
            rate = _tax_rate(order, what, li.tax_lines)
            rate = rate if rate is not None else ZERO
            art = p.article(li.sku, li.name or li.title, p.coding_for_rate(rate, what), "product", li.unit_price, rate)
            kind = "product"
            p.record_tax(rate, -rl.tax)
        p.add(amount_rows(art, li.name or li.title, amount, qty, quantum=p.quantum, kind=kind, negate=True))
    ship_rates = {r for sl in order.shipping_lines if (r := _tax_rate(order, "shipping", sl.tax_lines)) is not None}
    for rs in refund.shipping:
        if rs.subtotal == 0 and rs.tax == 0:
            continue
        if len(ship_rates) > 1:
            raise p.fail(
                f"refund {index} refunds shipping of an order with several shipping VAT rates",
                hint="book this credit by hand",
                field="refunds",
            )
        rate = next(iter(ship_rates)) if ship_rates else ZERO
        art = _shipping_article(p, rate, f"refund {index} shipping")
        p.record_tax(rate, -rs.tax)
        amount = rs.subtotal + rs.tax if p.includes_vat else rs.subtotal
        p.add(amount_rows(art, "Frakt", amount, 1, quantum=p.quantum, kind="shipping", negate=True))
    if not p.rows:
        raise p.fail(
            f"refund {index} of {refund.total} names no refunded lines or shipping; its VAT rate is unknown",
            hint="create this credit invoice by hand",
            field="refunds",
        )
    return _finish(p, -refund.total, reference, True, bias)
