"""The pass end to end against in-memory doubles of both APIs (no HTTP, no emulator):
the exactly-once invariants as unit tests, fast enough to run on every edit."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal

from unit.engine.fakes import FakeShopify, FakeVisma, order_node

from shopvisma.config.settings import Settings
from shopvisma.engine.outcomes import PassResult
from shopvisma.engine.sync_pass import Services, run_pass
from shopvisma.state.checkpoint import Checkpoint

NOW = datetime(2026, 3, 2, tzinfo=UTC)


def _pass(
    settings: Settings, shop: FakeShopify, visma: FakeVisma, cp: Checkpoint, *, dry_run: bool = False
) -> PassResult:
    services = Services(shopify=shop, visma=visma, save_checkpoint=lambda _: None)
    return run_pass(settings, services, cp, dry_run=dry_run, now=lambda: NOW)


def _three() -> FakeShopify:
    return FakeShopify([order_node(1001), order_node(1002, quantity=2), order_node(1003, price="99.90")])


def test_a_first_pass_creates_one_exact_draft_per_order(settings: Settings, visma: FakeVisma) -> None:
    cp = Checkpoint()
    result = _pass(settings, _three(), visma, cp)
    assert result.counts == {"created": 3}, [o.as_dict() for o in result.outcomes]
    drafts = {d["YourReference"]: d for d in visma.tables["customerinvoicedrafts"].values()}
    assert {ref: d["TotalAmount"] for ref, d in drafts.items()} == {
        "#1001": Decimal("125.00"),
        "#1002": Decimal("250.00"),
        "#1003": Decimal("99.90"),
    }
    assert len(visma.tables["customers"]) == 3 and len(visma.tables["articles"]) == 1
    assert sorted(cp.recent) == ["#1001", "#1002", "#1003"] and not cp.pending and not cp.intents
    assert result.visma_writes == visma.write_count == 7  # 1 article, 3 customers, 3 drafts; no correction
    assert result.bookmark == "2026-03-01T10:43:00Z"  # the newest updatedAt seen


def test_a_second_pass_makes_no_write_and_no_visma_request(settings: Settings, visma: FakeVisma) -> None:
    cp = Checkpoint()
    _pass(settings, _three(), visma, cp)
    requests, writes = sum(visma.requests.values()), visma.write_count  # the client counts across passes
    again = _pass(settings, _three(), visma, cp)
    assert again.counts == {}
    assert (sum(visma.requests.values()), visma.write_count) == (requests, writes)  # the checkpoint knew them


def test_a_lost_checkpoint_costs_lookups_never_a_duplicate(settings: Settings, visma: FakeVisma) -> None:
    _pass(settings, _three(), visma, Checkpoint())
    writes = visma.write_count
    result = _pass(settings, _three(), visma, Checkpoint())  # the state dir was wiped
    assert result.counts == {"exists": 3}
    assert visma.write_count == writes and len(visma.tables["customerinvoicedrafts"]) == 3


def test_a_create_whose_answer_was_lost_is_found_not_repeated(settings: Settings, visma: FakeVisma) -> None:
    cp = Checkpoint()
    visma.lose_next.add("customerinvoicedrafts")
    first = _pass(settings, FakeShopify([order_node(1001)]), visma, cp)
    assert first.counts == {"created": 1}  # found by its reference straight after the lost answer
    assert len(visma.tables["customerinvoicedrafts"]) == 1 and "#1001" in cp.recent


def test_a_dry_run_writes_nothing(settings: Settings, visma: FakeVisma) -> None:
    cp = Checkpoint()
    result = _pass(settings, _three(), visma, cp, dry_run=True)
    assert result.counts == {"would-create": 3} and visma.write_count == 0
    assert cp == Checkpoint()


def test_an_idle_pass_imports_no_mapping_code() -> None:
    """The lazy imports are on purpose: a cron pass with nothing to do must stay cheap."""
    code = (
        "import sys\n"
        "from shopvisma.engine import sync_pass, outcomes, selection, references, records\n"
        "bad = [m for m in sys.modules if m.startswith(('shopvisma.mapping.plan', 'shopvisma.mapping.company',\n"
        "       'shopvisma.mapping.bodies', 'shopvisma.mapping.rows', 'shopvisma.engine.transfer',\n"
        "       'shopvisma.engine.ports', 'shopvisma.shopify.order'))]\n"
        "print(bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stdout
