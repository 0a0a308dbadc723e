"""[shopify] write_back = true: each order is tagged in Shopify with where it went in Visma
(issue 13 item 4), once, without ever blocking or failing the transfer itself."""

from __future__ import annotations

import json
from typing import Any

import pytest

from support.sandboxes import paid

MUTATIONS = ("WriteBackTagsAdd", "WriteBackTagsRemove", "WriteBackMetafieldsSet")


def _config(world: Any, workflow: str = "invoice-draft", sync: str = "") -> None:
    # No bulk first import: bulkOperationRunQuery is a mutation too, and would take the faults.
    world.write_config(sync="bulk_first_import = false\n" + sync)
    text = world.config.read_text().replace("[shopify]\n", "[shopify]\nwrite_back = true\n", 1)
    world.set_config(text.replace('workflow = "invoice-draft"', f'workflow = "{workflow}"'))


def _mutations(world: Any, since: int = 0) -> list[dict[str, Any]]:
    return [r for r in world.shop.requests[since:] if r["operation"] in MUTATIONS]


def _tags(world: Any, gid: str) -> list[str]:
    return list(world.shop.orders[gid].get("tags") or [])


def _metafield(world: Any, gid: str) -> dict[str, Any] | None:
    found = [
        m
        for m in world.shop.orders[gid].get("metafields") or []
        if (m["namespace"], m["key"]) == ("shopvisma", "document")
    ]
    assert len(found) <= 1
    return json.loads(found[0]["value"]) if found else None


def _documents(world: Any) -> dict[str, dict[str, Any]]:
    docs = [*world.visma.drafts.values(), *world.visma.orders.values(), *world.visma.invoices.values()]
    return {d["YourReference"]: d for d in docs}


@pytest.mark.parametrize("workflow", ["invoice-draft", "invoice"])
def test_tag_and_metafield_set_once_per_order_and_a_second_sync_sends_nothing(world, workflow: str) -> None:
    _config(world, workflow)
    orders = paid(3, seed=31)
    orders[0]["tags"] = ["wholesale"]  # the shop's own tags stay
    for o in orders:
        world.shop.add_order(o)
    code, doc = world.sync_json()
    assert code == 0, doc
    docs = _documents(world)
    for o in orders:
        d = docs[o["name"]]
        if workflow == "invoice":
            number = str(d["InvoiceNumber"])
            assert f"visma-invoice-{number}" in _tags(world, o["id"])
            assert _metafield(world, o["id"]) == {"kind": "invoice", "id": d["Id"], "number": number}
        else:
            assert "visma-draft" in _tags(world, o["id"])
            assert _metafield(world, o["id"]) == {"kind": "draft", "id": d["Id"], "number": None}
    assert "wholesale" in _tags(world, orders[0]["id"])
    sent = _mutations(world)
    tagged = [r["variables"]["id"] for r in sent if r["operation"] == "WriteBackTagsAdd"]
    assert sorted(tagged) == sorted(o["id"] for o in orders)  # one tagsAdd per order
    assert [r["operation"] for r in sent].count("WriteBackMetafieldsSet") == 1  # 3 orders in one call
    assert not any(r["operation"] == "WriteBackTagsRemove" for r in sent)

    before = len(world.shop.requests)
    code, doc = world.sync_json()
    assert code == 0 and doc["requests"]["visma_writes"] == 0, doc
    assert _mutations(world, before) == []
    checkpoint = json.loads((world.state_dir / "checkpoint.json").read_text())
    assert "write_back" not in checkpoint


