"""`sync`, `dry-run` and `replay`: one pass with everything around it.

`engine.sync_pass.run_pass` is the pass itself. This module holds the run lock
for the whole pass (token rotation writes tokens.json under it), loads the
checkpoint, records the run, pings the monitor and hands the result to the
renderer, so tests can drive a pass in-process (`run_sync`) through the same
path cron takes.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from shopvisma import render
from shopvisma.commands.common import locked_state_dir, open_services
from shopvisma.config.settings import Settings
from shopvisma.console import Console
from shopvisma.engine.outcomes import PassResult, Sink
from shopvisma.engine.sync_pass import Services, run_pass
from shopvisma.errors import ExitCode, OrderError, ShopvismaError
from shopvisma.state.checkpoint import load_checkpoint
from shopvisma.state.run_record import record_run


def run_sync(
    settings: Settings,
    *,
    dry_run: bool,
    limit: int | None = None,
    only: set[str] | None = None,
    services: Services | None = None,
    sink: Sink | None = None,
    payout: str | None = None,
) -> PassResult:
    """One locked pass. dry-run never saves the checkpoint or the run log; a pass cut
    short by a ShopvismaError is still recorded, so `status` shows why. With [payouts] the
    payouts are read (and both grants checked) before the order pass writes anything, and
    booked after it; `payout` (replay) runs that one payout and no orders."""
    started = time.monotonic()
    with locked_state_dir(settings) as paths:
        checkpoint = load_checkpoint(paths.checkpoint)
        if services is None:
            services = open_services(settings, paths.checkpoint)
        if dry_run:
            services.save_checkpoint = lambda cp: None
        try:
            batch = None
            if settings.payouts is not None and (only is None or payout is not None):
                from shopvisma.engine import payouts
                from shopvisma.state.secrets import TokenFile

                def claim() -> str | None:
                    return (TokenFile(paths.tokens).load().get("visma") or {}).get("scope")

                if claim() is None and hasattr(services.visma, "access_token"):
                    services.visma.access_token()  # the refresh the pass makes anyway, now: it stores the scope
                payouts.check_grant(claim())
                batch = payouts.fetch(settings, services, checkpoint, only=payout)
            if payout is None:
                result = run_pass(settings, services, checkpoint, dry_run=dry_run, limit=limit, only=only, sink=sink)
            else:
                result = PassResult(command="dry-run" if dry_run else "sync", started_at=datetime.now(UTC)).finish()
            if batch is not None:
                payouts.book(settings, services, checkpoint, batch, result, dry_run=dry_run, only=payout)
        except ShopvismaError as exc:
            if not dry_run:
                record_run(settings.state_dir, checkpoint, None, exc, started)
            raise
        if not dry_run:
            record_run(settings.state_dir, checkpoint, result, None, started)
        return result


def run(settings: Settings, console: Console, *, dry_run: bool, limit: int | None = None) -> int:
    """`sync` / `dry-run`. Only a real pass pings the monitor, and it pings whatever the
    outcome (a bug included) so that silence means the job stopped running."""
    sink = render.pass_sink(console, dry=dry_run)
    try:
        if dry_run:
            result = run_sync(settings, dry_run=True, limit=limit, sink=sink)
        else:
            try:
                result = run_sync(settings, dry_run=False, limit=limit, sink=sink)
            except ShopvismaError as exc:
                _ping(settings, console, int(exc.exit_code), exc.message)
                raise
            except Exception as exc:
                _ping(settings, console, int(ExitCode.SOFTWARE), f"internal error ({type(exc).__name__})")
                raise
            _ping(settings, console, int(result.exit_code), render.pass_summary(result))
    finally:
        if isinstance(sink, render.ProgressSink):
            sink.close()  # an error message must not land inside a live progress line
    render.show_pass(console, result, sink)
    return int(result.exit_code)


def replay(settings: Settings, console: Console, order_name: str, *, dry_run: bool) -> int:
    """Re-run one order now; an order the pass never saw is an error, not "nothing to do",
    because the user named it and expects it to exist."""
    name = order_name if order_name.startswith("#") else f"#{order_name}"
    result = run_sync(settings, dry_run=dry_run, only={name})
    if not result.outcomes:
        raise OrderError(
            name,
            "no such order in Shopify, or it does not match the criteria",
            hint="check the name with `shopvisma status` and the [criteria] in the config",
        )
    render.show_pass(console, result)
    return int(result.exit_code)


def replay_payout(settings: Settings, console: Console, payout_id: str, *, dry_run: bool) -> int:
    """Re-run one payout now (looked up in Visma first, as always); like an order, a payout
    Shopify does not list (or [payouts] off) is an error naming it."""
    from shopvisma.errors import ConfigError

    if settings.payouts is None:
        raise ConfigError("[payouts] is not set, so no payout is booked", hint="add [payouts] (docs/configuration.md)")
    key = payout_id.strip().rsplit("/", 1)[-1]
    result = run_sync(settings, dry_run=dry_run, payout=key)
    if not result.payouts:
        raise OrderError(
            f"payout {key}",
            "no such payout in Shopify, or it was issued before criteria.created_at_min",
            hint="check the id (legacyResourceId) in Shopify admin → Payouts, or `shopvisma status`",
        )
    render.show_pass(console, result)
    return int(result.exit_code)


def _ping(settings: Settings, console: Console, code: int, summary: str) -> None:
    """Monitoring (optional [notify] healthcheck_url): never fails the pass, and a failed
    ping is only shown under -v (it is in the log file either way)."""
    from shopvisma.notify import notify_after_pass

    problem = notify_after_pass(settings.notify.healthcheck_url, code, summary)
    if problem and console.verbose:
        console.say(f"healthcheck ping: {problem}")
