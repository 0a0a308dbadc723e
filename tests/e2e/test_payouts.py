"""[payouts] end to end through the CLI (issue #14): every PAID Shopify Payments payout after
go-live booked once as one balanced voucher, the others not booked and named."""

from __future__ import annotations

import json
from collections import Counter
from decimal import Decimal
from typing import Any

import pytest

from shopvisma.mapping.voucher import payout_id_in
from shopvisma.sandbox.seed.payouts import documented_payout, seed_payouts
from support.sandboxes import paid

PAYOUTS = 'bank_account = "1930"\nclearing_account = "1580"\nfees_account = "6570"'
GO_LIVE = "2026-01-01"


def _setup(world: Any, n: int = 120, seed: int = 7) -> list[dict[str, Any]]:
    """Payouts of `n` paid orders (about n × 1.5 hours of trade), the config with [payouts]."""
    world.write_config(payouts=PAYOUTS)
    return seed_payouts(world.shop.payouts, paid(n, seed=seed))


def _vouchers(world: Any) -> Counter[str]:
    return Counter(payout_id_in(v["VoucherText"]) for v in world.visma.ledger.vouchers.values())


def _signed(voucher: dict[str, Any]) -> dict[int, Decimal]:
    out: dict[int, Decimal] = {}
    for r in voucher["Rows"]:
        out[r["AccountNumber"]] = (
            out.get(r["AccountNumber"], Decimal(0)) + Decimal(str(r["DebitAmount"])) - Decimal(str(r["CreditAmount"]))
        )
    return out


def _expected(payout: dict[str, Any]) -> dict[int, Decimal]:
    s = payout["summary"]
    gross = sum((Decimal(v["amount"]) for k, v in s.items() if k.endswith("Gross")), Decimal(0))
    fees = sum((Decimal(v["amount"]) for k, v in s.items() if k.endswith(("Fee", "Fees"))), Decimal(0))
    net = Decimal(payout["net"]["amount"]) * (-1 if payout["transactionType"] == "WITHDRAWAL" else 1)
    assert gross - fees == net
    return {a: v for a, v in ((1930, net), (6570, fees), (1580, -gross)) if v != 0}


def _assert_booked_once(world: Any, payouts: list[dict[str, Any]]) -> None:
    by_id = {p["legacyResourceId"]: p for p in payouts}
    booked = _vouchers(world)
    wanted = {k for k, p in by_id.items() if p["status"] == "PAID" and p["issuedAt"] >= GO_LIVE}
    assert set(booked) == wanted, set(booked) ^ wanted
    assert all(n == 1 for n in booked.values()), booked
    for v in world.visma.ledger.vouchers.values():
        p = by_id[payout_id_in(v["VoucherText"]) or ""]
        assert v["VoucherDate"][:10] == p["issuedAt"][:10]
        signed = _signed(v)
        assert sum(signed.values()) == 0  # balanced to the cent
        assert signed == _expected(p), p["legacyResourceId"]


def test_every_paid_payout_after_go_live_is_booked_once_and_balanced(world: Any) -> None:
    payouts = _setup(world)
    assert len({p["issuedAt"][:10] for p in payouts}) >= 7  # a week and more of payouts
    code, doc = world.sync_json()
    assert code == 0, doc
    _assert_booked_once(world, payouts)
    statuses = {p["payout"]: p["status"] for p in doc["payouts"]}
    assert sorted(s for s in statuses.values() if s != "booked") == ["waiting", "waiting"]
    before = next(p for p in payouts if p["issuedAt"] < GO_LIVE)["legacyResourceId"]
    assert before not in statuses  # before go-live: not even looked at
    # the last payout booked and the waiting ones, in status
    status = json.loads(world.cli("status", "--json").stdout)["payouts"]
    newest = max((p for p in payouts if p["status"] == "PAID"), key=lambda p: p["issuedAt"])
    assert status["last_booked"]["payout"] == newest["legacyResourceId"]
    assert len(status["waiting"]) == 2 and status["pending"] == []

    writes = world.visma.writes()
    code, doc = world.sync_json()
    assert code == 0 and doc["requests"]["visma_writes"] == 0 and doc["requests"]["visma"] == 0
    (world.state_dir / "checkpoint.json").unlink()
    code, doc = world.sync_json()
    assert code == 0 and doc["requests"]["visma_writes"] == 0, doc
    assert world.visma.writes() == writes
    assert {p["status"] for p in doc["payouts"]} == {"exists", "waiting"}
    _assert_booked_once(world, payouts)


