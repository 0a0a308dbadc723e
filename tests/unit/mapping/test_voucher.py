"""mapping/voucher.py: a payout's figures → one balanced voucher, property-tested."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shopvisma.mapping.voucher import (
    Accounts,
    FiguresDoNotAddUp,
    PayoutFigures,
    figures_problem,
    payout_id_in,
    plan_key,
    plan_voucher,
    rows_key,
    voucher_text,
)

ACCOUNTS = Accounts(bank="1930", clearing="1580", fees="6570")
DAY = date(2026, 1, 7)
cents = st.integers(min_value=-10_000_000, max_value=10_000_000).map(lambda c: Decimal(c) / 100)


def test_shopifys_documented_payout_books_as_three_rows() -> None:
    """Payout 623721858 of Shopify's REST docs: gross 43.11, fees 1.21, net 41.90."""
    plan = plan_voucher(
        "623721858", DAY, PayoutFigures(Decimal("43.11"), Decimal("1.21"), Decimal("41.90"), "SEK"), ACCOUNTS
    )
    assert [(r.account, r.debit, r.credit) for r in plan.rows] == [
        ("1930", Decimal("41.90"), Decimal("0.00")),
        ("6570", Decimal("1.21"), Decimal("0.00")),
        ("1580", Decimal("0.00"), Decimal("43.11")),
    ]
    body = plan.body()
    assert body["VoucherDate"] == "2026-01-07" and body["VoucherType"] == 2
    assert "Shopify payout 623721858" in body["VoucherText"]
    assert all(isinstance(r["AccountNumber"], int) for r in body["Rows"])
    assert all(len(r["TransactionText"]) <= 60 for r in body["Rows"])


def test_figures_that_do_not_add_up_are_refused_with_the_figures() -> None:
    """Payout 512467833 of the same page: 45.52 - 3.54 + 2.13 - 1.21 = 42.90, stated 43.12."""
    bad = PayoutFigures(Decimal("44.11"), Decimal("1.21"), Decimal("43.12"), "SEK")
    with pytest.raises(FiguresDoNotAddUp, match=r"44\.11 - fees 1\.21 = 42\.90, net 43\.12"):
        plan_voucher("512467833", DAY, bad, ACCOUNTS)


def test_withdrawal_credits_the_bank_and_debits_the_clearing_account() -> None:
    plan = plan_voucher(
        "9", DAY, PayoutFigures(Decimal("-529.00"), Decimal("-7.72"), Decimal("-521.28"), "SEK"), ACCOUNTS
    )
    by = {r.account: (r.debit, r.credit) for r in plan.rows}
    assert by["1930"] == (Decimal("0.00"), Decimal("521.28"))
    assert by["6570"] == (Decimal("0.00"), Decimal("7.72"))  # fees handed back
    assert by["1580"] == (Decimal("529.00"), Decimal("0.00"))


def test_zero_fees_leave_the_fee_row_out() -> None:
    plan = plan_voucher("1", DAY, PayoutFigures(Decimal("200"), Decimal("0"), Decimal("200"), "SEK"), ACCOUNTS)
    assert [r.account for r in plan.rows] == ["1930", "1580"]


def test_more_than_two_decimals_is_a_problem() -> None:
    assert "2 decimals" in (
        figures_problem(PayoutFigures(Decimal("1.005"), Decimal("0"), Decimal("1.005"), "SEK")) or ""
    )


def test_the_natural_key_never_matches_a_longer_id() -> None:
    assert payout_id_in(voucher_text("123", DAY)) == "123"
    assert payout_id_in("Shopify payout 1234 2026-01-07") == "1234"
    assert payout_id_in("shopify PAYOUT 77 (by hand)") == "77"
    assert payout_id_in("Leverantörsfaktura 12") is None


@given(gross=cents, fees=cents)
def test_every_payout_that_adds_up_balances_to_the_cent(gross: Decimal, fees: Decimal) -> None:
    net = gross - fees
    figures = PayoutFigures(gross, fees, net, "SEK")
    if gross == 0 and fees == 0:
        assert figures_problem(figures) is not None
        return
    plan = plan_voucher("42", DAY, figures, ACCOUNTS)
    assert plan.debits == plan.credits
    for row in plan.rows:
        assert row.debit >= 0 and row.credit >= 0 and (row.debit == 0) != (row.credit == 0)
        assert row.debit == row.debit.quantize(Decimal("0.01")) and row.credit == row.credit.quantize(Decimal("0.01"))
    signed = {r.account: r.debit - r.credit for r in plan.rows}
    assert signed.get("1930", Decimal(0)) == net
    assert signed.get("6570", Decimal(0)) == fees
    assert signed.get("1580", Decimal(0)) == -gross
    assert rows_key([r.body() for r in plan.rows]) == plan_key(plan)


@given(gross=cents, fees=cents, off=cents.filter(lambda d: d != 0))
def test_a_payout_that_does_not_add_up_is_never_planned(gross: Decimal, fees: Decimal, off: Decimal) -> None:
    with pytest.raises(FiguresDoNotAddUp):
        plan_voucher("42", DAY, PayoutFigures(gross, fees, gross - fees + off, "SEK"), ACCOUNTS)
