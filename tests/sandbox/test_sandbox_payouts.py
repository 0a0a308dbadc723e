"""The emulators' payout side: Shopify Payments payouts and balance transactions (every reading
of shared/reference/shopify-payouts-notes.md), and Visma's fiscal years, accounts and vouchers
with the validation the 2026 OpenAPI states."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from shopvisma.sandbox.seed.orders import demo_orders
from shopvisma.sandbox.seed.payouts import documented_payout, seed_payouts
from shopvisma.shopify.payouts import PAYOUT_TRANSACTIONS_QUERY, PAYOUTS_QUERY
from support.sandboxes import paid, shopify_data, shopify_post, unthrottled_shop

GROSS_NET = "query { shopifyPaymentsAccount { payouts(first: 5) { nodes { legacyResourceId gross { amount } net { amount } } } } }"


def _payouts(sb: Any, query: str | None = None) -> list[dict[str, Any]]:
    body = shopify_data(sb, PAYOUTS_QUERY, {"first": 100, "query": query})
    return body["data"]["shopifyPaymentsAccount"]["payouts"]["nodes"]


def _transactions(sb: Any, query: str) -> list[dict[str, Any]]:
    body = shopify_data(sb, PAYOUT_TRANSACTIONS_QUERY, {"first": 100, "query": query})
    return body["data"]["shopifyPaymentsAccount"]["balanceTransactions"]["nodes"]


def _sum(items: list[dict[str, Any]]) -> Decimal:
    return sum((Decimal(m["amount"]) for m in items), Decimal(0))


# --------------------------------------------------------------------------- Shopify
def test_seeded_payouts_add_up_and_cover_a_few_weeks() -> None:
    orders = paid(200, seed=2)
    with unthrottled_shop(orders) as sb:
        seed_payouts(sb.payouts, orders)
        nodes = _payouts(sb, "issued_at:>='2026-01-01T00:00:00Z'")
        days = {n["issuedAt"][:10] for n in nodes}
        assert len(days) >= 14, days
        assert [n["status"] for n in nodes][-2:] == ["IN_TRANSIT", "SCHEDULED"]
        for n in nodes:
            s = n["summary"]
            gross = _sum([v for k, v in s.items() if k.endswith("Gross")])
            fees = _sum([v for k, v in s.items() if k.endswith(("Fee", "Fees"))])
            net = Decimal(n["net"]["amount"]) * (-1 if n["transactionType"] == "WITHDRAWAL" else 1)
            assert gross - fees == net, n["legacyResourceId"]
            txs = _transactions(sb, f"payments_transfer_id:{n['legacyResourceId']}")
            money = [t for t in txs if t["type"] != "TRANSFER"]
            assert _sum([t["amount"] for t in money]) == gross
            assert {t["associatedPayout"]["id"] for t in txs} == {n["id"]}
            transfer = next(t for t in txs if t["type"] == "TRANSFER")
            assert Decimal(transfer["amount"]["amount"]) == -net  # money out of the balance is negative


def test_deprecated_gross_is_the_net_as_on_shopify() -> None:
    with unthrottled_shop([]) as sb:
        sb.payouts.add(*documented_payout())
        node = shopify_data(sb, GROSS_NET)["data"]["shopifyPaymentsAccount"]["payouts"]["nodes"][0]
        assert node["gross"] == node["net"] == {"amount": "41.90"}


def test_payout_search_terms() -> None:
    orders = demo_orders()
    with unthrottled_shop(orders) as sb:
        seed_payouts(sb.payouts, orders)
        every = _payouts(sb)
        assert len(every) == 5  # one before go-live
        assert len(_payouts(sb, "issued_at:>='2026-01-01T00:00:00Z'")) == 4
        assert {n["status"] for n in _payouts(sb, "status:paid")} == {"PAID"}
        one = every[2]["legacyResourceId"]
        assert [n["legacyResourceId"] for n in _payouts(sb, f"id:{one}")] == [one]


@pytest.mark.parametrize(
    ("reading", "numeric", "gid"),
    [(None, True, True), ("transfer-id-gid", False, True), ("transfer-filter-ignored", True, True)],
)
def test_payments_transfer_id_readings(reading: str | None, numeric: bool, gid: bool) -> None:
    with unthrottled_shop([]) as sb:
        sb.payouts.add(*documented_payout())
        sb.payouts.add(*documented_payout(512467833, issued="2026-01-13T04:00:00Z"))
        if reading:
            sb.payouts.read(reading)
        by_id = _transactions(sb, "payments_transfer_id:623721858")
        by_gid = _transactions(sb, "payments_transfer_id:gid://shopify/ShopifyPaymentsPayout/623721858")
        assert bool(by_id) == numeric and bool(by_gid) == gid
        if reading == "transfer-filter-ignored":
            assert len({t["associatedPayout"]["id"] for t in by_id}) == 2  # the filter did nothing
        else:
            assert all(t["associatedPayout"]["id"].endswith("/623721858") for t in by_id + by_gid)


def test_access_readings_answer_like_shopify() -> None:
    with unthrottled_shop([]) as sb:
        sb.payouts.add(*documented_payout())
        sb.payouts.read("summary-access-denied")
        body = shopify_post(sb, PAYOUTS_QUERY, {"first": 5}).json()
        assert body["errors"][0]["extensions"]["code"] == "ACCESS_DENIED"
        assert "read_shopify_payments" in body["errors"][0]["message"]
        sb.payouts.readings.clear()
        sb.payouts.read("payouts-access-denied")
        body = shopify_post(sb, PAYOUTS_QUERY, {"first": 5}).json()
        assert "read_shopify_payments_payouts" in body["errors"][0]["message"]
        sb.payouts.readings.clear()
        sb.payouts.read("no-payments-account")
        assert shopify_data(sb, PAYOUTS_QUERY, {"first": 5})["data"]["shopifyPaymentsAccount"] is None
        with pytest.raises(ValueError, match="unknown payout reading"):
            sb.payouts.read("summary-denied")


def test_payout_pages_are_charged_like_connections() -> None:
    with unthrottled_shop([]) as sb:
        sb.payouts.add(*documented_payout())
        cost = shopify_data(sb, PAYOUTS_QUERY, {"first": 100})["extensions"]["cost"]
        assert cost["requestedQueryCost"] == 1 + 2 + 100 * 2  # account, connection, payout + summary
        assert cost["actualQueryCost"] == 1 + 2 + 2


# --------------------------------------------------------------------------- Visma
def _voucher(*rows: tuple[Any, Any, Any], day: str = "2026-01-07", text: str = "Shopify payout 1") -> dict[str, Any]:
    return {
        "VoucherDate": day,
        "VoucherText": text,
        "Rows": [{"AccountNumber": a, "DebitAmount": d, "CreditAmount": c} for a, d, c in rows],
    }


BALANCED = ((1930, 41.90, 0), (6570, 1.21, 0), (1580, 0, 43.11))


def test_a_balanced_voucher_is_numbered_and_listed(api: Any) -> None:
    r = api.post("/vouchers", _voucher(*BALANCED))
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["NumberAndNumberSeries"] == "A1" and made["VoucherDate"] == "2026-01-07T00:00:00"
    assert made["Rows"][0]["AccountDescription"].startswith("Företagskonto")
    listed = api.get("/vouchers", **{"$filter": "VoucherDate ge 2026-01-02 and VoucherDate le 2026-01-12"}).json()
    assert [v["Id"] for v in listed["Data"]] == [made["Id"]]
    none = api.get("/vouchers", **{"$filter": "VoucherDate ge 2026-02-01"}).json()
    assert none["Data"] == []
    year = next(y for y in api.get("/fiscalyears").json()["Data"] if y["StartDate"].startswith("2026"))
    assert api.get(f"/vouchers/{year['Id']}/{made['Id']}").json()["Id"] == made["Id"]
    assert api.get(f"/accounts/{year['Id']}/1930").json()["Number"] == "1930"
    assert api.get(f"/accounts/{year['Id']}/1931").status_code == 404


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        (_voucher((1930, 41.90, 0), (1580, 0, 43.11)), 2000, "Rows"),  # not balanced
        (_voucher(("1930", 1, 0), (1580, 0, 1)), 2000, "Rows[0].AccountNumber"),  # a string, as AccountApi.Number
        (_voucher((1930, 1.005, 0), (1580, 0, 1.005)), 2000, "Rows[0].DebitAmount"),  # 3 decimals
        (_voucher((1930, -1, 0), (1580, 0, -1)), 2000, "Rows[0].DebitAmount"),  # negative
        (_voucher((1930, 1, 1), (1580, 0, 0)), 2000, "Rows[0].DebitAmount"),  # both sides
        (_voucher((1930, 1, 0), (1580, 0, 1), text=""), 2000, "VoucherText"),
        (_voucher((1930, 1, 0), (1580, 0, 1), text="x" * 1001), 2000, "VoucherText"),
        ({"VoucherText": "x", "Rows": []}, 2000, "Rows"),
        (_voucher((1930, 1, 0), (1589, 0, 1)), 3002, None),  # not in the chart
        (_voucher((1930, 1, 0), (1580, 0, 1), day="2024-06-01"), 3001, None),  # no fiscal year
        (_voucher((1930, 1, 0), (1580, 0, 1), day="2025-06-01"), 2000, "VoucherDate"),  # locked year
    ],
)
def test_voucher_refusals(api: Any, body: dict[str, Any], code: int, field: str | None) -> None:
    r = api.post("/vouchers", body)
    assert r.status_code == 400, r.text
    env = r.json()
    assert env["ErrorCode"] == code, env
    if field:
        assert field in [e["Field"] for e in env["Errors"]], env
    assert api.sb.ledger.vouchers == {}


def test_transaction_text_is_at_most_60(api: Any) -> None:
    body = _voucher(*BALANCED)
    body["Rows"][0]["TransactionText"] = "t" * 61
    assert api.post("/vouchers", body).json()["Errors"][0]["Field"] == "Rows[0].TransactionText"


def test_a_readonly_grant_reads_vouchers_but_cannot_post(sandbox: Any) -> None:
    import requests

    rt = sandbox.issue_refresh_token()
    sandbox._identity._refresh[rt] = "ea:api offline_access ea:sales ea:accounting_readonly"
    tok = requests.post(
        f"{sandbox.identity_url}/connect/token",
        auth=("sandbox-client", "sandbox-secret"),
        data={"grant_type": "refresh_token", "refresh_token": rt},
        timeout=5,
    ).json()
    assert "ea:accounting" not in tok["scope"].split()
    h = {"Authorization": "Bearer " + tok["access_token"]}
    assert requests.get(sandbox.api_url + "/vouchers", headers=h, timeout=5).status_code == 200
    r = requests.post(sandbox.api_url + "/vouchers", json=_voucher(*BALANCED), headers=h, timeout=5)
    assert r.status_code == 403 and r.json()["ErrorCode"] == 4006


def test_filter_whitelist_refuses_voucher_date(api: Any) -> None:
    api.sb.quirks.add("filter-whitelist")
    r = api.get("/vouchers", **{"$filter": "VoucherDate ge 2026-01-01"})
    assert r.status_code == 400 and r.json()["ErrorCode"] == 2000
    assert api.get("/vouchers").status_code == 200