def test_a_payout_paid_later_is_booked_then(world: Any) -> None:
    payouts = _setup(world, 40)
    assert world.sync_json()[0] == 0
    in_transit = next(p for p in payouts if p["status"] == "IN_TRANSIT")
    world.shop.payouts.set_status(in_transit["id"], "PAID")
    code, doc = world.sync_json()
    assert code == 0
    assert [p["status"] for p in doc["payouts"] if p["payout"] == in_transit["legacyResourceId"]] == ["booked"]
    in_transit["status"] = "PAID"
    _assert_booked_once(world, payouts)


def test_figures_that_do_not_add_up_post_nothing_and_name_the_payout(world: Any) -> None:
    world.write_config(payouts=PAYOUTS)
    world.shop.payouts.add(*documented_payout(623721858))
    world.shop.payouts.add(*documented_payout(512467833, issued="2026-01-13T04:00:00Z"))
    code, doc = world.sync_json()
    assert code == 1
    bad = next(p for p in doc["payouts"] if p["payout"] == "512467833")
    assert bad["status"] == "pending" and "45.52" not in bad["reason"]
    assert "gross 44.11 - fees 1.21 = 42.90, net 43.12" in bad["reason"]
    assert set(_vouchers(world)) == {"623721858"}
    res = world.cli("status")
    assert "payout 512467833" in res.output and "do not add up" in res.output


def test_a_payout_in_another_currency_is_pending_and_named(world: Any) -> None:
    world.write_config(payouts=PAYOUTS)
    world.shop.payouts.add(*documented_payout(623721858, currency="EUR"))
    code, doc = world.sync_json()
    assert code == 1 and world.visma.ledger.vouchers == {}
    (p,) = doc["payouts"]
    assert p["status"] == "pending" and "EUR" in p["reason"] and "SEK" in p["reason"]


def test_a_missing_account_is_named_before_any_post(world: Any) -> None:
    _setup(world, 20)
    world.visma.ledger.remove_account("6570")
    code, doc = world.sync_json()
    assert code == 1 and world.visma.ledger.vouchers == {}
    pending = [p for p in doc["payouts"] if p["status"] == "pending"]
    assert pending and all("account 6570 does not exist" in p["reason"] for p in pending)
    assert not any(m == "POST" and p.startswith("/v2/vouchers") for m, p, _ in world.visma.requests)


def test_dry_run_shows_each_voucher_row_by_row_and_writes_nothing(world: Any) -> None:
    payouts = _setup(world, 20)
    res = world.cli("dry-run")
    assert res.exit_code == 0, res.output
    paid_ids = [p["legacyResourceId"] for p in payouts if p["status"] == "PAID" and p["issuedAt"] >= GO_LIVE]
    for pid in paid_ids:
        assert f"would book payout {pid}" in res.output
    assert "debit" in res.output and '"AccountNumber": 1930' in res.output
    assert world.visma.writes() == 0 and not (world.state_dir / "checkpoint.json").exists()
    doc = json.loads(world.cli("dry-run", "--json").stdout)
    would = [p for p in doc["payouts"] if p["status"] == "would-book"]
    assert [p["payout"] for p in would] == paid_ids
    assert would[0]["body"]["Rows"][0]["AccountNumber"] == 1930