def test_a_failed_order_is_tagged_failed_and_the_tag_goes_once_it_is_through(world) -> None:
    _config(world)
    orders = paid(2, seed=32)
    orders[0]["email"] = None  # refused: no e-mail
    for o in orders:
        world.shop.add_order(o)
    stuck = orders[0]
    code, doc = world.sync_json()
    assert code == 1, doc
    assert "visma-failed" in _tags(world, stuck["id"]) and _metafield(world, stuck["id"]) is None
    assert "visma-draft" in _tags(world, orders[1]["id"])

    before = len(world.shop.requests)  # still failing: the tag is there, nothing is sent again
    assert world.sync_json()[0] == 1
    assert _mutations(world, before) == []

    world.shop.update_order(stuck["id"], email="fixed@example.com")
    before = len(world.shop.requests)
    code, doc = world.sync_json()
    assert code == 0, doc
    tags = _tags(world, stuck["id"])
    assert "visma-failed" not in tags and "visma-draft" in tags, tags
    assert _metafield(world, stuck["id"])["id"] == _documents(world)[stuck["name"]]["Id"]
    ops = sorted(r["operation"] for r in _mutations(world, before))
    assert ops == ["WriteBackMetafieldsSet", "WriteBackTagsAdd", "WriteBackTagsRemove"]
    before = len(world.shop.requests)
    assert world.sync_json()[0] == 0
    assert _mutations(world, before) == []


def test_a_failing_mutation_is_queued_retried_later_and_never_changes_the_exit_code(world) -> None:
    _config(world)
    orders = paid(2, seed=33)
    for o in orders:
        world.shop.add_order(o)
    world.shop.inject_fault("401", on="mutation")  # the first write-back request is refused
    code, doc = world.sync_json()
    assert code == 0, doc
    assert doc["counts"] == {"created": 2}
    assert len(world.visma.drafts) == 2
    checkpoint = json.loads((world.state_dir / "checkpoint.json").read_text())
    queued = checkpoint["write_back"]
    assert sorted(queued) == sorted(o["name"] for o in orders)  # the rest waited for a later pass
    assert all(e["attempts"] == 1 and "401" in e["error"] for e in queued.values()), queued
    status = world.cli("status", "--json")
    wb = json.loads(status.stdout)["write_back"]
    assert wb["queued"] == 2 and wb["oldest"][0]["error"]
    assert "not tagged in Shopify yet" in world.cli("status").output

    code, doc = world.sync_json()  # nothing to transfer: the queue is retried
    assert code == 0 and doc["requests"]["visma_writes"] == 0, doc
    for o in orders:
        assert "visma-draft" in _tags(world, o["id"])
        assert _metafield(world, o["id"]) is not None
    checkpoint = json.loads((world.state_dir / "checkpoint.json").read_text())
    assert "write_back" not in checkpoint
    assert json.loads(world.cli("status", "--json").stdout)["write_back"]["queued"] == 0
    before = len(world.shop.requests)
    assert world.sync_json()[0] == 0
    assert _mutations(world, before) == []


def test_shopify_unavailable_for_writes_is_queued_not_exit_69(world) -> None:
    _config(world, sync="max_wait_seconds = 0")
    order = paid(1, seed=34)[0]
    world.shop.add_order(order)
    world.shop.inject_fault("500", times=4, on="mutation")  # the transport's 3 retries, then the client gives up
    code, doc = world.sync_json()
    assert code == 0, doc
    assert len(world.visma.drafts) == 1
    queued = json.loads((world.state_dir / "checkpoint.json").read_text())["write_back"]
    assert list(queued) == [order["name"]] and "500" in queued[order["name"]]["error"]
    assert world.sync_json()[0] == 0
    assert "visma-draft" in _tags(world, order["id"])
    assert "write_back" not in json.loads((world.state_dir / "checkpoint.json").read_text())


def test_a_token_without_write_orders_warns_and_the_pass_still_exits_0(world, monkeypatch) -> None:
    from shopvisma.engine import sync_pass

    monkeypatch.setattr(sync_pass, "CHUNK", 1)  # three chunks: the first refusal stops the write-back for all
    _config(world)
    world.shop.scopes = frozenset({"read_orders", "read_customers", "read_products"})
    orders = paid(3, seed=35)
    for o in orders:
        world.shop.add_order(o)
    res = world.cli("sync")
    assert res.exit_code == 0, res.output
    assert "WARNING write-back: 3 order(s) not tagged in Shopify yet" in res.output
    assert len(world.visma.drafts) == 3
    assert all(not _tags(world, o["id"]) for o in orders)
    attempts = _mutations(world)
    assert len(attempts) == 1  # stopped at the first ACCESS_DENIED: one request per pass, not one per order
    queued = json.loads((world.state_dir / "checkpoint.json").read_text())["write_back"]
    assert len(queued) == 3 and all("write_orders" in e["error"] for e in queued.values())

    res = world.cli("sync")  # same error again: queued still, no new warning
    assert res.exit_code == 0 and "WARNING" not in res.output, res.output
    status = world.cli("status").output
    assert "write-back: 3 order(s) not tagged in Shopify yet" in status and "write_orders" in status

    world.shop.scopes = frozenset({"read_orders", "write_orders", "read_customers", "read_products"})
    assert world.sync_json()[0] == 0
    assert all("visma-draft" in _tags(world, o["id"]) for o in orders)
    assert "write_back" not in json.loads((world.state_dir / "checkpoint.json").read_text())


