"""Everything around one pass: lock, checkpoint, clients from secrets, run log.

`sync.run_pass` is the pass itself; this module gives it what it needs and
records what it did, so cli.py stays a thin parse-call-print layer and tests can
drive a pass in-process through the same path cron takes.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

from shopvisma.config.settings import Settings
from shopvisma.errors import AuthError, ShopvismaError
from shopvisma.state.lock import RunLock, lock_state
from shopvisma.redact import register
from shopvisma.state.checkpoint import (
    Checkpoint,
    append_run_log,
    last_runs,
    load_checkpoint,
    save_checkpoint,
    state_paths,
)
from shopvisma.engine.sync_pass import PassResult, Services, Sink, run_pass

log = logging.getLogger("shopvisma.commands.common")


def open_services(settings: Settings, checkpoint_path: Any) -> Services:
    """Clients built from the secret store; a missing credential is an AuthError (77)
    that names the `shopvisma login ...` to run."""
    from shopvisma.state.secrets import SecretStore, TokenFile
    from shopvisma.shopify.client import ShopifyClient, ShopifyTokenProvider
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
    shopify = ShopifyClient(settings.shopify.api_url, token_provider, max_wait=settings.sync.max_wait_seconds)

    vid, vsecret = store.get("visma_client_id"), store.get("visma_client_secret")
    if not (vid and vsecret):
        raise AuthError("no Visma client id/secret found (env, keyring or secrets file)", hint="run: shopvisma login visma")
    register(vsecret)
    visma = VismaClient(settings.visma.api_url, settings.visma.identity_url, vid, vsecret, tokens,
                        max_wait=settings.sync.max_wait_seconds,
                        rate_limit=settings.sync.visma_requests_per_minute)
    from shopvisma.state import observations

    return Services(shopify=shopify, visma=visma, save_checkpoint=lambda cp: save_checkpoint(checkpoint_path, cp),
                    observations=observations.load(settings.state_dir),
                    save_observations=lambda obs: observations.save(settings.state_dir, obs))


def run_command(settings: Settings, *, dry_run: bool, limit: int | None = None,
                only: set[str] | None = None, services: Services | None = None,
                sink: Sink | None = None) -> PassResult:
    """`sync` / `dry-run` / `replay`: the lock is held for the whole pass (token rotation
    writes tokens.json under it). dry-run never saves the checkpoint or the run log."""
    paths = state_paths(settings.state_dir)
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with RunLock(settings.state_dir):
        checkpoint = load_checkpoint(paths.checkpoint)
        if services is None:
            services = open_services(settings, paths.checkpoint)
        if dry_run:
            services.save_checkpoint = lambda cp: None
        try:
            result = run_pass(settings, services, checkpoint, dry_run=dry_run, limit=limit, only=only, sink=sink)
        except ShopvismaError as exc:
            if not dry_run:
                _record(settings, checkpoint, None, exc, started)
            raise
        if not dry_run:
            _record(settings, checkpoint, result, None, started)
        return result


def _record(settings: Settings, checkpoint: Checkpoint, result: PassResult | None,
            error: ShopvismaError | None, started: float) -> None:
    paths = state_paths(settings.state_dir)
    record: dict[str, Any] = {
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "duration_s": round(time.monotonic() - started, 3),
    }
    if result is not None:
        record.update(exit_code=int(result.exit_code), counts=result.counts,
                      requests={"shopify": result.shopify_requests, "visma": result.visma_requests,
                                "visma_writes": result.visma_writes},
                      failed=[o.name for o in result.outcomes if o.status == "failed"])
    else:
        assert error is not None
        record.update(exit_code=int(error.exit_code), error=error.message)
    checkpoint.last_run = record
    save_checkpoint(paths.checkpoint, checkpoint)
    append_run_log(settings.state_dir, record)


def collect_status(settings: Settings) -> dict[str, Any]:
    """Everything an operator needs, from local files only (no network)."""
    from shopvisma.state.secrets import TokenFile

    paths = state_paths(settings.state_dir)
    checkpoint = load_checkpoint(paths.checkpoint)
    tokens = {}
    try:
        tokens = TokenFile(paths.tokens).load()
    except ShopvismaError as exc:
        tokens = {"error": exc.message}
    visma_tok = tokens.get("visma") or {}
    grant: dict[str, Any] = {
        "present": bool(visma_tok.get("refresh_token")),
        "refresh_token_rotated_at": visma_tok.get("rotated_at"),
        "access_token_expires_at": (
            datetime.fromtimestamp(float(visma_tok["expires_at"]), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            if visma_tok.get("expires_at") else None
        ),
    }
    if "error" in tokens:
        grant["error"] = tokens["error"]
    return {
        "schema": 1,
        "config": str(settings.path),
        "state_dir": str(settings.state_dir),
        "workflow": settings.visma.workflow,
        "last_run": checkpoint.last_run,
        "recent_runs": last_runs(settings.state_dir, 5),
        "bookmark": checkpoint.bookmark,
        "pending": [{"order": name, **info} for name, info in sorted(checkpoint.pending.items())],
        "in_doubt": [{"order": name, **info} for name, info in sorted(checkpoint.intents.items())],
        "attention": [{"order": name, **info} for name, info in sorted(checkpoint.edited.items())],
        "recent_transfers": len(checkpoint.recent),
        "visma_grant": grant,
        "lock": lock_state(settings.state_dir),
    }


def run_reconcile(settings: Settings, date_from: datetime, date_to: datetime) -> dict[str, Any]:
    """Read-only, but a Visma token refresh rewrites tokens.json: hold the run lock."""
    from shopvisma.commands.reconcile import reconcile

    paths = state_paths(settings.state_dir)
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    with RunLock(settings.state_dir):
        services = open_services(settings, paths.checkpoint)
        return reconcile(settings, services, date_from, date_to)


def run_doctor(settings: Settings) -> dict[str, Any]:
    """A live, read-only preflight (preflight.py) plus the company facts the mapping defaults
    come from, so the user can fill `[mapping]`. GETs only; the run lock is held because a
    token refresh rewrites tokens.json; what was observed is stored for the next passes."""
    from shopvisma.state import observations
    from shopvisma.visma import preflight
    from shopvisma.state.secrets import TokenFile

    paths = state_paths(settings.state_dir)
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    with RunLock(settings.state_dir):
        services = open_services(settings, paths.checkpoint)

        def stored_scope() -> str | None:
            try:
                scope = (TokenFile(paths.tokens).load().get("visma") or {}).get("scope")
            except ShopvismaError:
                return None
            return scope if isinstance(scope, str) and scope.strip() else None

        found = preflight.run(services.visma, settings, stored_scope=stored_scope,
                              previous=observations.load(settings.state_dir))
        observations.save(settings.state_dir, found.observations)
    company = found.company
    return {
        "company": None if company is None else {
            "country": company.country_code, "currency": company.currency,
            "show_prices_excl_vat_pc": company.show_prices_excl_vat_pc,
            "terms_of_payment_id": company.terms_of_payment_id, "unit_id": company.unit_id},
        "codings": [] if company is None else [
            {"id": c.id, "name": c.name, "type": c.type, "vat_percent": str(c.vat_percent), "active": c.active}
            for c in company.codings],
        "vat_mapping": {} if found.resolved is None else {str(rate): coding for rate, coding in _as_items(found.resolved)},
        "observations": [f.as_dict() for f in found.findings],
        "blocking": found.blocking,
        "exit_code": found.exit_code,
    }


def _as_items(resolved: Any) -> list[tuple[Any, Any]]:
    items = getattr(resolved, "items", None)
    return list(items()) if callable(items) else list(getattr(resolved, "codings", {}).items())
