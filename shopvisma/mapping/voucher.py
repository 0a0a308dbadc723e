"""Pure: a payout's figures → the rows of one balanced Visma voucher (docs/payouts.md).

The voucher moves the payout out of the clearing account, where the order payments were
registered: the bank is debited with what arrived (the net), the fees account with what
Shopify kept, and the clearing account credited with the gross of the payout's transactions
(charges, refunds, adjustments, reserves, each with its sign). A negative figure goes to the
other side (a withdrawal credits the bank; refunds above charges debit the clearing account),
so every amount Visma sees is >= 0 with at most 2 decimals, as VoucherRowApi requires.

Nothing here trusts the figures: when gross - fees != net the payout is refused
(`FiguresDoNotAddUp`), so a voucher that would not balance, or one built from a field that
later API versions add to the summary, is never posted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

CENT = Decimal("0.01")
TEXT_PREFIX = "Shopify payout"
_KEY = re.compile(r"Shopify payout (\d+)(?!\d)", re.IGNORECASE)


class FiguresDoNotAddUp(ValueError):
    """The payout's own figures are inconsistent: nothing is posted, the payout is named."""


@dataclass(frozen=True)
class PayoutFigures:
    """Signed figures in the payout's currency: net < 0 is a withdrawal, fees > 0 is money kept."""

    gross: Decimal
    fees: Decimal
    net: Decimal
    currency: str

    def describe(self) -> str:
        return f"gross {self.gross:.2f} - fees {self.fees:.2f} = {self.gross - self.fees:.2f}, net {self.net:.2f}"


@dataclass(frozen=True)
class Accounts:
    bank: str
    clearing: str
    fees: str


@dataclass(frozen=True)
class VoucherRow:
    account: str
    debit: Decimal
    credit: Decimal
    text: str

    def body(self) -> dict[str, Any]:
        """VoucherRowApi: AccountNumber is an integer there (AccountApi.Number is a string)."""
        return {
            "AccountNumber": int(self.account),
            "DebitAmount": self.debit,
            "CreditAmount": self.credit,
            "TransactionText": self.text,
        }


@dataclass(frozen=True)
class VoucherPlan:
    payout_id: str
    voucher_date: date
    text: str
    rows: tuple[VoucherRow, ...]
    figures: PayoutFigures

    @property
    def debits(self) -> Decimal:
        return sum((r.debit for r in self.rows), Decimal(0))

    @property
    def credits(self) -> Decimal:
        return sum((r.credit for r in self.rows), Decimal(0))

    def body(self) -> dict[str, Any]:
        """VoucherApi as POSTed; VoucherType 2 = ManualVoucher, the series is Visma's default."""
        return {
            "VoucherDate": self.voucher_date.isoformat(),
            "VoucherText": self.text,
            "VoucherType": 2,
            "Rows": [r.body() for r in self.rows],
        }


def voucher_text(payout_id: str, voucher_date: date) -> str:
    """The natural key: `Shopify payout <legacyResourceId>` (contract), then the date for people."""
    return f"{TEXT_PREFIX} {payout_id} {voucher_date.isoformat()}"


def payout_id_in(text: str | None) -> str | None:
    """The payout a voucher text names ("Shopify payout 12" never matches payout 123)."""
    m = _KEY.search(text or "")
    return m.group(1) if m else None


def figures_problem(f: PayoutFigures) -> str | None:
    """Why these figures cannot be booked, or None."""
    for name, value in (("gross", f.gross), ("fees", f.fees), ("net", f.net)):
        if value != value.quantize(CENT):
            return f"the payout's {name} {value} has more than 2 decimals"
    if f.gross - f.fees != f.net:
        return f"the payout's figures do not add up: {f.describe()} {f.currency}"
    if f.net == 0 and f.gross == 0 and f.fees == 0:
        return "the payout is zero: there is nothing to book"
    return None


def _row(account: str, signed_debit: Decimal, text: str) -> VoucherRow:
    amount = abs(signed_debit)
    return VoucherRow(
        account, amount if signed_debit > 0 else Decimal("0.00"), amount if signed_debit < 0 else Decimal("0.00"), text
    )


def plan_voucher(payout_id: str, voucher_date: date, figures: PayoutFigures, accounts: Accounts) -> VoucherPlan:
    """The balanced voucher of one payout; raises FiguresDoNotAddUp (nothing to post) otherwise."""
    problem = figures_problem(figures)
    if problem is not None:
        raise FiguresDoNotAddUp(problem)
    wanted = (
        (accounts.bank, figures.net, f"{TEXT_PREFIX} {payout_id} net"),
        (accounts.fees, figures.fees, f"{TEXT_PREFIX} {payout_id} fees"),
        (accounts.clearing, -figures.gross, f"{TEXT_PREFIX} {payout_id} gross"),
    )
    rows = tuple(_row(account, amount, text[:60]) for account, amount, text in wanted if amount != 0)
    plan = VoucherPlan(payout_id, voucher_date, voucher_text(payout_id, voucher_date), rows, figures)
    assert plan.debits == plan.credits, "a payout whose figures add up always balances"
    return plan


def rows_key(rows: list[dict[str, Any]]) -> list[tuple[str, Decimal, Decimal]]:
    """A voucher's rows as comparable (account, debit, credit), whatever JSON numbers Visma served."""

    def dec(value: Any) -> Decimal:
        return Decimal(str(value or 0)).quantize(CENT)

    return sorted(
        (str(r.get("AccountNumber")), dec(r.get("DebitAmount")), dec(r.get("CreditAmount"))) for r in rows if r
    )


def plan_key(plan: VoucherPlan) -> list[tuple[str, Decimal, Decimal]]:
    return sorted((r.account, r.debit.quantize(CENT), r.credit.quantize(CENT)) for r in plan.rows)
