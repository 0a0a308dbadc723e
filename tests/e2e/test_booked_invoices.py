"""workflow = "invoice": one booked customer invoice per order, no draft left behind, exactly once."""

from __future__ import annotations

from support.sandboxes import paid


def _invoice_world(world) -> None:
    world.write_config()
    world.set_config(world.config.read_text().replace('workflow = "invoice-draft"', 'workflow = "invoice"'))


def test_each_order_is_one_booked_invoice_and_no_draft_is_left(world) -> None:
    _invoice_world(world)
    orders = paid(4, seed=11)
    for o in orders:
        world.shop.add_order(o)
    code, doc = world.sync_json()
    assert code == 0, doc
    assert not world.visma.drafts
    refs = sorted(i["YourReference"] for i in world.visma.invoices.values())
    assert refs == sorted(o["name"] for o in orders)
    assert all(o["kind"] == "invoice" for o in doc["orders"]), doc["orders"]
    code, doc = world.sync_json()
    assert doc["requests"]["visma_writes"] == 0
    (world.state_dir / "checkpoint.json").unlink()
    code, doc = world.sync_json()
    assert code == 0 and doc["requests"]["visma_writes"] == 0, doc
    assert len(world.visma.invoices) == 4 and not world.visma.drafts


def test_a_draft_left_by_a_crash_before_the_convert_is_booked_not_created_again(world) -> None:
    _invoice_world(world)
    order = paid(1, seed=12)[0]
    world.shop.add_order(order)

    def fail_the_convert(method: str, path: str, body: dict) -> None:
        if method == "POST" and path.rstrip("/").endswith("customerinvoicedrafts") and body.get("Id"):
            world.visma.inject_fault("POST", f"customerinvoicedrafts/{body['Id']}/convert", "500", times=10)

    world.visma.on_commit = fail_the_convert
    code, doc = world.sync_json()
    world.visma.on_commit = None
    drafts_after_first = len(world.visma.drafts)
    assert drafts_after_first == 1 and not world.visma.invoices, doc
    world.visma._faults.clear()
    code, doc = world.sync_json()
    assert code == 0, doc
    assert not world.visma.drafts and len(world.visma.invoices) == 1
    assert drafts_after_first <= 1


def test_order_status_sets_the_status_of_new_sales_orders(world) -> None:
    world.write_config()
    text = world.config.read_text().replace(
        'workflow = "invoice-draft"', 'workflow = "order"\norder_status = "ongoing"'
    )
    world.set_config(text)
    for o in paid(2, seed=13):
        world.shop.add_order(o)
    code, doc = world.sync_json()
    assert code == 0, doc
    assert [o["Status"] for o in world.visma.orders.values()] == [2, 2]
