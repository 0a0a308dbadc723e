"""[sync] concurrency: orders of a chunk in flight side by side, with everything that makes a
pass exactly once still true (one customer per e-mail, one article per SKU, one document per
order), and the same result as one request at a time."""

from __future__ import annotations

from collections import Counter

import pytest

from support.sandboxes import paid


def _orders_sharing_customers_and_skus(n: int) -> list[dict]:
    orders = paid(n, seed=51)
    emails = ["anna@example.com", "bo@example.com", "cilla@example.com"]
    for i, o in enumerate(orders):
        o["email"] = emails[i % len(emails)]
        if o.get("customer"):
            o["customer"]["email"] = o["email"]
    return orders


@pytest.mark.parametrize("concurrency", [1, 6])
def test_orders_in_flight_side_by_side_stay_exactly_once(world, concurrency: int) -> None:
    world.write_config()
    world.set_config(world.config.read_text() + f"\n[sync]\nconcurrency = {concurrency}\n")
    world.visma.latency = 0.02  # a round trip long enough for the orders to overlap
    orders = _orders_sharing_customers_and_skus(24)
    for o in orders:
        world.shop.add_order(o)
    code, doc = world.sync_json()
    assert code == 0, doc
    refs = Counter(d["YourReference"] for d in world.visma.drafts.values())
    assert sorted(refs) == sorted(o["name"] for o in orders) and set(refs.values()) == {1}
    emails = Counter(c["EmailAddress"].lower() for c in world.visma.customers.values())
    assert len(emails) == 3 and set(emails.values()) == {1}, emails
    numbers = Counter(a["Number"].lower() for a in world.visma.articles.values())
    assert set(numbers.values()) == {1}, numbers
    if concurrency > 1:
        assert world.visma.max_inflight > 1
    else:
        assert world.visma.max_inflight == 1
    assert world.sync_json()[1]["requests"]["visma_writes"] == 0


def test_concurrency_is_checked(world) -> None:
    world.write_config()
    world.set_config(world.config.read_text() + "\n[sync]\nconcurrency = 0\n")
    res = world.cli("sync", "--json")
    assert res.exit_code == 78 and "sync.concurrency" in res.output
