"""The re-read window after a burst (issue 15 item 3), end to end through `sync --json`.

An idle pass re-reads only what the last pass can have missed: orders updated within
`[sync] search_lag_seconds` before it started (Shopify's search index lags writes), and
the bookmark's own order, so right after a 300-order pass it costs one Shopify request.
The Shopify sandbox's clock here runs a little behind the real one, so its `updatedAt`
stamps are in the past of the product's own clock (as Shopify's are), and moving it on
is how a late update becomes visible.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from typing import Any

import pytest

from support.sandboxes import exactly_once, paid

BURST = 300


class Behind:
    """A sandbox clock `offset` seconds behind the real one; `catch_up(s)` moves it on."""

    def __init__(self, offset: float) -> None:
        self.offset = offset

    def __call__(self) -> float:
        return time.time() - self.offset

    def catch_up(self, seconds: float) -> None:
        assert seconds <= self.offset, "the sandbox must not run ahead of the product's clock"
        self.offset -= seconds


def _stamp(t: float) -> str:
    return datetime.fromtimestamp(int(t), tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _behind(world: Any, offset: float) -> Behind:
    clock = Behind(offset)
    world.shop.clock = clock
    return clock


def _fresh(orders: list[dict[str, Any]], at: list[float]) -> list[dict[str, Any]]:
    """The seeded orders as if placed (and last updated) at the given instants."""
    for o, t in zip(orders, at, strict=True):
        o.update(createdAt=_stamp(t), processedAt=_stamp(t), updatedAt=_stamp(t))
    return orders


def _sync(world: Any) -> dict[str, Any]:
    code, doc = world.sync_json()
    assert code == 0, doc
    return doc


def _checkpoint(world: Any) -> dict[str, Any]:
    return json.loads((world.state_dir / "checkpoint.json").read_text(encoding="utf-8"))


def test_idle_pass_after_a_300_order_burst_is_one_shopify_request(world: Any) -> None:
    """300 orders in the ten minutes before a pass (the old fixed 10-minute overlap re-read
    them all: 11 requests on every pass for ten minutes); the next pass re-reads one."""
    now = time.time()
    for o in _fresh(paid(BURST, seed=15), [now - 700 + 2 * i for i in range(BURST)]):  # the last 100 s ago
        world.shop.add_order(o)
    first = _sync(world)
    assert first["counts"].get("created") == BURST, first["counts"]
    assert _checkpoint(world)["searched_at"]

    for _ in range(2):  # and stays one request, pass after pass
        writes = world.visma.writes()
        before = len(world.shop.requests)
        idle = _sync(world)
        assert idle["requests"]["shopify"] == 1, idle["requests"]
        assert len(world.shop.requests) - before == 1
        assert idle["requests"]["visma"] == 0 and idle["requests"]["visma_writes"] == 0, idle["requests"]
        assert world.visma.writes() == writes
        assert idle["counts"].get("created", 0) == 0
    exactly_once(world.visma, [o["name"] for o in world.shop.orders.values()])


def test_only_the_lag_before_the_last_pass_is_read_again(world: Any) -> None:
    """A burst that ends right before a pass: only the orders within the lag of that pass's
    start are read again, once (here 4 of 30, which fit the first page), then one request."""
    world.write_config(sync="search_lag_seconds = 20")
    now = time.time()
    for o in _fresh(paid(30, seed=16), [now - 300 + 10 * i for i in range(30)]):  # every 10 s, the last 10 s ago
        world.shop.add_order(o)
    assert _sync(world)["counts"].get("created") == 30
    before = len(world.shop.requests)
    idle = _sync(world)
    assert idle["requests"]["shopify"] == 1 and idle["requests"]["visma"] == 0, idle["requests"]
    since = world.shop.requests[before]["variables"]["query"]
    assert "updated_at:>=" in since
    window = [o for o in world.shop.orders.values() if o["updatedAt"] >= since.split("updated_at:>=")[1][1:21]]
    assert 1 <= len(window) <= 4, [o["updatedAt"] for o in window]  # lag 20 s (+1 s truncation) at one per 10 s


@pytest.mark.parametrize("lag", [60, 0], ids=["lag-60s", "no-lag-control"])
def test_an_update_seen_late_by_search_is_picked_up_by_a_later_pass(world: Any, lag: int) -> None:
    """Order L is updated before a pass starts but Shopify's search shows it 20 s late, so
    that pass cannot see it; the bookmark moves past it (an order updated after it was seen).
    The next pass still finds it, because it re-reads the lag before the last pass started.
    With `search_lag_seconds = 0` (the control) it is lost, which shows the sandbox's lag bites."""
    world.write_config(sync=f"overlap_minutes = 0\nsearch_lag_seconds = {lag}")
    clock = _behind(world, 30)
    for o in paid(5, seed=21):  # seeded in early 2026
        world.shop.add_order(o)
    assert _sync(world)["counts"].get("created") == 5

    late, later = paid(2, seed=22)[:2]
    late.update(name="#5001", id="gid://shopify/Order/95001", legacyResourceId="95001")
    later.update(name="#5002", id="gid://shopify/Order/95002", legacyResourceId="95002")
    t = clock() - 2  # both in the sandbox's past
    world.shop.add_order(_fresh([late], [t])[0])
    world.shop.make_late("#5001", 20)  # visible to search at t + 20 (sandbox clock)
    world.shop.add_order(_fresh([later], [t + 1])[0])

    missed = _sync(world)  # its search runs at about t + 2: #5001 is not listed yet
    assert [o["name"] for o in missed["orders"] if o.get("status") == "created"] == ["#5002"], missed["orders"]
    assert _checkpoint(world)["bookmark"] == _stamp(t + 1)  # past #5001

    clock.catch_up(25)  # sandbox time t + 25: the index has caught up
    found = _sync(world)
    names = [o["name"] for o in found["orders"] if o.get("status") == "created"]
    refs = {d.get("YourReference") for d in world.visma.drafts.values()}
    if lag:
        assert names == ["#5001"], found["orders"]
        exactly_once(world.visma, [o["name"] for o in world.shop.orders.values()])
        assert _sync(world)["requests"]["shopify"] == 1  # and idle again
    else:
        assert names == [] and "#5001" not in refs


