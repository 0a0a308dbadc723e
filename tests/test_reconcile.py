"""`shopvisma reconcile` finds a planted missing, duplicated and mismatched document."""

from __future__ import annotations

import copy
import json

from shopvisma.sandbox.seed import generate_orders


def test_reconcile_finds_missing_duplicate_and_mismatch(world) -> None:
    orders = [o for o in generate_orders(40, seed=21)
              if o["displayFinancialStatus"] == "PAID" and not o.get("cancelledAt") and not o.get("test")][:5]
    for o in orders:
        world.shop.add_order(o)
    assert world.sync_json()[0] == 0
    res = world.cli("reconcile", "--from", "2026-01-01", "--to", "2026-12-31", "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["ok"] is True

    drafts = {d["YourReference"]: d for d in world.visma.drafts.values()}
    missing, duplicate, mismatch = (o["name"] for o in orders[:3])
    del world.visma.drafts[drafts[missing]["Id"]]
    twin = copy.deepcopy(drafts[duplicate])
    twin["Id"] = "00000000-0000-4000-8000-000000000001"
    world.visma.drafts[twin["Id"]] = twin
    world.visma.drafts[drafts[mismatch]["Id"]]["TotalAmount"] += 10

    res = world.cli("reconcile", "--from", "2026-01-01", "--to", "2026-12-31", "--json")
    assert res.exit_code == 1
    found = {(f["order"], f["problem"]) for f in json.loads(res.stdout)["findings"]}
    assert found == {(missing, "missing"), (duplicate, "duplicate"), (mismatch, "total-mismatch")}
    human = world.cli("reconcile", "--from", "2026-01-01", "--to", "2026-12-31")
    assert missing in human.stderr and "duplicate" in human.stderr