def test_replay_takes_a_payout_id(world: Any) -> None:
    payouts = _setup(world, 20)
    pid = next(p["legacyResourceId"] for p in payouts if p["status"] == "PAID" and p["issuedAt"] >= GO_LIVE)
    res = world.cli("replay", "--payout", pid, "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert [(p["payout"], p["status"]) for p in doc["payouts"]] == [(pid, "booked")]
    assert set(_vouchers(world)) == {pid}
    again = json.loads(world.cli("replay", "--payout", pid, "--json").stdout)
    assert [p["status"] for p in again["payouts"]] == ["exists"] and again["requests"]["visma_writes"] == 0
    assert world.cli("replay", "--payout", "999").exit_code == 1


def test_reconcile_finds_a_missing_a_duplicated_and_a_wrong_voucher(world: Any) -> None:
    payouts = _setup(world, 60)
    assert world.sync_json()[0] == 0
    ledger = world.visma.ledger
    by_id = {payout_id_in(v["VoucherText"]): v for v in ledger.vouchers.values()}
    missing, dup, wrong = sorted(by_id)[:3]
    del ledger.vouchers[by_id[missing]["Id"]]
    ledger.plant(by_id[dup], world.visma.clock())
    bad = json.loads(json.dumps(by_id[wrong], default=str))
    bad["Rows"][0]["DebitAmount"] = float(bad["Rows"][0]["DebitAmount"]) + 1
    bad["Rows"][-1]["CreditAmount"] = float(bad["Rows"][-1]["CreditAmount"]) + 1
    del ledger.vouchers[by_id[wrong]["Id"]]
    ledger.plant(bad, world.visma.clock())
    res = world.cli("reconcile", "--from", "2026-01-01", "--to", "2026-03-31", "--json")
    assert res.exit_code == 1, res.output
    doc = json.loads(res.stdout)
    found = {(f["order"], f["problem"]) for f in doc["findings"]}
    assert found == {
        (f"payout {missing}", "missing"),
        (f"payout {dup}", "duplicate"),
        (f"payout {wrong}", "amount-mismatch"),
    }, found
    assert doc["payouts"] == sum(1 for p in payouts if p["issuedAt"] >= GO_LIVE and p["status"] == "PAID")
    human = world.cli("reconcile", "--from", "2026-01-01", "--to", "2026-03-31")
    assert f"payout {wrong}" in human.output


@pytest.mark.parametrize(
    "reading",
    [
        "summary-access-denied",
        "transfer-id-gid",
        "transfer-filter-ignored",
        "withdrawal-net-signed",
        "transfer-positive",
    ],
)
def test_every_shopify_reading_books_the_same_vouchers(world: Any, reading: str) -> None:
    payouts = _setup(world, 60)
    world.shop.payouts.read(reading)
    if reading == "summary-access-denied":
        world.shop.payouts.read("transfer-id-gid")  # and the transactions only by gid
    code, doc = world.sync_json()
    assert code == 0, doc
    _assert_booked_once(world, payouts)


@pytest.mark.parametrize("quirks", [["filter-whitelist"], ["page-cap-50", "create-200"]])
def test_visma_readings_book_the_same_vouchers(world: Any, quirks: list[str]) -> None:
    payouts = _setup(world, 60)
    world.visma.quirks = quirks
    assert world.sync_json()[0] == 0
    (world.state_dir / "checkpoint.json").unlink()
    code, doc = world.sync_json()
    assert code == 0 and doc["requests"]["visma_writes"] == 0
    _assert_booked_once(world, payouts)


def test_a_grant_without_ea_accounting_stops_with_77_before_anything_is_written(world: Any) -> None:
    for o in paid(3, seed=9):
        world.shop.add_order(o)
    _setup(world, 20)
    rt = world.visma.issue_refresh_token()
    world.visma._identity._refresh[rt] = "ea:api offline_access ea:sales ea:accounting_readonly"
    env = {**world.env, "SHOPVISMA_VISMA_REFRESH_TOKEN": rt}
    from typer.testing import CliRunner

    from shopvisma.cli import app

    for _ in range(2):  # the first pass learns the grant's scope from its token refresh, before any write
        res = CliRunner().invoke(app, ["sync"], env=env)
        assert res.exit_code == 77, res.output
        assert "ea:accounting" in res.output and "login visma" in res.output and "nothing was written" in res.output
        assert world.visma.writes() == 0 and world.visma.ledger.vouchers == {} and not world.visma.drafts


def test_shopify_without_the_payouts_scope_stops_with_77_naming_it(world: Any) -> None:
    for o in paid(3, seed=9):
        world.shop.add_order(o)
    _setup(world, 20)
    world.shop.payouts.read("payouts-access-denied")
    res = world.cli("sync")
    assert res.exit_code == 77
    assert "read_shopify_payments_payouts" in res.output and "shopvisma login shopify" in res.output
    assert world.visma.writes() == 0


def test_a_shop_without_shopify_payments_names_it_and_still_syncs_orders(world: Any) -> None:
    for o in paid(2, seed=9):
        world.shop.add_order(o)
    world.write_config(payouts=PAYOUTS)
    world.shop.payouts.read("no-payments-account")
    code, doc = world.sync_json()
    assert code == 1 and doc["counts"].get("created") == 2
    assert "no Shopify Payments account" in doc["payouts"][0]["reason"]


def test_login_visma_asks_for_ea_accounting_with_payouts(world: Any) -> None:
    from urllib.parse import parse_qs, urlsplit

    world.write_config(payouts=PAYOUTS)
    res = world.cli("login", "visma", "--no-browser", input="\n")
    url = next(line for line in res.output.splitlines() if "connect/authorize" in line).strip()
    scopes = parse_qs(urlsplit(url).query)["scope"][0].split()
    assert "ea:accounting" in scopes and "ea:accounting_readonly" not in scopes
    world.write_config()
    res = world.cli("login", "visma", "--no-browser", input="\n")
    url = next(line for line in res.output.splitlines() if "connect/authorize" in line).strip()
    assert "ea:accounting_readonly" in parse_qs(urlsplit(url).query)["scope"][0].split()


def test_requests_per_payout(world: Any) -> None:
    """The measured cost, quoted in docs/payouts.md: a first pass, then an idle one."""
    payouts = _setup(world, 120)
    n = sum(1 for p in payouts if p["status"] == "PAID" and p["issuedAt"] >= GO_LIVE)
    code, first = world.sync_json()
    assert code == 0
    visma = Counter((m, p.split("/")[2]) for m, p, _ in world.visma.requests if p.startswith("/v2/"))
    assert visma[("POST", "vouchers")] == n
    assert visma[("GET", "vouchers")] == 1 and visma[("GET", "fiscalyears")] == 1
    assert visma[("GET", "accounts")] == 3 and visma[("GET", "companysettings")] == 1
    shopify = Counter(r["operation"] for r in world.shop.requests)
    assert shopify["Payouts"] == 1 and shopify["PayoutTransactions"] == 0  # one page, the summary read
    code, idle = world.sync_json()
    assert idle["requests"] == {"shopify": 2, "visma": 0, "visma_writes": 0}  # orders + payouts: 1 each
    world.shop.payouts.read("summary-access-denied")
    (world.state_dir / "checkpoint.json").unlink()
    world.visma.ledger.vouchers.clear()
    world.shop.requests.clear()
    assert world.sync_json()[0] == 0
    denied = Counter(r["operation"] for r in world.shop.requests)
    assert denied["PayoutTransactions"] == n  # one page of transactions per payout booked
    print(
        f"PAYOUT-REQUESTS payouts={n} first={first['requests']} visma={dict(visma)} "
        f"shopify={dict(shopify)} idle={idle['requests']} summary-denied={dict(denied)}"
    )


def test_doctor_checks_the_payout_grant_and_books(world: Any) -> None:
    world.write_config(payouts=PAYOUTS)
    world.visma.ledger.remove_account("6570")
    res = world.cli("doctor", "--json")
    rows = {r["key"]: r for r in json.loads(res.stdout)["observations"]}
    assert rows["payouts:scope"]["observed"] in ("granted", "not stored (the first voucher POST will show it)")
    assert "account 6570 does not exist" in rows["payouts:books"]["observed"]
    assert world.visma.writes() == 0
