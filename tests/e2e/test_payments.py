"""[payments]: every successful Shopify payment registered once on the order's booked invoice."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import pytest

from support.sandboxes import paid

ACCOUNTS = '\n[payments]\naccounts = { shopify_payments = "1580", paypal = "1940", "*" = "1930" }\n'


def _paid_world(world, accounts: str = ACCOUNTS) -> None:
    world.write_config()
    text = world.config.read_text().replace('workflow = "invoice-draft"', 'workflow = "invoice"')
    world.set_config(text + accounts)


def _successful(order: dict) -> Decimal:
    return sum(
        (
            Decimal(t["amountSet"]["presentmentMoney"]["amount"])
            for t in order.get("transactions", [])
            if t["kind"] in ("SALE", "CAPTURE") and t["status"] == "SUCCESS" and not t.get("test")
        ),
        Decimal(0),
    )


def test_payments_are_registered_once_in_the_mapped_bank_account(world) -> None:
    _paid_world(world)
    orders = paid(8, seed=21)
    for o in orders:
        world.shop.add_order(o)
    code, doc = world.sync_json()
    assert code == 0, doc
    assert not world.visma.drafts
    invoices = {i["YourReference"]: i for i in world.visma.invoices.values()}
    assert sorted(invoices) == sorted(o["name"] for o in orders)
    for o in orders:
        inv = invoices[o["name"]]
        paid_amount = Decimal(str(inv["TotalAmountInvoiceCurrency"])) - Decimal(
            str(inv["RemainingAmountInvoiceCurrency"])
        )
        assert paid_amount == _successful(o), o["name"]
    by_account = Counter(p["CompanyBankAccountId"] for p in world.visma.payments)
    assert sum(by_account.values()) == doc["counts"]["payments"]
    writes = len(world.visma.payments)
    code, doc = world.sync_json()
    assert code == 0 and doc["requests"]["visma_writes"] == 0, doc
    (world.state_dir / "checkpoint.json").unlink()
    code, doc = world.sync_json()
    assert code == 0 and doc["requests"]["visma_writes"] == 0, doc
    assert len(world.visma.payments) == writes


def test_an_unmapped_gateway_leaves_the_payment_pending_and_named(world) -> None:
    _paid_world(world, '\n[payments]\naccounts = { paypal = "1940" }\n')
    order = paid(1, seed=22)[0]
    world.shop.add_order(order)
    world.shop.set_transactions(order["id"], [{"gateway": "shopify_payments"}])
    code, doc = world.sync_json()
    assert code == 1, doc
    assert len(world.visma.invoices) == 1 and not world.visma.payments
    (outcome,) = doc["orders"]
    assert outcome["kind"] == "invoice" and "no bank account is mapped" in outcome["payment_pending"]
    assert outcome["field"].startswith("payments.accounts.")
    res = world.cli("status")
    assert order["name"] in res.output and "1 payment(s) pending" in res.output
    world.set_config(world.config.read_text().replace('accounts = { paypal = "1940" }', 'accounts = { "*" = "1930" }'))
    code, doc = world.sync_json()
    assert code == 0, doc
    assert len(world.visma.payments) >= 1 and len(world.visma.invoices) == 1
    inv = next(iter(world.visma.invoices.values()))
    assert Decimal(str(inv["RemainingAmountInvoiceCurrency"])) == 0


def test_dry_run_shows_every_payment_it_would_register(world) -> None:
    _paid_world(world)
    order = paid(1, seed=23)[0]
    world.shop.add_order(order)
    res = world.cli("dry-run", "--json")
    import json

    doc = json.loads(res.stdout)
    assert res.exit_code == 0, doc
    (outcome,) = doc["orders"]
    assert outcome["kind"] == "invoice"
    shown = sum(Decimal(p["amount"]) for p in outcome["payments"])
    assert shown == _successful(order)
    assert all(p["bank_account"] and p["currency"] for p in outcome["payments"])
    assert not world.visma.invoices and not world.visma.payments


def _remaining(inv: dict) -> Decimal:
    return Decimal(str(inv["RemainingAmountInvoiceCurrency"]))


def _paid_then_refunded(world, *, seed: int) -> dict:
    """One order paid in full through Shopify Payments, synced, then refunded one item and synced."""
    from shopvisma.sandbox.seed.orders import make_refund

    _paid_world(world)
    order = paid(1, seed=seed)[0]
    world.shop.add_order(order)
    world.shop.set_transactions(order["id"], [{"gateway": "shopify_payments"}])
    assert world.sync_json()[0] == 0
    stored = world.shop.orders[order["id"]]
    world.shop.add_refund(order["id"], make_refund(stored, {stored["lineItems"][0]["id"]: 1}))
    code, doc = world.sync_json()
    assert code == 0, doc
    return order


def test_a_refund_becomes_a_booked_credit_with_the_paid_back_amount_registered(world) -> None:
    order = _paid_then_refunded(world, seed=24)
    assert not world.visma.drafts
    credits = [i for i in world.visma.invoices.values() if i["YourReference"] == f"{order['name']} refund 1"]
    assert len(credits) == 1 and credits[0]["IsCreditInvoice"] is True
    (original,) = [i for i in world.visma.invoices.values() if i["YourReference"] == order["name"]]
    assert str(original["InvoiceNumber"]) in credits[0].get("OurReference", "")
    assert _remaining(credits[0]) == 0 and _remaining(original) == 0
    refunds = [p for p in world.visma.payments if p["InvoiceId"] == credits[0]["Id"]]
    assert len(refunds) == 1
    assert world.sync_json()[1]["requests"]["visma_writes"] == 0
    (world.state_dir / "checkpoint.json").unlink()
    code, doc = world.sync_json()
    assert code == 0 and doc["requests"]["visma_writes"] == 0, doc
    assert len(world.visma.invoices) == 2 and len(world.visma.payments) == 2


def test_a_second_payment_captured_later_is_registered_on_the_next_pass(world) -> None:
    _paid_world(world)
    order = paid(1, seed=25)[0]
    world.shop.add_order(order)
    total = Decimal(order["totalPriceSet"]["presentmentMoney"]["amount"])
    half = (total / 2).quantize(Decimal("0.01"))
    world.shop.set_transactions(order["id"], [{"gateway": "shopify_payments", "amount": str(half)}])
    code, doc = world.sync_json()
    assert code == 0, doc
    (inv,) = world.visma.invoices.values()
    assert _remaining(inv) == total - half
    world.shop.set_transactions(
        order["id"],
        [
            {"gateway": "shopify_payments", "amount": str(half)},
            {"gateway": "gift_card", "amount": str(total - half)},
        ],
    )
    code, doc = world.sync_json()
    assert code == 0, doc
    assert _remaining(next(iter(world.visma.invoices.values()))) == 0
    assert len(world.visma.payments) == 2
    assert world.sync_json()[1]["requests"]["visma_writes"] == 0


def test_credit_payments_positive_reading_is_followed(world) -> None:
    world.visma.quirks.add("credit-payment-positive")
    _paid_then_refunded(world, seed=26)
    credit = next(i for i in world.visma.invoices.values() if i["IsCreditInvoice"])
    assert _remaining(credit) == 0
    assert world.sync_json()[1]["requests"]["visma_writes"] == 0


def test_reconcile_reports_an_unpaid_invoice_against_shopifys_payments(world) -> None:
    import json

    _paid_world(world, '\n[payments]\naccounts = { shopify_payments = "1580" }\n')
    orders = paid(3, seed=27)
    for o in orders:
        world.shop.add_order(o)
    world.shop.set_transactions(orders[0]["id"], [{"gateway": "shopify_payments"}])
    world.shop.set_transactions(orders[1]["id"], [{"gateway": "shopify_payments"}])
    world.shop.set_transactions(orders[2]["id"], [{"gateway": "paypal"}])
    code, doc = world.sync_json()
    assert code == 1, doc  # the PayPal payment has no account: pending
    res = world.cli("reconcile", "--from", "2026-01-01", "--to", "2026-12-31", "--json")
    report = json.loads(res.stdout)
    problems = {f["order"]: f["problem"] for f in report["findings"]}
    assert problems == {orders[2]["name"]: "unpaid"}, report
    assert report["matched"] == 2


def test_a_mixed_corpus_ends_booked_and_paid_exactly_once(world) -> None:
    """The issue's corpus: several gateways, split and partial payments, gift cards, foreign
    currency, refunds; every order one booked invoice, no draft, paid = Shopify's payments."""
    from shopvisma.sandbox.seed.orders import generate_orders, make_refund

    world.write_config()
    text = world.config.read_text().replace('workflow = "invoice-draft"', 'workflow = "invoice"')
    text = text.replace(
        'financial_status = ["paid", "partially_refunded"]',
        'financial_status = ["paid", "partially_paid", "partially_refunded"]',
    )
    world.set_config(text + ACCOUNTS)
    chosen = [
        o
        for o in generate_orders(300, seed=28, partially_paid=0.5)
        if o["displayFinancialStatus"] in ("PAID", "PARTIALLY_PAID") and not o.get("cancelledAt") and not o.get("test")
    ]
    special = [o for o in chosen if o["displayFinancialStatus"] != "PAID" or o["presentmentCurrencyCode"] != "SEK"]
    corpus = [o for o in chosen if o not in special][:20] + special
    for o in corpus:
        world.shop.add_order(o)
    gateways = {t["gateway"] for o in corpus for t in o.get("transactions", [])}
    assert {"shopify_payments", "gift_card"} <= gateways and len(gateways) >= 3, gateways
    assert any(o["presentmentCurrencyCode"] != o["currencyCode"] for o in corpus)
    assert any(o["displayFinancialStatus"] == "PARTIALLY_PAID" for o in corpus)
    code, doc = world.sync_json()
    assert code == 0, [o for o in doc["orders"] if o.get("payment_pending") or o["status"] == "failed"]
    for o in corpus[:6]:  # refunds of paid orders, after the transfer
        stored = world.shop.orders[o["id"]]
        if stored["displayFinancialStatus"] == "PAID":
            world.shop.add_refund(o["id"], make_refund(stored, {stored["lineItems"][0]["id"]: 1}))
    code, doc = world.sync_json()
    assert code == 0, [o for o in doc["orders"] if o.get("payment_pending") or o["status"] == "failed"]
    assert not world.visma.drafts
    by_ref: dict[str, list[dict]] = {}
    for inv in world.visma.invoices.values():
        by_ref.setdefault(inv["YourReference"], []).append(inv)
    assert all(len(v) == 1 for v in by_ref.values())
    missing = [(o["name"], o["displayFinancialStatus"], o["createdAt"]) for o in corpus if o["name"] not in by_ref]
    assert not missing, (missing, doc["counts"])
    for o in corpus:
        stored = world.shop.orders[o["id"]]
        (inv,) = by_ref[o["name"]]
        paid_amount = Decimal(str(inv["TotalAmountInvoiceCurrency"])) - _remaining(inv)
        assert paid_amount == _successful(stored), o["name"]
    payments = len(world.visma.payments)
    assert world.sync_json()[1]["requests"]["visma_writes"] == 0
    (world.state_dir / "checkpoint.json").unlink()
    code, doc = world.sync_json()
    assert code == 0 and doc["requests"]["visma_writes"] == 0, doc
    assert len(world.visma.payments) == payments


