"""The payment planner: what is on the invoice already is decided from its remaining amount alone."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from shopvisma.mapping.payments import order_payments, plan_payments
from shopvisma.shopify.order import Transaction

BANKS = [
    {"Id": "b-1930", "LedgerAccountNumber": 1930, "Name": "Bank", "IsActive": True},
    {"Id": "b-1580", "LedgerAccountNumber": 1580, "Name": "Clearing", "IsActive": True},
]
ACCOUNTS = {"shopify_payments": "1580", "*": "1930"}


def _tx(i: int, amount: str, gateway: str = "shopify_payments", **kw: object) -> Transaction:
    return Transaction(
        f"gid://shopify/OrderTransaction/{i}",
        str(kw.pop("kind", "SALE")),
        str(kw.pop("status", "SUCCESS")),
        gateway,
        Decimal(amount),
        "SEK",
        datetime(2026, 3, 1, 10, i, tzinfo=UTC),
        **kw,
    )  # type: ignore[arg-type]


def _invoice(total: Decimal, remaining: Decimal) -> dict[str, object]:
    return {"CurrencyCode": "SEK", "TotalAmountInvoiceCurrency": total, "RemainingAmountInvoiceCurrency": remaining}


@given(st.lists(st.integers(min_value=1, max_value=50_000), min_size=1, max_size=5), st.data())
def test_registering_the_plan_leaves_nothing_to_do(cents: list[int], data: st.DataObject) -> None:
    txs = [_tx(i, f"{c / 100:.2f}") for i, c in enumerate(cents)]
    pays = order_payments(txs, date(2026, 3, 2))
    total = sum((p.amount for p in pays), Decimal(0))
    k = data.draw(st.integers(min_value=0, max_value=len(pays)))  # a crash after k payments
    remaining = total - sum((p.amount for p in pays[:k]), Decimal(0))
    plan = plan_payments(
        pays, invoice=_invoice(total, remaining), accounts=ACCOUNTS, bank_accounts=BANKS, company_currency="SEK"
    )
    assert not plan.pending and len(plan.steps) == len(pays) - k
    assert plan.paid == total
    again = plan_payments(
        pays, invoice=_invoice(total, Decimal(0)), accounts=ACCOUNTS, bank_accounts=BANKS, company_currency="SEK"
    )
    assert not again.steps and not again.pending


def test_failed_test_and_authorizations_are_not_payments_and_unmapped_gateway_is_named() -> None:
    txs = [
        _tx(1, "10.00", status="FAILURE"),
        _tx(2, "10.00", kind="AUTHORIZATION"),
        _tx(3, "10.00", test=True),
        _tx(4, "10.00", kind="CAPTURE"),
    ]
    pays = order_payments(txs, date(2026, 3, 2))
    assert [p.transaction_id[-1] for p in pays] == ["4"]
    plan = plan_payments(
        pays,
        invoice=_invoice(Decimal("10.00"), Decimal("10.00")),
        accounts={"paypal": "1930"},
        bank_accounts=BANKS,
        company_currency="SEK",
    )
    assert not plan.steps and plan.field == "payments.accounts.shopify_payments"


def test_an_amount_above_what_is_unpaid_is_not_posted() -> None:
    pays = order_payments([_tx(1, "80.00"), _tx(2, "30.00")], date(2026, 3, 2))
    plan = plan_payments(
        pays,
        invoice=_invoice(Decimal("100.00"), Decimal("100.00")),
        accounts=ACCOUNTS,
        bank_accounts=BANKS,
        company_currency="SEK",
    )
    assert len(plan.steps) == 1 and "still unpaid" in plan.pending
