"""Reliability cases that need no subprocess (issue 5 points 1, 4, 6, 7).

Real HTTP to both sandboxes; where a server asks for a long wait (429 "Try again in
N seconds", Shopify THROTTLED), the pass runs with clients built on a fake clock and a
fake sleep that advances the sandboxes' clock too, so a 429 storm costs no real time.
The pass itself is `commands.sync.run_sync`, the function `shopvisma sync` calls.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from support.clock import FakeClock
from support.sandboxes import exactly_once, paid

# --------------------------------------------------------------------------- fake-clock rig


@dataclass
class Clocked:
    shop: Any
    visma: Any
    ft: FakeClock  # one clock for the sandboxes and the clients; sleeping advances it
    settings: Any
    tokens: Any
    state_dir: Path
    results: list[Any] = field(default_factory=list)

    def services(self, *, max_wait: float = 300) -> Any:
        from shopvisma.engine.sync_pass import Services
        from shopvisma.shopify.client import ShopifyClient
        from shopvisma.state.checkpoint import save_checkpoint
        from shopvisma.state.files import state_paths
        from shopvisma.visma.client import VismaClient

        shop = ShopifyClient(
            self.shop.api_url, lambda: self.shop.access_token, max_wait=max_wait, sleep=self.ft.sleep, clock=self.ft
        )
        visma = VismaClient(
            self.visma.api_url,
            self.visma.identity_url,
            self.visma.client_id,
            self.visma.client_secret,
            self.tokens,
            max_wait=max_wait,
            sleep=self.ft.sleep,
            clock=self.ft,
            jitter=0.0,
        )
        path = state_paths(self.state_dir).checkpoint
        return Services(shopify=shop, visma=visma, save_checkpoint=lambda cp: save_checkpoint(path, cp))

    def sync(self, **kw: Any) -> Any:
        from shopvisma.commands.sync import run_sync

        services = self.services(**kw)
        result = run_sync(self.settings, dry_run=False, services=services)
        self.results.append((result, services))
        return result


@pytest.fixture
def clocked(tmp_path: Path) -> Iterator[Clocked]:
    from shopvisma.config.settings import load_settings
    from shopvisma.sandbox.harness import write_sandbox_config
    from shopvisma.sandbox.shopify.server import ShopifySandbox
    from shopvisma.sandbox.visma.server import VismaSandbox
    from shopvisma.state.secrets import REFRESH_TOKEN_ENV, TokenFile

    ft = FakeClock(start=datetime.now(timezone.utc).timestamp())  # the seeded orders are dated near now
    shop = ShopifySandbox(clock=ft).start()
    visma = VismaSandbox(clock=ft).start()
    try:
        config = write_sandbox_config(tmp_path / "config.toml", shop, visma, sync="max_wait_seconds = 300")
        settings = load_settings(config)
        state_dir = settings.state_dir
        tokens = TokenFile(state_dir / "tokens.json")
        state_dir.mkdir(parents=True, exist_ok=True)
        tokens.seed_from_env({REFRESH_TOKEN_ENV: visma.issue_refresh_token()})
        yield Clocked(shop, visma, ft, settings, tokens, state_dir)
    finally:
        shop.stop()
        visma.stop()


# --------------------------------------------------------------------------- retries and 429 storms


def test_visma_429_storm_is_waited_out_as_told_and_nothing_doubles(clocked: Clocked) -> None:
    # One order at a time: on the fake clock every sleeping thread advances time in turn, so
    # waits that overlap in real time would add up here as if serial (the overlap-aware
    # charging is tested in tests/unit/test_wait_budget.py).
    import dataclasses

    clocked.settings = dataclasses.replace(
        clocked.settings, sync=dataclasses.replace(clocked.settings.sync, concurrency=1)
    )
    clocked.visma.rate_limit_per_minute = 4
    names = [o["name"] for o in paid(12, seed=21)]
    for o in paid(12, seed=21):
        clocked.shop.add_order(o)
    result = clocked.sync()
    assert int(result.exit_code) == 0, [o.as_dict() for o in result.outcomes if o.status == "failed"]
    exactly_once(clocked.visma, names)
    refused = sum(1 for m, p, s in clocked.visma.requests if s == 429)
    assert refused >= 3, refused
    services = clocked.results[-1][1]
    waits = services.visma.budget.waits
    assert waits and all(0 < w <= 61 for w in waits), waits  # "Try again in N seconds", never blind
    assert services.visma.budget.spent <= 300
    print(
        f"FAULT-MATRIX {json.dumps({'case': 'Visma 429 storm (4/min/endpoint)', 'faults': refused, 'runs': 1, 'duplicates': 0, 'missing': 0, 'waited_s': round(services.visma.budget.spent)})}"
    )


def test_429_storm_beyond_the_wait_cap_exits_69_and_the_next_pass_converges(clocked: Clocked) -> None:
    from shopvisma.errors import ExitCode, ShopvismaError

    clocked.visma.rate_limit_per_minute = 3
    orders = paid(8, seed=22)
    for o in orders:
        clocked.shop.add_order(o)
    with pytest.raises(ShopvismaError) as info:
        clocked.sync(max_wait=20)
    assert info.value.exit_code == ExitCode.UNAVAILABLE
    assert "cap" in info.value.message
    clocked.visma.rate_limit_per_minute = None
    result = clocked.sync()
    assert int(result.exit_code) == 0
    exactly_once(clocked.visma, [o["name"] for o in orders])


def test_shopify_throttled_and_500_are_waited_out(clocked: Clocked) -> None:
    orders = paid(6, seed=23)
    for o in orders:
        clocked.shop.add_order(o)
    clocked.shop.inject_fault("throttle", times=2)
    clocked.shop.inject_fault("500", times=1)
    result = clocked.sync()
    assert int(result.exit_code) == 0
    exactly_once(clocked.visma, [o["name"] for o in orders])
    assert sum(1 for r in clocked.shop.requests if r.get("throttled")) == 2
    assert clocked.ft.sleeps  # it waited (on the fake clock) instead of hammering


@pytest.mark.parametrize(
    "method,prefix,kind",
    [
        ("POST", "/v2/customers", "timeout-after-commit"),
        ("POST", "/v2/articles", "500-after-commit"),
        ("POST", "/v2/customerinvoicedrafts", "timeout-after-commit"),
        ("POST", "/v2/customerinvoicedrafts", "500-after-commit"),
        ("GET", "/v2/customerinvoicedrafts", "500"),
        ("GET", "/v2/customers", "429"),
    ],
)
def test_ambiguous_and_transient_answers_resolve_in_the_same_pass(
    clocked: Clocked, method: str, prefix: str, kind: str
) -> None:
    orders = paid(4, seed=24)
    for o in orders:
        clocked.shop.add_order(o)
    clocked.visma.inject_fault(method, prefix, kind)
    result = clocked.sync()
    assert int(result.exit_code) == 0, [o.as_dict() for o in result.outcomes]
    exactly_once(clocked.visma, [o["name"] for o in orders])


def test_a_create_visma_did_not_confirm_fails_that_order_only_then_converges(clocked: Clocked) -> None:
    """One 500 on a create: looked up by reference, not there, so that order stays pending
    (exit 1) and the pass goes on; the next pass creates it."""
    orders = paid(4, seed=25)
    for o in orders:
        clocked.shop.add_order(o)
    clocked.visma.inject_fault("POST", "/v2/customerinvoicedrafts", "500")
    result = clocked.sync()
    assert int(result.exit_code) == 1
    failed = [o for o in result.outcomes if o.status == "failed"]
    assert len(failed) == 1 and failed[0].transient
    assert len(clocked.visma.drafts) == 3
    result = clocked.sync()
    assert int(result.exit_code) == 0
    exactly_once(clocked.visma, [o["name"] for o in orders])


def test_creates_failing_in_a_row_stop_the_pass_69_then_converge(clocked: Clocked) -> None:
    from shopvisma.errors import ExitCode, ShopvismaError

    orders = paid(5, seed=25)
    for o in orders:
        clocked.shop.add_order(o)
    # Every create fails: with orders in flight side by side a success could otherwise settle
    # between two failures, and "in a row" counts outcomes in the order they settle.
    clocked.visma.inject_fault("POST", "/v2/customerinvoicedrafts", "500", times=len(orders))
    with pytest.raises(ShopvismaError) as info:
        clocked.sync()
    assert info.value.exit_code == ExitCode.UNAVAILABLE
    result = clocked.sync()
    assert int(result.exit_code) == 0
    exactly_once(clocked.visma, [o["name"] for o in orders])


# --------------------------------------------------------------------------- tokens


def test_rotated_refresh_token_is_on_disk_before_use_and_always_live(clocked: Clocked) -> None:
    """Save-before-use: after every pass the refresh token in tokens.json is the live one."""
    clocked.visma._identity.access_token_ttl = 30
    live = clocked.visma._identity._refresh  # the sandbox's set of live refresh tokens
    for i in range(4):
        o = paid(8, seed=26)[i * 2 : i * 2 + 2]
        for order in o:
            clocked.shop.add_order(order)
            clocked.shop.update_order(order["id"])
        result = clocked.sync()
        assert int(result.exit_code) == 0
        section = clocked.tokens.load()["visma"]
        assert section["refresh_token"] in live
        clocked.ft.advance(45)  # the access token is dead before the next pass
    assert clocked.visma.grant_refusals() == 0
    assert (clocked.state_dir / "tokens.json").stat().st_mode & 0o777 == 0o600


def test_two_clients_in_one_process_share_the_rotation(clocked: Clocked) -> None:
    """reconcile/doctor and sync build their own clients: the second must not reuse a voided token."""
    clocked.visma._identity.access_token_ttl = 10
    a = clocked.services().visma
    b = clocked.services().visma
    a.get("companysettings")
    clocked.ft.advance(20)
    b.get("companysettings")
    clocked.ft.advance(20)
    a.get("companysettings")
    assert clocked.visma.grant_refusals() == 0


# --------------------------------------------------------------------------- bad input (CLI, real HTTP)


def test_a_visma_400_on_one_order_leaves_it_pending_and_the_rest_go_through(world: Any) -> None:
    orders = paid(4, seed=28)
    for o in orders:
        world.shop.add_order(o)
    world.visma.inject_fault("POST", "/v2/customerinvoicedrafts", "400")
    res = world.cli("sync", "--json")
    assert res.exit_code == 1, res.output
    doc = json.loads(res.stdout)
    failed = [o for o in doc["orders"] if o["status"] == "failed"]
    assert len(failed) == 1 and "Visma refused it" in failed[0]["reason"]
    assert failed[0]["field"] == "Rows[0].Text"
    assert len(world.visma.drafts) == 3
    res = world.cli("sync", "--json")
    assert res.exit_code == 0
    exactly_once(world.visma, [o["name"] for o in orders])


# --------------------------------------------------------------------------- config and transport


@pytest.mark.parametrize(
    "section,body,needle",
    [
        ("sync", "overlapp_minutes = 5", "overlapp_minutes"),
        ("sync", 'overlap_minutes = "ten"', "overlap_minutes"),
        ("notify", 'healthcheck_url = "http://hc.example.com/ping/abc"', "https"),
    ],
)
def test_bad_config_exits_78_before_any_request(world: Any, section: str, body: str, needle: str) -> None:
    world.write_config(**{section: body})
    world.shop.add_order(paid(1, seed=29)[0])
    res = world.cli("sync", "--json")
    assert res.exit_code == 78, res.output
    assert needle in res.stderr
    assert not world.shop.requests and not world.visma.requests


@pytest.mark.parametrize("key", ["shopify", "visma_api", "visma_identity"])
def test_plain_http_to_a_non_loopback_host_exits_78(world: Any, key: str) -> None:
    text = world.config.read_text()
    targets = {
        "shopify": world.shop.api_url,
        "visma_api": world.visma.api_url,
        "visma_identity": world.visma.identity_url,
    }
    world.set_config(text.replace(targets[key], targets[key].replace("127.0.0.1", "shop.example.com")))
    res = world.cli("sync", "--json")
    assert res.exit_code == 78, res.output
    assert "https" in res.stderr
    assert not world.shop.requests and not world.visma.requests


def test_tls_verification_cannot_be_switched_off() -> None:
    import requests

    from shopvisma.http import check_session

    s = requests.Session()
    s.verify = False
    with pytest.raises(ValueError):
        check_session(s)


def test_every_request_has_a_timeout(clocked: Clocked, monkeypatch: pytest.MonkeyPatch) -> None:
    """Observed at the requests boundary (not our code): no call goes out without a timeout."""
    import requests

    seen: list[Any] = []
    real = requests.Session.request

    def spy(self: requests.Session, method: str, url: str, **kw: Any) -> Any:
        seen.append(kw.get("timeout"))
        return real(self, method, url, **kw)

    monkeypatch.setattr(requests.Session, "request", spy)
    for o in paid(2, seed=30):
        clocked.shop.add_order(o)
    assert int(clocked.sync().exit_code) == 0
    assert seen and all(t is not None for t in seen), seen
