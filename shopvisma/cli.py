"""The command line: parse, call, print, exit. No business rules live here.

Only this module turns errors into exit codes (errors.ExitCode). Human output and
progress go to stderr; stdout carries only `--json` documents, so cron mail stays
short and scripts can pipe `--json` safely. Heavy modules (rich, the sandbox,
keyring) are imported inside the commands that need them: an idle cron pass
should cost little more than importing typer and requests.
"""


import logging
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from shopvisma import __version__
from shopvisma.errors import ExitCode, ShopvismaError

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

ConfigOpt = Annotated[Optional[Path], typer.Option("--config", help="Config file (default: $SHOPVISMA_CONFIG or the user config dir).", show_default=False)]
JsonOpt = Annotated[bool, typer.Option("--json", help="One JSON document on stdout, nothing else on stdout.")]
QuietOpt = Annotated[bool, typer.Option("-q", "--quiet", help="Only errors on stderr.")]
VerboseOpt = Annotated[bool, typer.Option("-v", "--verbose", help="More detail on stderr.")]
LimitOpt = Annotated[Optional[int], typer.Option("--limit", min=1, help="At most N orders this pass.", show_default=False)]


class Options:
    """Common options, given before or after the command name (both work)."""

    def __init__(self) -> None:
        self.config: Path | None = None
        self.json = False
        self.quiet = False
        self.verbose = False

    def merge(self, config: Path | None, json_: bool, quiet: bool, verbose: bool) -> "Options":
        self.config = config or self.config
        self.json = self.json or json_
        self.quiet = self.quiet or quiet
        self.verbose = self.verbose or verbose
        return self


OPTS = Options()


def _version(value: bool) -> None:
    if value:
        print(f"shopvisma {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    config: ConfigOpt = None,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")] = False,
) -> None:
    OPTS.__init__()
    OPTS.merge(config, json_, quiet, verbose)


# --------------------------------------------------------------------------- output helpers


def err(message: str = "") -> None:
    """Human output: stderr, never stdout."""
    if not OPTS.quiet:
        print(message, file=sys.stderr)


def emit_json(doc: Any) -> None:
    """stdout carries exactly one JSON document; Decimals stay exact numbers."""
    from shopvisma.http import encode_json

    print(encode_json(doc, indent=2).decode("utf-8"))


def fail(exc: ShopvismaError) -> None:
    from shopvisma.redact import redact

    text = redact(str(exc))
    if exc.exit_code == ExitCode.TEMPFAIL and OPTS.quiet:
        raise typer.Exit(int(exc.exit_code))  # overlapping cron runs are normal: no mail
    if OPTS.json:
        emit_json({"error": redact(exc.message), "hint": redact(exc.hint) or None, "exit_code": int(exc.exit_code)})
    print(f"shopvisma: error: {text}", file=sys.stderr)
    raise typer.Exit(int(exc.exit_code))