def test_an_order_whose_payment_is_pending_is_tagged_as_booked_once_though_each_pass_rechecks_it(world) -> None:
    """[payments] with an unmapped gateway: the invoice is booked, the payment pending; every
    pass looks the order up again in Visma, and still writes nothing more to Shopify."""
    _config(world, "invoice")
    world.set_config(world.config.read_text() + '\n[payments]\naccounts = { paypal = "1940" }\n')
    order = paid(1, seed=36)[0]
    world.shop.add_order(order)
    world.shop.set_transactions(order["id"], [{"gateway": "shopify_payments"}])
    code, doc = world.sync_json()
    assert code == 1, doc  # the payment is pending (exit 1 from the Visma side), not the write-back
    (invoice,) = world.visma.invoices.values()
    tag = f"visma-invoice-{invoice['InvoiceNumber']}"
    assert tag in _tags(world, order["id"]) and "visma-failed" not in _tags(world, order["id"])
    assert _metafield(world, order["id"])["kind"] == "invoice"
    before = len(world.shop.requests)
    assert world.sync_json()[0] == 1
    assert _mutations(world, before) == []


def test_the_queue_is_bounded_like_the_other_history_maps() -> None:
    from datetime import UTC, datetime, timedelta

    from shopvisma.state.checkpoint import RECENT_MAX, Checkpoint, prune
    from shopvisma.timefmt import iso_z

    now = datetime(2026, 3, 1, tzinfo=UTC)
    cp = Checkpoint(write_back={f"#{i}": {"first_seen": iso_z(now - timedelta(minutes=i))} for i in range(600)})
    cp.write_back["#old"] = {"first_seen": iso_z(now - timedelta(days=31))}
    prune(cp, now)
    assert cp.write_back is not None and len(cp.write_back) == RECENT_MAX
    assert "#old" not in cp.write_back and "#0" in cp.write_back and "#599" not in cp.write_back
    cp.write_back = {"#old": {"first_seen": iso_z(now - timedelta(days=31))}}
    prune(cp, now)
    assert cp.write_back is None


def test_user_errors_are_queued_per_order_and_the_others_are_written(world) -> None:
    """An order gone from Shopify (deleted after it was read): tagsAdd and metafieldsSet answer
    userErrors for it; the other order of the batch is written all the same."""
    _config(world)
    orders = paid(2, seed=38)
    for o in orders:
        world.shop.add_order(o)
    assert len(orders) == 2
    gone = orders[0]

    def delete_in_shopify(method: str, path: str, body: dict) -> None:
        if method == "POST" and body.get("YourReference") == gone["name"]:
            world.shop.orders.pop(gone["id"], None)

    world.visma.on_commit = delete_in_shopify
    res = world.cli("sync")
    world.visma.on_commit = None
    assert res.exit_code == 0, res.output
    assert "WARNING write-back: 1 order(s) not tagged in Shopify yet" in res.output
    assert "visma-draft" in _tags(world, orders[1]["id"]) and _metafield(world, orders[1]["id"]) is not None
    queued = json.loads((world.state_dir / "checkpoint.json").read_text())["write_back"]
    assert list(queued) == [gone["name"]] and "does not exist" in queued[gone["name"]]["error"]

    res = world.cli("sync")  # retried (the same error): still queued, no second warning
    assert res.exit_code == 0 and "WARNING" not in res.output, res.output
    queued = json.loads((world.state_dir / "checkpoint.json").read_text())["write_back"]
    assert queued[gone["name"]]["attempts"] == 2
