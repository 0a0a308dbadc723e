"""The command line: Typer wiring only. Options are parsed here, each command is one call
into shopvisma.commands, and the exit code it returns ends the process.

What is printed where, and how an error becomes an exit code, is console.Console's
job; what to print is render.py's. Heavy modules (rich, the sandbox, keyring, the
commands themselves) are imported inside the commands that need them: an idle cron
pass should cost little more than importing typer and requests.
"""

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from shopvisma import __version__
from shopvisma.console import Console
from shopvisma.errors import ExitCode

if TYPE_CHECKING:
    from shopvisma.config.settings import Settings

app = typer.Typer(
    name="shopvisma",
    help="Move Shopify orders into Visma eAccounting, exactly once. Run `sync` from cron.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,  # never show locals (secrets) in a traceback
    add_completion=True,
    rich_markup_mode=None,
)
login_app = typer.Typer(help="Store credentials in the secret store.", no_args_is_help=True)
app.add_typer(login_app, name="login")

# The common options, accepted before or after the command name (both work).
ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config", help="Config file (default: $SHOPVISMA_CONFIG or the user config dir).", show_default=False
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="One JSON document on stdout, nothing else on stdout.")]
QuietOpt = Annotated[bool, typer.Option("-q", "--quiet", help="Only errors on stderr.")]
VerboseOpt = Annotated[bool, typer.Option("-v", "--verbose", help="More detail on stderr.")]
LimitOpt = Annotated[int | None, typer.Option("--limit", min=1, help="At most N orders this pass.", show_default=False)]


