"""Booked invoices and their payments under SIGKILL (issue 13): the client is killed the instant
Visma commits a draft's conversion, the first payment or the n-th one; the reruns must leave
every order one booked invoice, no draft, and every Shopify payment registered exactly once."""

from __future__ import annotations

import signal
from decimal import Decimal
from typing import Any

import pytest
from faults.test_faults import Rig, assert_converged, matrix, rig  # noqa: F401  (rig is the fixture)

from support.sandboxes import paid

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")

ACCOUNTS = '\n[payments]\naccounts = { shopify_payments = "1580", paypal = "1940", "*" = "1930" }\n'


def _split_payments(r: Rig, orders: list[dict[str, Any]]) -> int:
    """Each order paid in two or three parts over several gateways; returns the payment count."""
    count = 0
    for i, o in enumerate(orders):
        total = Decimal(o["totalPriceSet"]["presentmentMoney"]["amount"])
        first = (total / 3).quantize(Decimal("0.01"))
        parts = [("shopify_payments", first), ("gift_card", total - first)]
        if i % 2:
            parts = [("paypal", first), ("shopify_payments", first), ("gift_card", total - 2 * first)]
        r.shop.set_transactions(o["id"], [{"gateway": g, "amount": str(a)} for g, a in parts])
        count += len(parts)
    return count


KILLS = [
    ("convert", "/v2/customerinvoicedrafts/", 1),
    ("convert", "/v2/customerinvoicedrafts/", 4),
    ("payment", "/v2/customerinvoices/", 1),
    ("payment", "/v2/customerinvoices/", 6),
]


@pytest.mark.slow
@pytest.mark.parametrize("what,prefix,nth", KILLS, ids=[f"{w}-{n}" for w, _, n in KILLS])
def test_sigkill_after_a_conversion_or_a_payment_commits(rig: Rig, what: str, prefix: str, nth: int) -> None:  # noqa: F811
    rig.set_workflow("invoice")
    rig.config.write_text(rig.config.read_text(encoding="utf-8") + ACCOUNTS, encoding="utf-8")
    orders = paid(6, seed=31)
    names = rig.add_orders(orders)
    expected = _split_payments(rig, orders)
    seen = rig.kill_on_commit("POST", prefix, nth)
    killed = rig.sync()
    assert killed.code == -signal.SIGKILL and seen["killed"] == 1, (killed.code, seen, killed.stderr)
    rig.visma.on_commit = None
    tally = assert_converged(rig, names)
    assert not rig.visma.drafts
    assert len(rig.visma.invoices) == len(orders)
    for inv in rig.visma.invoices.values():
        assert Decimal(str(inv["RemainingAmountInvoiceCurrency"])) == 0, inv["YourReference"]
    assert len(rig.visma.payments) == expected
    matrix(f"sigkill after {what} #{nth} commits", rig, faults=1, tally=tally)
