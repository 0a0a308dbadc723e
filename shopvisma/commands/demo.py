"""`shopvisma demo` and `shopvisma sandbox`: the real job against the built-in emulators.

The demo takes the same path as a cron `sync` (config file, secret lookup from
the environment, lock, checkpoint, clients over HTTP) so that what it shows is
what the product does, only against loopback emulators in a temporary folder.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

from shopvisma.console import Console


def run_demo(console: Console, *, extra_orders: int = 0) -> int:
    """Exits with the first sync's code, so a demo that refuses an order says so."""
    from shopvisma.commands.sync import run_sync
    from shopvisma.config.settings import load_settings
    from shopvisma.render import print_pass
    from shopvisma.sandbox.harness import PAYOUTS_TABLE, sandbox_env, start_sandboxes, write_sandbox_config
    from shopvisma.sandbox.seed.orders import demo_orders, generate_orders

    say = console.say
    orders = demo_orders() + (generate_orders(extra_orders, seed=1) if extra_orders else [])
    shop, visma = start_sandboxes(orders, payouts=True)
    old_env = dict(os.environ)
    try:
        with tempfile.TemporaryDirectory(prefix="shopvisma-demo-") as tmp:
            tmpdir = Path(tmp)
            config = write_sandbox_config(tmpdir / "config.toml", shop, visma, payouts=PAYOUTS_TABLE)
            os.environ.update(sandbox_env(shop, visma, tmpdir / "state", config))
            say(f"shopvisma demo: Shopify emulator {shop.origin}, Visma emulator {visma.api_url}")
            say(f"  {len(orders)} Shopify orders seeded; working directory {tmpdir}")
            settings = load_settings(config)
            say("\n1. dry-run (writes nothing):")
            dry = run_sync(settings, dry_run=True)
            say(f"   would create {dry.count('would-create')} document(s); {dry.count('failed')} order(s) refused")
            say("\n2. sync:")
            first = run_sync(settings, dry_run=False)
            print_pass(console, first)
            say("\n3. sync again (nothing new, nothing written):")
            t0 = time.monotonic()
            second = run_sync(settings, dry_run=False)
            say(
                f"   {second.count('created')} created, {second.count('failed')} failed; Visma writes:"
                f" {second.visma_writes}; Shopify requests: {second.shopify_requests}; {time.monotonic() - t0:.2f} s"
            )
            say("\n4. a customer returns #1001 in Shopify; the next sync credits it (once):")
            from shopvisma.sandbox.seed.orders import make_refund

            first_order = next(o for o in shop.orders.values() if o["name"] == "#1001")
            shop.add_refund(first_order["id"], make_refund(first_order))
            third = run_sync(settings, dry_run=False)
            print_pass(console, third)
            again = run_sync(settings, dry_run=False)
            say(f"   and again: {again.count('created')} created, Visma writes {again.visma_writes}")
            say("\nIn Visma now:")
            say(
                f"   {len(visma.customers)} customers, {len(visma.articles)} articles, "
                f"{len(visma.drafts)} invoice drafts"
            )
            for d in list(visma.drafts.values())[:50]:
                say(
                    f"   draft {d.get('YourReference'):>8}  {d.get('CustomerName', '')[:28]:<28} "
                    f"{d.get('TotalAmount'):>10} {d.get('InvoiceCurrencyCode', '')}  VAT {d.get('TotalVatAmount')}"
                )
            for v in visma.ledger.vouchers.values():
                rows = ", ".join(
                    f"{r['AccountNumber']} {'D' if r['DebitAmount'] else 'C'} {r['DebitAmount'] or r['CreditAmount']:.2f}"
                    for r in v["Rows"]
                )
                say(f"   voucher {v['NumberAndNumberSeries']:>4} {v['VoucherDate'][:10]}  {v['VoucherText']}: {rows}")
            exit_code = int(first.exit_code)
            doc = {
                "dry_run": dry.as_dict(),
                "sync": first.as_dict(),
                "second_sync": second.as_dict(),
                "refund_sync": third.as_dict(),
                "visma": {
                    "customers": len(visma.customers),
                    "articles": len(visma.articles),
                    "drafts": len(visma.drafts),
                    "vouchers": len(visma.ledger.vouchers),
                },
                "exit_code": exit_code,
            }
    finally:
        os.environ.clear()
        os.environ.update(old_env)
        shop.stop()
        visma.stop()
    if console.json:
        console.emit_json(doc)
    return exit_code


def serve_sandbox(
    *, console: Console, shopify_port: int, visma_port: int, orders: int, quirks: Iterable[str] = ()
) -> None:
    """`quirks`: Visma readings to serve instead of the defaults (sandbox/visma/quirks.py)."""
    from shopvisma.sandbox.seed.orders import demo_orders, generate_orders
    from shopvisma.sandbox.shopify.server import ShopifySandbox
    from shopvisma.sandbox.visma.server import VismaSandbox

    say = console.say
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