def _version(value: bool) -> None:
    if value:
        print(f"shopvisma {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    config: ConfigOpt = None,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    ctx.obj = Console().merge(config, json_, quiet, verbose)  # one per invocation: nothing global


def _console(
    ctx: typer.Context, config: Path | None = None, json_: bool = False, quiet: bool = False, verbose: bool = False
) -> Console:
    """The invocation's console with the options given after the command name merged in."""
    console = ctx.find_object(Console) or Console()
    return console.merge(config, json_, quiet, verbose)


def _exit(console: Console, body: Callable[[], int]) -> NoReturn:
    """Every command ends here: the body runs inside the one error boundary."""
    raise typer.Exit(console.guard(body))


def _settings(console: Console, *, persist_log: bool = True) -> "Settings":
    """Config errors (78) surface inside the boundary; read-only commands pass
    persist_log=False so they leave the state dir untouched."""
    from shopvisma.config.settings import load_settings

    settings = load_settings(console.config)
    console.setup_logging(settings.state_dir, persist=persist_log, level=settings.sync.log_level)
    return settings


# --------------------------------------------------------------------------- commands


@app.command()
def sync(
    ctx: typer.Context,
    config: ConfigOpt = None,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    limit: LimitOpt = None,
) -> None:
    """One pass: transfer new matching Shopify orders to Visma, then exit (cron calls it again)."""

    def body() -> int:
        from shopvisma.commands import sync as cmd

        return cmd.run(_settings(c), c, dry_run=False, limit=limit)

    _exit(c := _console(ctx, config, json_, quiet, verbose), body)


@app.command("dry-run")
def dry_run(
    ctx: typer.Context,
    config: ConfigOpt = None,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    limit: LimitOpt = None,
) -> None:
    """Show exactly what `sync` would send to Visma, writing nothing anywhere."""

    def body() -> int:
        from shopvisma.commands import sync as cmd

        return cmd.run(_settings(c, persist_log=False), c, dry_run=True, limit=limit)

    _exit(c := _console(ctx, config, json_, quiet, verbose), body)


@app.command()
def status(
    ctx: typer.Context,
    config: ConfigOpt = None,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Last run, checkpoint, pending and failed orders, Visma grant and lock state (no network)."""

    def body() -> int:
        from shopvisma.commands import status as cmd

        return cmd.run(_settings(c, persist_log=False), c)

    _exit(c := _console(ctx, config, json_, quiet, verbose), body)


@login_app.command("shopify")
def login_shopify(
    ctx: typer.Context,
    token: Annotated[
        str | None,
        typer.Option(
            "--token", help="Static Admin API token (shpat_…) of an app created in the store admin.", show_default=False
        ),
    ] = None,
    client_id: Annotated[
        str | None,
        typer.Option(
            "--client-id", help="Client id of a Dev Dashboard app (client-credentials grant).", show_default=False
        ),
    ] = None,
    client_secret: Annotated[
        str | None,
        typer.Option("--client-secret", help="Client secret of that app (prompted when omitted).", show_default=False),
    ] = None,
    config: ConfigOpt = None,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Store Shopify credentials: a static token, or a client id + secret."""

    def body() -> int:
        from shopvisma.commands.login import login_shopify as cmd

        cmd(_settings(c), c, token=token, client_id=client_id, client_secret=client_secret)
        return 0

    _exit(c := _console(ctx, config, json_, quiet, verbose), body)


@login_app.command("visma")
def login_visma(
    ctx: typer.Context,
    no_browser: Annotated[
        bool, typer.Option("--no-browser", help="Print the URL and read the pasted redirect URL from stdin.")
    ] = False,
    client_id: Annotated[
        str | None, typer.Option("--client-id", help="Visma developer app client id.", show_default=False)
    ] = None,
    client_secret: Annotated[
        str | None, typer.Option("--client-secret", help="Client secret (prompted when omitted).", show_default=False)
    ] = None,
    config: ConfigOpt = None,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Run the Visma OAuth2 authorization-code flow and store the grant in tokens.json."""

    def body() -> int:
        from shopvisma.commands.login import login_visma as cmd

        cmd(_settings(c), c, no_browser=no_browser, client_id=client_id, client_secret=client_secret)
        return 0

    _exit(c := _console(ctx, config, json_, quiet, verbose), body)


@app.command()
def demo(
    ctx: typer.Context,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    orders: Annotated[
        int, typer.Option("--orders", min=0, help="Extra generated orders on top of the hand-picked ones.")
    ] = 0,
) -> None:
    """Run the whole job against the built-in sandbox of both APIs, in a temporary directory."""

    def body() -> int:
        from shopvisma.commands.demo import run_demo

        return run_demo(c, extra_orders=orders)

    _exit(c := _console(ctx, None, json_, quiet, verbose), body)


@app.command()
def init(ctx: typer.Context, config: ConfigOpt = None, quiet: QuietOpt = False) -> None:
    """Write a commented starter config file (never overwrites one)."""

    def body() -> int:
        from shopvisma.commands import init as cmd

        return cmd.run(c)

    _exit(c := _console(ctx, config, quiet=quiet), body)


# Not built from the registry: that would import the sandbox on every cron run. A test
# checks the names listed here against visma_quirks.QUIRKS.
QUIRK_HELP = (
    "Serve another reading of a behaviour Visma's docs leave open (repeatable; docs/sandbox.md, "
    "Readings): vat-rate-fraction, retry-after-header, retry-after-only, filter-whitelist, page-cap-50, "
    "create-200, put-204, inner-codes-int, startup-guide, no-order-module, no-sales-scope, "
    "includes-vat-spec-2026, vat-per-row, convert-200, payment-200, overpayment-accepted, "
    "credit-payment-positive, bank-fee-not-settling."
)


def _quirk_names(values: list[str] | None) -> list[str]:
    """A misspelt quirk must stop the command: serving the default reading instead would pass
    for a test of the reading asked for."""
    from shopvisma.sandbox.visma.quirks import check_quirks

    try:
        check_quirks(values or [])
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    return list(dict.fromkeys(values or []))


@app.command()
def sandbox(
    ctx: typer.Context,
    shopify_port: Annotated[int, typer.Option("--shopify-port", help="Port of the Shopify emulator.")] = 8001,
    visma_port: Annotated[int, typer.Option("--visma-port", help="Port of the Visma emulator.")] = 8002,
    orders: Annotated[int, typer.Option("--orders", help="Generated orders to seed.")] = 50,
    quirk: Annotated[
        list[str] | None,
        typer.Option("--quirk", metavar="NAME", help=QUIRK_HELP, callback=_quirk_names, show_default=False),
    ] = None,
) -> None:
    """Run both API emulators in the foreground on loopback (Ctrl-C stops them)."""

    def body() -> int:
        from shopvisma.commands.demo import serve_sandbox

        serve_sandbox(console=c, shopify_port=shopify_port, visma_port=visma_port, orders=orders, quirks=quirk or [])
        return 0

    _exit(c := _console(ctx), body)


@app.command()
def replay(
    ctx: typer.Context,
    order_name: Annotated[
        str | None, typer.Argument(help="Shopify order name, e.g. '#1001' (quote the #).", show_default=False)
    ] = None,
    payout: Annotated[
        str | None,
        typer.Option("--payout", help="A Shopify Payments payout id (legacyResourceId) instead of an order."),
    ] = None,
    dry: Annotated[bool, typer.Option("--dry-run", help="Show what would be sent; write nothing.")] = False,
    config: ConfigOpt = None,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Re-run one pending or failed order, or one payout (--payout ID), now (never created twice)."""

    def body() -> int:
        from shopvisma.commands import sync as cmd

        if (order_name is None) == (payout is None):
            raise typer.BadParameter("name one order, or one payout with --payout ID")
        if payout is not None:
            return cmd.replay_payout(_settings(c, persist_log=not dry), c, payout, dry_run=dry)
        return cmd.replay(_settings(c, persist_log=not dry), c, order_name or "", dry_run=dry)

    _exit(c := _console(ctx, config, json_, quiet, verbose), body)


@app.command()
def reconcile(
    ctx: typer.Context,
    date_from: Annotated[str, typer.Option("--from", help="First day (YYYY-MM-DD, inclusive).")],
    date_to: Annotated[str, typer.Option("--to", help="Last day (YYYY-MM-DD, inclusive).")],
    config: ConfigOpt = None,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Compare Shopify and Visma for a period: missing, duplicated and mismatched documents (read-only)."""

    def body() -> int:
        from datetime import UTC, datetime, timedelta

        from shopvisma import render
        from shopvisma.commands.reconcile import run_reconcile

        try:
            start = datetime.fromisoformat(date_from).replace(tzinfo=UTC)
            end = datetime.fromisoformat(date_to).replace(tzinfo=UTC) + timedelta(days=1)
        except ValueError:
            raise typer.BadParameter("dates are YYYY-MM-DD") from None
        doc = run_reconcile(_settings(c, persist_log=False), start, end)
        render.show_reconcile(c, doc)
        return 0 if doc["ok"] else int(ExitCode.PARTIAL)

    _exit(c := _console(ctx, config, json_, quiet, verbose), body)


@app.command()
def doctor(
    ctx: typer.Context,
    config: ConfigOpt = None,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Read-only preflight against the Visma company: what it does, what shopvisma will do.

    Checks the startup guide, scopes, order module, VAT rate scale, $filter support and page
    size with GETs only (no writes anywhere), lists the VAT codings, units and defaults for
    the [mapping] table, and stores what it saw in the state dir. Exit 0 when nothing blocks
    a sync, else the code of the first blocking row: 78 (company setup or config) or 77
    (a scope is missing: run `shopvisma login visma`).
    """

    def body() -> int:
        from shopvisma.commands import doctor as cmd

        return cmd.run(_settings(c, persist_log=False), c)

    _exit(c := _console(ctx, config, json_, quiet, verbose), body)


@app.command()
def schedule(
    ctx: typer.Context,
    interval: Annotated[
        int,
        typer.Option("--interval", min=1, help="Minutes between passes: a divisor of 60, or whole hours dividing 24."),
    ] = 5,
    executable: Annotated[
        str | None,
        typer.Option(
            "--executable", help="The shopvisma program to schedule (default: the one running now).", show_default=False
        ),
    ] = None,
    config: ConfigOpt = None,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Print a crontab line and systemd units for this config (installs nothing)."""

    def body() -> int:
        from shopvisma.commands import schedule as cmd

        # Loading validates: never schedule a config that exits 78.
        return cmd.run(_settings(c, persist_log=False), c, interval_minutes=interval, executable=executable)

    _exit(c := _console(ctx, config, json_, quiet, verbose), body)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
