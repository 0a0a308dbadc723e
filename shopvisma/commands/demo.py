"""`shopvisma demo` and `shopvisma sandbox`: the real job against the built-in emulators.

The demo takes the same path as a cron `sync` (config file, secret lookup from
the environment, lock, checkpoint, clients over HTTP) so that what it shows is
what the product does, only against loopback emulators in a temporary folder.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

Say = Callable[[str], None]

DEMO_CONFIG = """\
[shopify]
shop = "demo-shop.myshopify.com"
api_version = "2025-07"
api_url = "{shopify_url}"

[visma]
environment = "sandbox"
workflow = "invoice-draft"
api_url = "{visma_api}"
identity_url = "{visma_identity}"

[criteria]
financial_status = ["paid", "partially_refunded"]
fulfillment_status = []
created_at_min = "2026-01-01T00:00:00Z"
"""


def start_sandboxes(orders: list[dict[str, Any]] | None = None, **visma_options: Any) -> tuple[Any, Any]:
    from shopvisma.sandbox.shopify.server import ShopifySandbox
    from shopvisma.sandbox.visma.server import VismaSandbox

    shop = ShopifySandbox(orders=orders or []).start()
    visma = VismaSandbox(**visma_options).start()
    return shop, visma


def sandbox_env(shop: Any, visma: Any, state_dir: Path, config: Path) -> dict[str, str]:
    """Environment that points a `shopvisma` run at the emulators (also used by tests)."""
    return {
        "SHOPVISMA_CONFIG": str(config),
        "SHOPVISMA_STATE_DIR": str(state_dir),
        "SHOPVISMA_SECRETS": "file",
        "SHOPVISMA_SHOPIFY_TOKEN": shop.access_token,
        "SHOPVISMA_VISMA_CLIENT_ID": visma.client_id,
        "SHOPVISMA_VISMA_CLIENT_SECRET": visma.client_secret,
        "SHOPVISMA_VISMA_REFRESH_TOKEN": visma.issue_refresh_token(),
    }


def write_sandbox_config(path: Path, shop: Any, visma: Any, **extra: str) -> Path:
    text = DEMO_CONFIG.format(shopify_url=shop.api_url, visma_api=visma.api_url, visma_identity=visma.identity_url)
    for section, body in extra.items():
        text += f"\n[{section}]\n{body}\n"
    path.write_text(text, encoding="utf-8")
    return path


def run_demo(*, extra_orders: int = 0, say: Say, verbose: bool = False) -> dict[str, Any]:
    from shopvisma.config.settings import load_settings
    from shopvisma.render import print_pass
    from shopvisma.commands.common import run_command
    from shopvisma.sandbox.seed.orders import demo_orders, generate_orders

    orders = demo_orders() + (generate_orders(extra_orders, seed=1) if extra_orders else [])
    shop, visma = start_sandboxes(orders)
    old_env = dict(os.environ)
    try:
        with tempfile.TemporaryDirectory(prefix="shopvisma-demo-") as tmp:
            tmpdir = Path(tmp)
            config = write_sandbox_config(tmpdir / "config.toml", shop, visma)
            os.environ.update(sandbox_env(shop, visma, tmpdir / "state", config))
            say(f"shopvisma demo: Shopify emulator {shop.origin}, Visma emulator {visma.api_url}")
            say(f"  {len(orders)} Shopify orders seeded; working directory {tmpdir}")
            settings = load_settings(config)
            say("\n1. dry-run (writes nothing):")
            dry = run_command(settings, dry_run=True)
            say(f"   would create {dry.count('would-create')} document(s); {dry.count('failed')} order(s) refused")
            say("\n2. sync:")
            first = run_command(settings, dry_run=False)
            print_pass(first, verbose=verbose)
            say("\n3. sync again (nothing new, nothing written):")
            t0 = time.monotonic()
            second = run_command(settings, dry_run=False)
            say(f"   {second.count('created')} created, {second.count('failed')} failed; Visma writes:"
                f" {second.visma_writes}; Shopify requests: {second.shopify_requests}; {time.monotonic() - t0:.2f} s")
            say("\n4. a customer returns #1001 in Shopify; the next sync credits it (once):")
            from shopvisma.sandbox.seed.orders import make_refund

            first_order = next(o for o in shop.orders.values() if o["name"] == "#1001")
            shop.add_refund(first_order["id"], make_refund(first_order))
            third = run_command(settings, dry_run=False)
            print_pass(third, verbose=verbose)
            again = run_command(settings, dry_run=False)
            say(f"   and again: {again.count('created')} created, Visma writes {again.visma_writes}")
            say("\nIn Visma now:")
            say(f"   {len(visma.customers)} customers, {len(visma.articles)} articles, "
                f"{len(visma.drafts)} invoice drafts")
            for d in list(visma.drafts.values())[:50]:
                say(f"   draft {d.get('YourReference'):>8}  {d.get('CustomerName', '')[:28]:<28} "
                    f"{d.get('TotalAmount'):>10} {d.get('InvoiceCurrencyCode', '')}  VAT {d.get('TotalVatAmount')}")
            return {
                "dry_run": dry.as_dict(),
                "sync": first.as_dict(),
                "second_sync": second.as_dict(),
                "refund_sync": third.as_dict(),
                "visma": {"customers": len(visma.customers), "articles": len(visma.articles), "drafts": len(visma.drafts)},
                "exit_code": int(first.exit_code),
            }
    finally:
        os.environ.clear()
        os.environ.update(old_env)
        shop.stop()
        visma.stop()


def serve_sandbox(*, shopify_port: int, visma_port: int, orders: int, say: Say,
                  quirks: Iterable[str] = ()) -> None:
    """`quirks`: Visma readings to serve instead of the defaults (sandbox/visma_quirks.py)."""
    from shopvisma.sandbox.seed.orders import demo_orders, generate_orders
    from shopvisma.sandbox.shopify.server import ShopifySandbox
    from shopvisma.sandbox.visma.server import VismaSandbox

    visma = VismaSandbox(quirks=quirks)  # before binding anything: an unknown quirk fails first
    shop = ShopifySandbox(orders=demo_orders() + generate_orders(orders, seed=1)).start(port=shopify_port)
    visma.start(port=visma_port)
    say(f"Shopify Admin GraphQL: {shop.api_url}  (X-Shopify-Access-Token: {shop.access_token})")
    say(f"Visma eAccounting:     {visma.api_url}  identity {visma.identity_url}")
    say(f"  client id {visma.client_id}, a refresh token: {visma.issue_refresh_token()}")
    say(f"  quirks: {', '.join(sorted(visma.quirks))}" if visma.quirks else "  quirks: none (default readings)")
    say("Ctrl-C stops both.")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        shop.stop()
        visma.stop()
