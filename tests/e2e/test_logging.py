"""What a real `sync` writes to shopvisma.log: INFO by default, DEBUG with -v or
`[sync] log_level = "debug"` (issue 15). The bound itself is tested without a sync, in
tests/unit/state/test_disk_bound.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from support.sandboxes import paid


def _orders(world: Any) -> None:
    for order in paid(2, seed=3):
        world.shop.add_order(order)


def _log(state_dir: Path) -> str:
    path = state_dir / "shopvisma.log"
    return path.read_text(encoding="utf-8") if path.exists() else ""


def test_a_default_pass_logs_no_request_lines(world: Any) -> None:
    _orders(world)
    res = world.cli("sync", "-q")
    assert res.exit_code == 0, res.output
    assert " DEBUG " not in _log(world.state_dir)


def test_v_puts_every_request_in_the_file_but_not_on_stderr(world: Any) -> None:
    _orders(world)
    res = world.cli("-v", "sync")
    assert res.exit_code == 0, res.output
    text = _log(world.state_dir)
    assert " DEBUG shopvisma.shopify.client: Shopify POST graphql -> 200" in text
    assert " DEBUG shopvisma.visma.client: Visma " in text
    assert "DEBUG" not in res.stderr


def test_log_level_debug_in_the_config_does_what_v_does(world: Any) -> None:
    world.write_config(sync='log_level = "debug"')
    res = world.cli("sync", "-q")
    assert res.exit_code == 0, res.output
    assert " DEBUG shopvisma.shopify.client: Shopify POST graphql -> 200" in _log(world.state_dir)
