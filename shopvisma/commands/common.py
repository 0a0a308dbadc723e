"""What several commands share: clients built from the secret store, and the locked state dir.

Every command that talks to Visma holds the run lock, even a read-only one: a
Visma token refresh rotates the refresh token and rewrites tokens.json, and two
processes doing that at once would void each other's grant.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from shopvisma.config.settings import Settings
from shopvisma.engine.sync_pass import Services
from shopvisma.errors import AuthError
from shopvisma.redact import register
from shopvisma.state.checkpoint import save_checkpoint
from shopvisma.state.files import StatePaths, state_paths
from shopvisma.state.lock import RunLock

log = logging.getLogger("shopvisma.commands.common")


@contextmanager
def locked_state_dir(settings: Settings) -> Iterator[StatePaths]:
    """The state dir, created if needed, with the run lock held (another holder: LockedError, 75)."""
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    with RunLock(settings.state_dir):
        yield state_paths(settings.state_dir)


def open_services(settings: Settings, checkpoint_path: Any) -> Services:
    """Clients built from the secret store; a missing credential is an AuthError (77)
    that names the `shopvisma login ...` to run."""
    from shopvisma.shopify.auth import ShopifyTokenProvider
    from shopvisma.shopify.client import ShopifyClient
    from shopvisma.state.secrets import SecretStore, TokenFile
    from shopvisma.visma.client import VismaClient

    paths = state_paths(settings.state_dir)
    store = SecretStore(settings.state_dir)
    tokens = TokenFile(paths.tokens)
    tokens.seed_from_env()

    static = store.get("shopify_token")
    if static:
        register(static)
        token_provider: Any = lambda: static  # noqa: E731
    else:
        cid, secret = store.get("shopify_client_id"), store.get("shopify_client_secret")
        if not (cid and secret):
            raise AuthError(
                "no Shopify credentials found (env, keyring or secrets file)",
                hint="run: shopvisma login shopify",
            )
        register(secret)
        token_provider = ShopifyTokenProvider(settings.shopify.origin, cid, secret, tokens)
    shopify = ShopifyClient(
        settings.shopify.api_url,
        token_provider,
        max_wait=settings.sync.max_wait_seconds,
        payments=settings.payments is not None,
    )

    vid, vsecret = store.get("visma_client_id"), store.get("visma_client_secret")
    if not (vid and vsecret):
        raise AuthError(
            "no Visma client id/secret found (env, keyring or secrets file)", hint="run: shopvisma login visma"
        )
    register(vsecret)
    visma = VismaClient(
        settings.visma.api_url,
        settings.visma.identity_url,
        vid,
        vsecret,
        tokens,
        max_wait=settings.sync.max_wait_seconds,
        rate_limit=settings.sync.visma_requests_per_minute,
    )
    from shopvisma.state import observations

    return Services(
        shopify=shopify,
        visma=visma,
        save_checkpoint=lambda cp: save_checkpoint(checkpoint_path, cp),
        observations=observations.load(settings.state_dir),
        save_observations=lambda obs: observations.save(settings.state_dir, obs),
    )