def guarded(fn):  # type: ignore[no-untyped-def]
    """Run a command body; a ShopvismaError becomes its exit code, anything else is a
    bug: a short message on stderr, the traceback only in the log file (exit 70)."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except typer.Exit:
            raise
        except ShopvismaError as exc:
            logging.getLogger("shopvisma").info("error: %s", exc)
            fail(exc)
        except KeyboardInterrupt:
            print("shopvisma: interrupted", file=sys.stderr)
            raise typer.Exit(130)
        except Exception as exc:  # noqa: BLE001 - the one place a bug becomes exit 70
            from shopvisma.redact import redact

            logging.getLogger("shopvisma").exception("internal error")
            where = _log_path_hint()
            print(f"shopvisma: internal error ({type(exc).__name__}): {redact(str(exc))[:200]}", file=sys.stderr)
            print(f"  the traceback is in {where}; please report it", file=sys.stderr)
            if OPTS.json:
                emit_json({"error": f"internal error ({type(exc).__name__})", "exit_code": int(ExitCode.SOFTWARE)})
            raise typer.Exit(int(ExitCode.SOFTWARE))

    return wrapper


def _log_path_hint() -> str:
    for h in logging.getLogger("shopvisma").handlers:
        h = getattr(h, "target", None) or h
        if isinstance(h, logging.FileHandler):
            return h.baseFilename
    return "the log file"


def setup_logging(state_dir: Path | None, *, persist: bool = True) -> None:
    """Log to shopvisma.log in the state dir. Read-only commands (persist=False) keep
    their records in memory and write them only if an error occurs, so `dry-run` leaves
    every file in the state dir byte-identical."""
    from shopvisma.redact import RedactingFilter

    logger = logging.getLogger("shopvisma")
    logger.setLevel(logging.DEBUG)
    for h in list(logger.handlers):
        logger.removeHandler(h)
        h.close()
    if state_dir is not None:
        try:
            state_dir.mkdir(parents=True, exist_ok=True)
            fh = logging.FileHandler(state_dir / "shopvisma.log", encoding="utf-8", delay=True)
            fh.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
            fh.addFilter(RedactingFilter())
            if persist:
                logger.addHandler(fh)
            else:
                from logging.handlers import MemoryHandler  # not on a sync: it imports pickle, socket, queue

                mh = MemoryHandler(10_000, flushLevel=logging.ERROR, target=fh, flushOnClose=False)
                mh.addFilter(RedactingFilter())
                logger.addHandler(mh)
        except OSError:
            pass
    if OPTS.verbose:
        sh = logging.StreamHandler(sys.stderr)
        sh.setFormatter(_NoTraceback())  # tracebacks go to the log file only
        sh.setLevel(logging.INFO)
        sh.addFilter(RedactingFilter())
        logger.addHandler(sh)


class _NoTraceback(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        saved = record.exc_info, record.exc_text
        record.exc_info = record.exc_text = None
        try:
            return super().format(record)
        finally:
            record.exc_info, record.exc_text = saved


def _settings(*, persist_log: bool = True):  # type: ignore[no-untyped-def]
    from shopvisma.config.settings import load_settings

    settings = load_settings(OPTS.config)
    setup_logging(settings.state_dir, persist=persist_log)
    return settings


# --------------------------------------------------------------------------- commands


@app.command()
@guarded
def sync(config: ConfigOpt = None, json_: JsonOpt = False, quiet: QuietOpt = False, verbose: VerboseOpt = False,
         limit: LimitOpt = None) -> None:
    """One pass: transfer new matching Shopify orders to Visma, then exit (cron calls it again)."""
    OPTS.merge(config, json_, quiet, verbose)
    from shopvisma.notify import pass_summary
    from shopvisma.commands.common import run_command

    settings = _settings()
    try:
        result = run_command(settings, dry_run=False, limit=limit, sink=(sink := _sink()))
    except ShopvismaError as exc:
        _ping(settings, int(exc.exit_code), exc.message)
        raise
    except Exception as exc:
        _ping(settings, int(ExitCode.SOFTWARE), f"internal error ({type(exc).__name__})")
        raise
    _ping(settings, int(result.exit_code), pass_summary(result))
    _report(result, sink)


def _ping(settings: Any, code: int, summary: str) -> None:
    """Monitoring (optional [notify] healthcheck_url): never fails the pass."""
    from shopvisma.notify import notify_after_pass

    problem = notify_after_pass(settings.notify.healthcheck_url, code, summary)
    if problem and OPTS.verbose:
        err(f"healthcheck ping: {problem}")


@app.command("dry-run")
@guarded
def dry_run(config: ConfigOpt = None, json_: JsonOpt = False, quiet: QuietOpt = False, verbose: VerboseOpt = False,
            limit: LimitOpt = None) -> None:
    """Show exactly what `sync` would send to Visma, writing nothing anywhere."""
    OPTS.merge(config, json_, quiet, verbose)
    from shopvisma.commands.common import run_command

    result = run_command(_settings(persist_log=False), dry_run=True, limit=limit, sink=(sink := _sink(dry=True)))
    _report(result, sink)


def _sink(*, dry: bool = False) -> Any:
    """Where each order's outcome goes as it settles: the --json spool, a stderr line, or
    (under -q) nowhere; the pass then keeps only failed/edited outcomes (flat memory)."""
    from shopvisma import render as report

    if OPTS.json:
        return report.JsonSpool()
    if OPTS.quiet:
        return lambda outcome: None
    return lambda outcome: report.print_outcome(outcome, dry=dry, verbose=OPTS.verbose)


def _report(result: Any, sink: Any = None) -> None:
    from shopvisma import render as report

    if OPTS.json:
        if isinstance(sink, report.JsonSpool):
            sink.write_document(result)
        else:
            emit_json(result.as_dict())
    elif not OPTS.quiet:
        if sink is None:
            report.print_pass(result, verbose=OPTS.verbose)
        else:
            report.print_summary(result, verbose=OPTS.verbose)
    elif result.exit_code:
        report.print_failures(result)
    raise typer.Exit(int(result.exit_code))


@app.command()
@guarded
def status(config: ConfigOpt = None, json_: JsonOpt = False, quiet: QuietOpt = False, verbose: VerboseOpt = False) -> None:
    """Last run, checkpoint, pending and failed orders, Visma grant and lock state (no network)."""
    OPTS.merge(config, json_, quiet, verbose)
    from shopvisma import render as report
    from shopvisma.commands.common import collect_status

    doc = collect_status(_settings(persist_log=False))
    if OPTS.json:
        emit_json(doc)
    else:
        report.print_status(doc)


@login_app.command("shopify")
@guarded
def login_shopify(
    token: Annotated[Optional[str], typer.Option("--token", help="Static Admin API token (shpat_…) of an app created in the store admin.", show_default=False)] = None,
    client_id: Annotated[Optional[str], typer.Option("--client-id", help="Client id of a Dev Dashboard app (client-credentials grant).", show_default=False)] = None,
    client_secret: Annotated[Optional[str], typer.Option("--client-secret", help="Client secret of that app (prompted when omitted).", show_default=False)] = None,
    config: ConfigOpt = None, json_: JsonOpt = False, quiet: QuietOpt = False, verbose: VerboseOpt = False,
) -> None:
    """Store Shopify credentials: a static token, or a client id + secret."""
    OPTS.merge(config, json_, quiet, verbose)
    from shopvisma.commands.login import login_shopify as do_login

    where = do_login(_settings(), token=token, client_id=client_id, client_secret=client_secret, say=err)
    if OPTS.json:
        emit_json({"stored": where})


@login_app.command("visma")
@guarded
def login_visma(
    no_browser: Annotated[bool, typer.Option("--no-browser", help="Print the URL and read the pasted redirect URL from stdin.")] = False,
    client_id: Annotated[Optional[str], typer.Option("--client-id", help="Visma developer app client id.", show_default=False)] = None,
    client_secret: Annotated[Optional[str], typer.Option("--client-secret", help="Client secret (prompted when omitted).", show_default=False)] = None,
    config: ConfigOpt = None, json_: JsonOpt = False, quiet: QuietOpt = False, verbose: VerboseOpt = False,
) -> None:
    """Run the Visma OAuth2 authorization-code flow and store the grant in tokens.json."""
    OPTS.merge(config, json_, quiet, verbose)
    from shopvisma.commands.login import login_visma as do_login

    info = do_login(_settings(), no_browser=no_browser, client_id=client_id, client_secret=client_secret, say=err)
    if OPTS.json:
        emit_json(info)


@app.command()
@guarded
def demo(json_: JsonOpt = False, quiet: QuietOpt = False, verbose: VerboseOpt = False,
         orders: Annotated[int, typer.Option("--orders", min=0, help="Extra generated orders on top of the hand-picked ones.")] = 0) -> None:
    """Run the whole job against the built-in sandbox of both APIs, in a temporary directory."""
    OPTS.merge(None, json_, quiet, verbose)
    from shopvisma.commands.demo import run_demo

    doc = run_demo(extra_orders=orders, say=err, verbose=OPTS.verbose)
    if OPTS.json:
        emit_json(doc)
    raise typer.Exit(int(doc.get("exit_code", 0)))


@app.command()
@guarded
def init(config: ConfigOpt = None, quiet: QuietOpt = False) -> None:
    """Write a commented starter config file (never overwrites one)."""
    OPTS.merge(config, False, quiet, False)
    from shopvisma.config.settings import config_path, write_starter_config

    path = config_path(OPTS.config)
    write_starter_config(path)
    err(f"wrote {path}; fill in [shopify] shop, then run `shopvisma login shopify` and `shopvisma login visma`")


# Not built from the registry: that would import the sandbox on every cron run. A test
# checks the names listed here against visma_quirks.QUIRKS.
QUIRK_HELP = ("Serve another reading of a behaviour Visma's docs leave open (repeatable; docs/sandbox.md, "
              "Readings): vat-rate-fraction, retry-after-header, retry-after-only, filter-whitelist, page-cap-50, "
              "create-200, put-204, inner-codes-int, startup-guide, no-order-module, no-sales-scope, "
              "includes-vat-spec-2026, vat-per-row.")


def _quirk_names(values: Optional[list[str]]) -> list[str]:
    """A misspelt quirk must stop the command: serving the default reading instead would pass
    for a test of the reading asked for."""
    from shopvisma.sandbox.visma.quirks import check_quirks

    try:
        check_quirks(values or [])
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    return list(dict.fromkeys(values or []))


@app.command()
@guarded
def sandbox(
    shopify_port: Annotated[int, typer.Option("--shopify-port", help="Port of the Shopify emulator.")] = 8001,
    visma_port: Annotated[int, typer.Option("--visma-port", help="Port of the Visma emulator.")] = 8002,
    orders: Annotated[int, typer.Option("--orders", help="Generated orders to seed.")] = 50,
    quirk: Annotated[Optional[list[str]], typer.Option("--quirk", metavar="NAME", help=QUIRK_HELP,
                                                       callback=_quirk_names, show_default=False)] = None,
) -> None:
    """Run both API emulators in the foreground on loopback (Ctrl-C stops them)."""
    from shopvisma.commands.demo import serve_sandbox

    serve_sandbox(shopify_port=shopify_port, visma_port=visma_port, orders=orders, say=err, quirks=quirk or [])


@app.command()
@guarded
def replay(
    order_name: Annotated[str, typer.Argument(help="Shopify order name, e.g. '#1001' (quote the #).")],
    dry: Annotated[bool, typer.Option("--dry-run", help="Show what would be sent; write nothing.")] = False,
    config: ConfigOpt = None, json_: JsonOpt = False, quiet: QuietOpt = False, verbose: VerboseOpt = False,
) -> None:
    """Re-run one pending or failed order now (it is still never created twice)."""
    OPTS.merge(config, json_, quiet, verbose)
    from shopvisma.commands.common import run_command

    name = order_name if order_name.startswith("#") else f"#{order_name}"
    result = run_command(_settings(persist_log=not dry), dry_run=dry, only={name})
    if not result.outcomes:
        from shopvisma.errors import OrderError

        fail(OrderError(name, "no such order in Shopify, or it does not match the criteria",
                        hint="check the name with `shopvisma status` and the [criteria] in the config"))
    _report(result)


@app.command()
@guarded
def reconcile(
    date_from: Annotated[str, typer.Option("--from", help="First day (YYYY-MM-DD, inclusive).")],
    date_to: Annotated[str, typer.Option("--to", help="Last day (YYYY-MM-DD, inclusive).")],
    config: ConfigOpt = None, json_: JsonOpt = False, quiet: QuietOpt = False, verbose: VerboseOpt = False,
) -> None:
    """Compare Shopify and Visma for a period: missing, duplicated and mismatched documents (read-only)."""
    OPTS.merge(config, json_, quiet, verbose)
    from datetime import UTC, datetime, timedelta

    from shopvisma import render as report
    from shopvisma.commands.common import run_reconcile

    try:
        start = datetime.fromisoformat(date_from).replace(tzinfo=UTC)
        end = datetime.fromisoformat(date_to).replace(tzinfo=UTC) + timedelta(days=1)
    except ValueError:
        raise typer.BadParameter("dates are YYYY-MM-DD") from None
    doc = run_reconcile(_settings(persist_log=False), start, end)
    if OPTS.json:
        emit_json(doc)
    else:
        report.print_reconcile(doc)
    raise typer.Exit(0 if doc["ok"] else int(ExitCode.PARTIAL))


@app.command()
@guarded
def doctor(config: ConfigOpt = None, json_: JsonOpt = False, quiet: QuietOpt = False, verbose: VerboseOpt = False) -> None:
    """Read-only preflight against the Visma company: what it does, what shopvisma will do.

    Checks the startup guide, scopes, order module, VAT rate scale, $filter support and page
    size with GETs only (no writes anywhere), lists the VAT codings, units and defaults for
    the [mapping] table, and stores what it saw in the state dir. Exit 0 when nothing blocks
    a sync, else the code of the first blocking row: 78 (company setup or config) or 77
    (a scope is missing: run `shopvisma login visma`).
    """
    OPTS.merge(config, json_, quiet, verbose)
    from shopvisma import render as report
    from shopvisma.commands.common import run_doctor

    doc = run_doctor(_settings(persist_log=False))
    if OPTS.json:
        emit_json(doc)
    elif not OPTS.quiet or doc.get("blocking"):
        report.print_doctor(doc, quiet=OPTS.quiet)
    raise typer.Exit(int(doc.get("exit_code") or 0))


@app.command()
@guarded
def schedule(
    interval: Annotated[int, typer.Option("--interval", min=1, help="Minutes between passes: a divisor of 60, or whole hours dividing 24.")] = 5,
    executable: Annotated[Optional[str], typer.Option("--executable", help="The shopvisma program to schedule (default: the one running now).", show_default=False)] = None,
    config: ConfigOpt = None, json_: JsonOpt = False, quiet: QuietOpt = False, verbose: VerboseOpt = False,
) -> None:
    """Print a crontab line and systemd units for this config (installs nothing)."""
    OPTS.merge(config, json_, quiet, verbose)
    from shopvisma.commands.schedule import render_schedule, schedule_text

    settings = _settings(persist_log=False)  # validates: never schedule a config that exits 78
    parts = render_schedule(settings.path, executable=executable, interval_minutes=interval,
                            state_dir=settings.state_dir)
    if OPTS.json:
        emit_json(parts)
    else:
        print(schedule_text(parts), end="")  # stdout on purpose: it is the command's product


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
