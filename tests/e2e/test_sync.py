"""The sync engine end to end against both emulators, through the CLI (issue #3)."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

from shopvisma.sandbox.seed.catalogue import Product
from shopvisma.sandbox.seed.orders import build_order
from support.paths import ROOT
from support.sandboxes import exactly_once, no_secret_in, paid


def _snapshot(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_sync_creates_one_draft_per_order_and_second_pass_writes_nothing(world) -> None:
    for o in paid(12):
        world.shop.add_order(o)
    code, doc = world.sync_json()
    assert code == 0, doc
    assert doc["counts"].get("created") == 12
    assert len(world.visma.drafts) == 12
    refs = sorted(d["YourReference"] for d in world.visma.drafts.values())
    assert len(set(refs)) == 12
    emails = [c["EmailAddress"].strip().lower() for c in world.visma.customers.values()]
    assert len(emails) == len(set(emails)), "two customers for one e-mail"
    numbers = [a["Number"].lower() for a in world.visma.articles.values()]
    assert len(numbers) == len(set(numbers)), "two articles for one SKU"

    writes = world.visma.writes()
    code, doc = world.sync_json()
    assert code == 0
    assert world.visma.writes() == writes, "a second sync wrote to Visma"
    assert doc["requests"]["visma_writes"] == 0


def test_lost_checkpoint_creates_no_duplicate(world) -> None:
    for o in paid(6, seed=3):
        world.shop.add_order(o)
    assert world.sync_json()[0] == 0
    counts = (len(world.visma.drafts), len(world.visma.customers), len(world.visma.articles))
    (world.state_dir / "checkpoint.json").unlink()
    code, doc = world.sync_json()
    assert code == 0
    assert doc["counts"].get("exists") == 6
    assert (len(world.visma.drafts), len(world.visma.customers), len(world.visma.articles)) == counts


def test_approved_draft_is_not_recreated(world) -> None:
    for o in paid(3, seed=4):
        world.shop.add_order(o)
    assert world.sync_json()[0] == 0
    first = next(iter(world.visma.drafts))
    world.visma.approve_draft(first)
    (world.state_dir / "checkpoint.json").unlink()
    code, doc = world.sync_json()
    assert code == 0
    assert len(world.visma.drafts) == 2 and len(world.visma.invoices) == 1


def test_dry_run_writes_nothing_anywhere(world) -> None:
    for o in paid(5, seed=5):
        world.shop.add_order(o)
    world.sync_json("--limit", "2")
    for o in paid(3, seed=6):
        world.shop.add_order(o)
    before = _snapshot(world.state_dir)
    writes = world.visma.writes()
    res = world.cli("dry-run", "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["counts"].get("would-create", 0) >= 3
    body = next(o["body"] for o in doc["orders"] if o["status"] == "would-create")
    assert body
    assert world.visma.writes() == writes
    assert _snapshot(world.state_dir) == before


def test_order_workflow_creates_sales_orders(world) -> None:
    world.write_config()
    text = world.config.read_text().replace('workflow = "invoice-draft"', 'workflow = "order"')
    world.set_config(text)
    for o in paid(3, seed=7):
        world.shop.add_order(o)
    code, doc = world.sync_json()
    assert code == 0, doc
    assert len(world.visma.orders) == 3 and not world.visma.drafts
    assert all(o["Status"] == 1 for o in world.visma.orders.values())
    code, doc = world.sync_json()
    assert doc["requests"]["visma_writes"] == 0


def _order_with(n: int, product: Product, template: dict[str, Any], **over: Any) -> dict[str, Any]:
    o = build_order(
        n,
        created=datetime(2026, 2, 1, 10, 0, tzinfo=timezone.utc),
        lines=[{"product": product, "qty": 1, "line_pct": Decimal(0)}],
        customer=template["customer"],
        email=over.pop("email", template["email"]),
        address=template["billingAddress"],
    )
    o.update(over)
    return o


def test_bad_orders_are_named_pending_and_the_good_ones_go_through(world: Any) -> None:
    """Bad input is named (JSON and human status), stays pending, and blocks nothing else;
    the next pass retries only the bad ones, and one fixed in Shopify goes through."""
    good = paid(3, seed=27)
    t = good[0]
    mug = Product("MUG-UTF", "Mugg", Decimal("189.00"), Decimal("0.25"))
    emoji_name = {
        "displayName": "Åsa Öberg 🎉",
        "firstName": "Åsa",
        "lastName": "Öberg 🎉",
        "id": "gid://shopify/Customer/999001",
    }
    addr = {**t["billingAddress"], "name": "Åsa Öberg 🎉", "firstName": "Åsa", "lastName": "Öberg 🎉", "city": "Malmö"}
    bad = {
        "no e-mail": _order_with(501, mug, t, email=None),
        "empty sku": _order_with(502, Product("", "Tom", Decimal("10.00"), Decimal("0.25")), t),
        "41-char sku": _order_with(503, Product("S" * 41, "Lång", Decimal("10.00"), Decimal("0.25")), t),
        "8 % VAT": _order_with(504, Product("BOOK-8", "Bok", Decimal("108.00"), Decimal("0.08")), t),
    }
    fine = {
        "40-char sku": _order_with(505, Product("K" * 40, "Kort nog", Decimal("10.00"), Decimal("0.25")), t),
        "51-char title": _order_with(506, Product("LONG-TITLE", "T" * 51, Decimal("10.00"), Decimal("0.25")), t),
        "emoji åäö": _order_with(
            507,
            Product("MUG-ÅÄÖ", "Kaffemugg 🌟 åäö", Decimal("99.00"), Decimal("0.25")),
            {**t, "customer": emoji_name, "billingAddress": addr, "email": "asa.oberg@example.se"},
        ),
    }
    fine["emoji åäö"]["shippingAddress"] = addr
    for o in [*good, *bad.values(), *fine.values()]:
        world.shop.add_order(o)
    res = world.cli("sync", "--json")
    assert res.exit_code == 1, res.output
    doc = json.loads(res.stdout)
    failed = {o["name"]: o for o in doc["orders"] if o["status"] == "failed"}
    assert set(failed) == {o["name"] for o in bad.values()}, failed
    reason = {k: failed[o["name"]]["reason"] for k, o in bad.items()}
    assert "e-mail" in reason["no e-mail"]
    assert "SKU" in reason["empty sku"]
    assert "40-character" in reason["41-char sku"]
    assert "8" in reason["8 % VAT"], reason["8 % VAT"]
    for o in bad.values():  # named on stderr too, in human mode
        assert o["name"] in world.cli("status").stderr + world.cli("status").stdout
    status = json.loads(world.cli("status", "--json").stdout)
    assert {p["order"] for p in status["pending"]} == {o["name"] for o in bad.values()}
    exactly_once(world.visma, [o["name"] for o in [*good, *fine.values()]])
    for art in world.visma.articles.values():
        assert len(art["Name"].encode("utf-16-le")) // 2 <= 50
    asa = next(c for c in world.visma.customers.values() if c["EmailAddress"] == "asa.oberg@example.se")
    assert asa["Name"] == "Åsa Öberg 🎉" and asa["InvoiceCity"] == "Malmö"
    assert any(a["Number"] == "MUG-ÅÄÖ" for a in world.visma.articles.values())
    # the next pass retries exactly the bad ones and writes nothing else
    writes = world.visma.writes()
    res = world.cli("sync", "--json")
    assert res.exit_code == 1 and world.visma.writes() == writes
    no_secret_in([res.stdout, res.stderr], world.visma.client_secret, world.shop.access_token)
    # fixed in Shopify: the next pass picks the order up again, by name
    t_fixed = bad["no e-mail"]
    world.shop.update_order(t_fixed["id"], email="fixed@example.com")
    code, doc = world.sync_json()
    assert t_fixed["name"] in {o["name"] for o in doc["orders"] if o["status"] == "created"}


def test_lock_held_exits_75(world) -> None:
    from shopvisma.state.lock import RunLock

    with RunLock(world.state_dir):
        res = world.cli("sync")
    assert res.exit_code == 75


def test_missing_visma_grant_exits_77(world, monkeypatch) -> None:
    monkeypatch.delenv("SHOPVISMA_VISMA_REFRESH_TOKEN")
    env = dict(world.env)
    env.pop("SHOPVISMA_VISMA_REFRESH_TOKEN")
    world.env = env
    world.shop.add_order(paid(1)[0])
    res = world.cli("sync")
    assert res.exit_code == 77
    assert "shopvisma login visma" in res.stderr


def test_status_without_network(world) -> None:
    world.shop.add_order(paid(1)[0])
    world.sync_json()
    res = world.cli("status", "--json")
    assert res.exit_code == 0
    doc = json.loads(res.stdout)
    assert doc["last_run"]["exit_code"] == 0
    assert doc["visma_grant"]["present"] is True
    assert doc["lock"]["held"] is False


def test_refund_after_transfer_becomes_one_credit_draft(world) -> None:
    from shopvisma.sandbox.seed.orders import make_refund

    order = paid(1, seed=9)[0]
    world.shop.add_order(order)
    assert world.sync_json()[0] == 0
    stored = world.shop.orders[order["id"]]
    world.shop.add_refund(order["id"], make_refund(stored, {stored["lineItems"][0]["id"]: 1}))
    code, doc = world.sync_json()
    assert code == 0, doc
    credits = [d for d in world.visma.drafts.values() if d["YourReference"] == f"{order['name']} refund 1"]
    assert len(credits) == 1 and credits[0]["IsCreditInvoice"] is True
    refunded = world.shop.orders[order["id"]]["totalRefundedSet"]["presentmentMoney"]["amount"]
    assert abs(float(credits[0]["TotalAmount"])) == float(refunded)
    # again, and with the checkpoint lost: still one credit
    assert world.sync_json()[1]["requests"]["visma_writes"] == 0
    (world.state_dir / "checkpoint.json").unlink()
    world.sync_json()
    assert sum(d["YourReference"].endswith("refund 1") for d in world.visma.drafts.values()) == 1


def test_cancelled_before_transfer_is_never_transferred(world) -> None:
    order = paid(1, seed=10)[0]
    order["cancelledAt"] = order["updatedAt"]
    world.shop.add_order(order)
    code, doc = world.sync_json()
    assert code == 0 and not world.visma.drafts


def test_edit_after_transfer_is_reported_not_reposted(world) -> None:
    order = paid(1, seed=11)[0]
    world.shop.add_order(order)
    world.sync_json()
    bag = world.shop.orders[order["id"]]["totalPriceSet"]
    bigger = {side: {**money, "amount": str(float(money["amount"]) + 100)} for side, money in bag.items()}
    world.shop.update_order(order["id"], totalPriceSet=bigger)
    code, doc = world.sync_json()
    assert code == 0 and len(world.visma.drafts) == 1
    assert [o["status"] for o in doc["orders"]] == ["edited"]
    status = json.loads(world.cli("status", "--json").stdout)
    assert order["name"] in {e["order"] for e in status["attention"]}


def test_status_json_is_the_documented_schema(world) -> None:
    import re

    world.shop.add_order(paid(1, seed=12)[0])
    world.sync_json()
    doc = json.loads(world.cli("status", "--json").stdout)
    text = (ROOT / "docs" / "json-output.md").read_text()
    section = text.split("## `shopvisma status --json`")[1].split("\n## ")[0]
    documented = set(re.findall(r"^\| `(\w+)` \|", section, re.M))
    assert set(doc) == documented - {"payouts", "payments", "write_back"}  # only with those tables/keys


def test_quiet_cron_output(world) -> None:
    orders = paid(2, seed=13)
    orders[0]["email"] = None
    for o in orders:
        world.shop.add_order(o)
    res = world.cli("sync", "-q")
    assert res.exit_code == 1
    assert res.stdout == ""
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and orders[0]["name"] in lines[0]
    ok = world.cli("sync", "-q")  # the failed order fails again; a clean shop would be silent
    assert ok.stdout == ""


def test_where_visma_refuses_a_filter_the_pass_matches_on_the_full_list(world) -> None:
    """Which properties Visma lets `$filter` on is undocumented: a 400 on a filtered list
    falls back to listing everything and matching locally, still exactly once."""
    for o in paid(5, seed=14):
        world.shop.add_order(o)
    assert world.sync_json()[0] == 0
    counts = (len(world.visma.drafts), len(world.visma.customers), len(world.visma.articles))
    (world.state_dir / "checkpoint.json").unlink()
    for path in ("/v2/customerinvoicedrafts", "/v2/customerinvoices", "/v2/customers", "/v2/articles"):
        world.visma.inject_fault("GET", path, "400")
    more = paid(4, seed=15)
    for i, o in enumerate(more):  # each seed numbers its orders from #1001: make them new ones
        o["name"], o["id"] = f"#9{i:03d}", f"gid://shopify/Order/9{i:03d}"
        world.shop.add_order(o)
    code, doc = world.sync_json()
    assert code == 0, doc
    assert doc["counts"].get("exists") == 5 and doc["counts"].get("created") == 4
    assert len(world.visma.drafts) == counts[0] + 4
    numbers = [a["Number"].lower() for a in world.visma.articles.values()]
    assert len(numbers) == len(set(numbers))
    keys = [(c["EmailAddress"].lower(), c.get("CurrencyCode")) for c in world.visma.customers.values()]
    assert len(keys) == len(set(keys))


def test_replay_one_order_now(world) -> None:
    orders = paid(2, seed=16)
    orders[0]["email"] = None
    for o in orders:
        world.shop.add_order(o)
    assert world.sync_json()[0] == 1
    name = orders[0]["name"]
    world.shop.update_order(orders[0]["id"], email="late@example.com")
    dry = world.cli("replay", name, "--dry-run", "--json")
    assert dry.exit_code == 0 and json.loads(dry.stdout)["counts"] == {"would-create": 1}
    assert len(world.visma.drafts) == 1
    res = world.cli("replay", name.lstrip("#"), "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["counts"] == {"created": 1} and len(world.visma.drafts) == 2
    again = world.cli("replay", name, "--json")
    assert json.loads(again.stdout)["counts"] == {"exists": 1} and len(world.visma.drafts) == 2
    assert world.cli("replay", "#424242").exit_code == 1


def test_outcomes_stream_out_and_only_failures_are_kept(world) -> None:
    """A backlog pass must not hold every outcome (issue #7, flat memory): the --json
    "orders" list is spooled as orders settle, human lines print as they settle, and the
    pass keeps only failed/edited outcomes; the document is still one complete JSON value."""
    from shopvisma.commands.sync import run_sync
    from shopvisma.config.settings import load_settings

    orders = paid(7, seed=4)
    orders[2]["email"] = None  # one order that fails (no e-mail)
    for o in orders:
        world.shop.add_order(o)
    seen: list[Any] = []
    result = run_sync(load_settings(world.config), dry_run=True, sink=seen.append)
    assert len(seen) == 7
    assert result.counts == {"would-create": 6, "failed": 1}
    assert [o.status for o in result.outcomes] == ["failed"]

    code, doc = world.sync_json()
    assert code == 1
    assert doc["counts"] == {"created": 6, "failed": 1}
    assert sorted(o["status"] for o in doc["orders"]) == ["created"] * 6 + ["failed"]
    assert list(doc)[-1] == "orders"
    code, doc = world.sync_json()
    assert doc["orders"] == [o for o in doc["orders"] if o["status"] == "failed"]

    res = world.cli("sync", "-v")
    assert "FAILED" in res.stderr and "sync: 1 failed" in res.stderr
