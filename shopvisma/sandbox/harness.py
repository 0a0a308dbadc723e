"""Point a real `shopvisma` run at the built-in emulators: start them, write a config
for them, and give the environment a run needs.

Shared by `shopvisma demo`, the tests and bench/, so that all three exercise the
same path a cron `sync` takes (config file, secrets from the environment, clients
over HTTP), only against loopback servers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

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


# The demo's [payouts] table (docs/payouts.md): a BAS chart's bank, card clearing and bank-fee accounts.
PAYOUTS_TABLE = 'bank_account = "1930"\nclearing_account = "1580"\nfees_account = "6570"'


def start_sandboxes(
    orders: list[dict[str, Any]] | None = None,
    *,
    payouts: bool = False,
    latency_seconds: float = 0.0,
    **visma_options: Any,
) -> tuple[Any, Any]:
    """Both emulators, started on free loopback ports; the caller stops them. `payouts`: the
    shop's Shopify Payments account gets the payouts of `orders` (sandbox/seed/payouts.py).
    `latency_seconds`: both add it to every request, as a network round trip would."""
    from shopvisma.sandbox.shopify.server import ShopifySandbox
    from shopvisma.sandbox.visma.server import VismaSandbox

    shop = ShopifySandbox(orders=orders or [], latency_seconds=latency_seconds).start()
    if payouts:
        from shopvisma.sandbox.seed.payouts import seed_payouts

        seed_payouts(shop.payouts, orders or [])
    visma = VismaSandbox(latency_seconds=latency_seconds, **visma_options).start()
    return shop, visma


def sandbox_env(shop: Any, visma: Any, state_dir: Path, config: Path) -> dict[str, str]:
    """Environment that points a `shopvisma` run at the emulators; secrets come from the
    environment as on a headless server, so no keyring is touched."""
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
    """The demo config for these emulators; `extra` adds whole tables (`sync="max_wait_seconds = 3600"`)."""
    text = DEMO_CONFIG.format(shopify_url=shop.api_url, visma_api=visma.api_url, visma_identity=visma.identity_url)
    for section, body in extra.items():
        text += f"\n[{section}]\n{body}\n"
    path.write_text(text, encoding="utf-8")
    return path