@pytest.mark.parametrize("kind", ["timeout-after-commit", "500-after-commit", "500"])
def test_a_payment_whose_answer_is_lost_is_never_registered_twice(world, kind: str) -> None:
    """The payment is saved but its answer lost (or refused): the invoice is read again and the
    plan starts from what it says is unpaid, in the same pass or the next."""
    _paid_world(world)
    order = paid(1, seed=29)[0]
    world.shop.add_order(order)
    total = Decimal(order["totalPriceSet"]["presentmentMoney"]["amount"])
    half = (total / 2).quantize(Decimal("0.01"))
    world.shop.set_transactions(
        order["id"],
        [{"gateway": "shopify_payments", "amount": str(half)}, {"gateway": "gift_card", "amount": str(total - half)}],
    )

    def lose_the_first_payment(method: str, path: str, body: dict) -> None:
        if method == "POST" and path.endswith("/convert") and body.get("Id"):
            world.visma.inject_fault("POST", f"/v2/customerinvoices/{body['Id']}/payments", kind, times=1)

    world.visma.on_commit = lose_the_first_payment
    code, doc = world.sync_json()
    world.visma.on_commit = None
    code, doc = world.sync_json()
    assert code == 0, doc
    (inv,) = world.visma.invoices.values()
    assert _remaining(inv) == 0
    assert len(world.visma.payments) == 2
    assert world.sync_json()[1]["requests"]["visma_writes"] == 0