def test_a_checkpoint_without_searched_at_falls_back_to_the_overlap(world: Any) -> None:
    """A checkpoint written by an older build (no `searched_at`): the pass re-reads
    `overlap_minutes` before the bookmark, as before, so an order updated in that window
    that was never seen is still transferred; it then writes `searched_at` again."""
    orders = paid(6, seed=31)
    for o in orders[:5]:
        world.shop.add_order(o)
    assert _sync(world)["counts"].get("created") == 5
    cp_path = world.state_dir / "checkpoint.json"
    cp = _checkpoint(world)
    assert cp["searched_at"] and cp["bookmark"]
    del cp["searched_at"]
    cp_path.write_text(json.dumps(cp), encoding="utf-8")

    bookmark = datetime.strptime(cp["bookmark"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()
    missed = _fresh([orders[5]], [bookmark - 300])[0]  # 5 minutes before the bookmark: inside the overlap
    missed.update(name="#6001", id="gid://shopify/Order/96001", legacyResourceId="96001")
    world.shop.add_order(missed)

    doc = _sync(world)
    assert [o["name"] for o in doc["orders"] if o.get("status") == "created"] == ["#6001"], doc["orders"]
    assert "updated_at:>=" in world.shop.requests[-1]["variables"]["query"]
    assert _checkpoint(world)["searched_at"]
    exactly_once(world.visma, [o["name"] for o in world.shop.orders.values()])
    assert _sync(world)["requests"]["shopify"] == 1
