"""config.toml → a typed, validated, frozen `Settings` tree.

Every problem is a `ConfigError` (exit 78) naming the file, the dotted key and what
is wrong, because the reader is a shop owner looking at a cron mail, not a traceback.
Unknown keys are errors: a misspelt `financial_statuses` silently ignored would
transfer the wrong orders. The `[mapping]` table is validated from the annotations
of `MappingSettings`, so the mapping module can grow keys without touching this file.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
import typing
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from shopvisma.config.values import (
    URL,
    Problem,
    check_statuses,
    clean_tags,
    convert,
    normalize_shop,
    type_name,
    unknown_key,
    url_origin,
)
from shopvisma.errors import ConfigError
from shopvisma.mapping.settings import MappingSettings

APP = "shopvisma"
FINANCIAL_STATUSES = (
    "pending",
    "authorized",
    "partially_paid",
    "paid",
    "partially_refunded",
    "refunded",
    "voided",
    "expired",
)
FULFILLMENT_STATUSES = (
    "unfulfilled",
    "partially_fulfilled",
    "fulfilled",
    "restocked",
    "pending_fulfillment",
    "open",
    "in_progress",
    "on_hold",
    "scheduled",
    "request_declined",
)
VISMA_URLS = {
    "production": ("https://eaccountingapi.vismaonline.com/v2", "https://identity.vismaonline.com"),
    "sandbox": (
        "https://eaccountingapi-sandbox.test.vismaonline.com/v2",
        "https://identity-sandbox.test.vismaonline.com",
    ),
}
DEFAULT_API_VERSION = "2025-07"
DEFAULT_REDIRECT_URI = "http://127.0.0.1:8765/callback"


Workflow = Literal["invoice-draft", "order", "invoice"]
OrderStatus = Literal["draft", "ongoing", "shipped", "fulfillment"]
ConvertOrders = Literal["never", "when-fulfilled", "at-once"]


@dataclass(frozen=True)
class ShopifySettings:
    shop: str
    api_version: str = DEFAULT_API_VERSION
    api_url: str = ""
    origin: str = ""
    write_back: bool = False  # tag each order with where it went in Visma (needs write_orders)

    @property
    def token_url(self) -> str:
        """Client-credentials grant endpoint; follows an api_url override so the sandbox serves it."""
        return f"{self.origin}/admin/oauth/access_token"


@dataclass(frozen=True)
class VismaSettings:
    environment: Literal["production", "sandbox"] = "production"
    workflow: Workflow = "invoice-draft"
    api_url: str = VISMA_URLS["production"][0]
    identity_url: str = VISMA_URLS["production"][1]
    redirect_uri: str = DEFAULT_REDIRECT_URI
    order_status: OrderStatus = "draft"  # workflow = "order": the Status new Visma orders get
    convert_orders: ConvertOrders = "never"  # workflow = "order": when a Visma order is booked as an invoice

    @property
    def token_url(self) -> str:
        return f"{self.identity_url}/connect/token"

    @property
    def books_invoices(self) -> bool:
        """True when orders end as booked customer invoices, the documents payments go on."""
        return self.workflow == "invoice" or (self.workflow == "order" and self.convert_orders != "never")

    @property
    def authorize_url(self) -> str:
        return f"{self.identity_url}/connect/authorize"


@dataclass(frozen=True)
class Criteria:
    financial_status: tuple[str, ...] = ("paid",)
    fulfillment_status: tuple[str, ...] = ()
    created_at_min: datetime | None = None
    tags_include: tuple[str, ...] = ()
    tags_exclude: tuple[str, ...] = ()


@dataclass(frozen=True)
class NotifySettings:
    healthcheck_url: str = ""


MAX_CONCURRENCY = 16  # beyond this Visma's per-endpoint limit, not the round trips, sets the pace


@dataclass(frozen=True)
class SyncSettings:
    overlap_minutes: int = 10  # re-read window when the checkpoint has no searched_at (older build)
    search_lag_seconds: int = 60  # bound on Shopify's search-index lag (engine/selection.py:search_since)
    max_wait_seconds: int = 300
    visma_requests_per_minute: int = 590  # the client paces itself under Visma's 600/min per endpoint
    bulk_first_import: bool = True  # no bookmark yet: read the backlog with one bulk operation (bulk.py)
    log_level: Literal["info", "debug"] = "info"  # shopvisma.log; "debug" (or -v) adds a line per request
    concurrency: int = 8  # orders of one chunk in flight at once (engine/sync_pass.py); 1 = one at a time


@dataclass(frozen=True)
class PaymentSettings:
    """[payments]: Shopify gateway (lower case, or "*") → Visma bank account (ledger number or Id)."""

    accounts: dict[str, str] = field(default_factory=dict)

    def account_for(self, gateway: str) -> str | None:
        key = gateway.strip().lower()
        return self.accounts.get(key) or self.accounts.get("*")


@dataclass(frozen=True)
class PayoutSettings:
    """[payouts]: the three ledger accounts of a payout voucher."""

    bank_account: str
    clearing_account: str
    fees_account: str


@dataclass(frozen=True)
class Settings:
    path: Path
    shopify: ShopifySettings
    visma: VismaSettings = field(default_factory=VismaSettings)
    criteria: Criteria = field(default_factory=Criteria)
    mapping: MappingSettings = field(default_factory=MappingSettings)
    state_dir: Path = field(default_factory=lambda: _user_dir("state"))
    notify: NotifySettings = field(default_factory=NotifySettings)
    sync: SyncSettings = field(default_factory=SyncSettings)
    payments: PaymentSettings | None = None  # absent table = payments are not registered
    payouts: PayoutSettings | None = None  # absent table = payouts are not booked


# The schema of every table except [mapping]: key → annotation checked by convert.
# Docs and tests walk known_keys(), so a key added here must be documented.
_SCHEMA: dict[str, dict[str, Any]] = {
    "shopify": {"shop": str, "api_version": str, "api_url": URL, "write_back": bool},
    "visma": {
        "environment": Literal["production", "sandbox"],
        "workflow": Workflow,
        "order_status": OrderStatus,
        "convert_orders": ConvertOrders,
        "api_url": URL,
        "identity_url": URL,
        "redirect_uri": URL,
    },
    "criteria": {
        "financial_status": tuple[str, ...],
        "fulfillment_status": tuple[str, ...],
        "created_at_min": datetime,
        "tags_include": tuple[str, ...],
        "tags_exclude": tuple[str, ...],
    },
    "state": {"dir": str},
    "notify": {"healthcheck_url": URL},
    "sync": {
        "overlap_minutes": int,
        "search_lag_seconds": int,
        "max_wait_seconds": int,
        "visma_requests_per_minute": int,
        "bulk_first_import": bool,
        "log_level": Literal["info", "debug"],
        "concurrency": int,
    },
    "payments": {"accounts": dict[str, str]},
    "payouts": {"bank_account": str, "clearing_account": str, "fees_account": str},
}
_OPTIONAL_TABLES = ("payments", "payouts")  # present (even empty) = the feature is on


def _mapping_schema() -> dict[str, Any]:
    hints = typing.get_type_hints(MappingSettings)
    return {f.name: hints[f.name] for f in dataclasses.fields(MappingSettings)}


def known_keys() -> list[str]:
    """Every dotted key a config file may hold (docs and the unknown-key check use it)."""
    schema = {**_SCHEMA, "mapping": _mapping_schema()}
    return [f"{table}.{key}" for table, keys in schema.items() for key in keys]


def _user_dir(kind: str) -> Path:
    """platformdirs, imported only when no path is given (cron with SHOPVISMA_* set skips it)."""
    import platformdirs

    return platformdirs.user_state_path(APP) if kind == "state" else platformdirs.user_config_path(APP)


def config_path(explicit: Path | None = None) -> Path:
    if explicit is not None:
        return Path(explicit).expanduser()
    env = os.environ.get("SHOPVISMA_CONFIG", "").strip()
    if env:
        return Path(env).expanduser()
    return _user_dir("config") / "config.toml"


def load_settings(path: Path | None = None) -> Settings:
    path = config_path(path).absolute()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"config file {path} not found",
            hint="run `shopvisma init` to write a starter config there (or pass --config PATH / set SHOPVISMA_CONFIG)",
        ) from None
    except OSError as exc:
        raise ConfigError(
            f"config file {path} cannot be read: {exc.strerror or exc}", hint="check the path and its permissions"
        ) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {path} is not UTF-8 text (byte {exc.start})", hint="save it as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"config file {path} is not valid TOML: {exc}",
            hint="fix the syntax at that line (strings need quotes, lists need [ ])",
        ) from None
    return parse_settings(data, path)


def parse_settings(data: dict[str, Any], path: Path) -> Settings:
    """Validate an already-parsed TOML document; the demo builds its config this way."""
    problems: list[Problem] = []
    schema = {**_SCHEMA, "mapping": _mapping_schema()}
    tables: dict[str, dict[str, Any]] = {name: {} for name in schema}
    for name, value in data.items():
        if name not in schema:
            problems.append(unknown_key(name, [f"{t}.{k}" for t, ks in schema.items() for k in ks] + list(schema)))
        elif not isinstance(value, dict):
            problems.append(Problem(name, f"must be a table ([{name}]), not {type_name(value)}"))
        else:
            for key, item in value.items():
                dotted = f"{name}.{key}"
                if key not in schema[name]:
                    problems.append(unknown_key(dotted, [f"{name}.{k}" for k in schema[name]] + known_keys()))
                    continue
                try:
                    tables[name][key] = convert(item, schema[name][key], dotted)
                except Problem as problem:
                    problems.append(problem)
    settings = None
    if not problems:
        try:
            settings = _build(tables, path, frozenset(n for n in _OPTIONAL_TABLES if n in data))
        except Problem as problem:
            problems.append(problem)
    if problems:
        raise _error(path, problems)
    assert settings is not None
    return settings


def _error(path: Path, problems: list[Problem]) -> ConfigError:
    if len(problems) == 1:
        p = problems[0]
        err = ConfigError(f"config file {path}: key `{p.key}`: {p.what}", hint=p.hint)
    else:
        lines = "\n".join(f"  - `{p.key}`: {p.what}" + (f" ({p.hint})" if p.hint else "") for p in problems)
        err = ConfigError(f"config file {path}: {len(problems)} problems:\n{lines}", hint=problems[0].hint)
    err.path = path  # type: ignore[attr-defined]
    err.keys = [p.key for p in problems]  # type: ignore[attr-defined]
    return err


def _build(t: dict[str, dict[str, Any]], path: Path, present: frozenset[str] = frozenset()) -> Settings:
    sh, vi, cr, st = t["shopify"], t["visma"], t["criteria"], t["state"]
    api_version = sh.get("api_version", DEFAULT_API_VERSION).strip()
    if not re.fullmatch(r"\d{4}-\d{2}|unstable", api_version):
        raise Problem("shopify.api_version", f"{api_version!r} is not a Shopify API version", 'e.g. "2025-07"')
    if "shop" in sh:
        shop = normalize_shop(sh["shop"])
    elif "api_url" in sh:
        shop = urlsplit(sh["api_url"]).hostname or ""
    else:
        raise Problem(
            "shopify.shop", "is missing (required)", 'add it under [shopify], e.g. shop = "example.myshopify.com"'
        )
    shopify_url = sh.get("api_url") or f"https://{shop}/admin/api/{api_version}/graphql.json"
    shopify = ShopifySettings(
        shop, api_version, shopify_url, url_origin(shopify_url), write_back=sh.get("write_back", False)
    )

    env = vi.get("environment", "production")
    visma = VismaSettings(
        environment=env,
        workflow=vi.get("workflow", "invoice-draft"),
        api_url=vi.get("api_url", VISMA_URLS[env][0]),
        identity_url=vi.get("identity_url", VISMA_URLS[env][1]),
        redirect_uri=vi.get("redirect_uri", DEFAULT_REDIRECT_URI),
        order_status=vi.get("order_status", "draft"),
        convert_orders=vi.get("convert_orders", "never"),
    )
    for key in ("order_status", "convert_orders"):
        if key in vi and visma.workflow != "order":
            raise Problem(f"visma.{key}", f'only applies to workflow = "order" (workflow is "{visma.workflow}")')
    criteria = Criteria(
        financial_status=check_statuses(
            cr.get("financial_status", ("paid",)), FINANCIAL_STATUSES, "criteria.financial_status", "financial"
        ),
        fulfillment_status=check_statuses(
            cr.get("fulfillment_status", ()), FULFILLMENT_STATUSES, "criteria.fulfillment_status", "fulfillment"
        ),
        created_at_min=cr.get("created_at_min"),
        tags_include=clean_tags(cr.get("tags_include", ())),
        tags_exclude=clean_tags(cr.get("tags_exclude", ())),
    )
    sync = SyncSettings(**t["sync"])
    for name in ("overlap_minutes", "search_lag_seconds", "max_wait_seconds"):
        if getattr(sync, name) < 0:
            raise Problem(f"sync.{name}", "must not be negative")
    if sync.visma_requests_per_minute < 1:
        raise Problem("sync.visma_requests_per_minute", "must be at least 1")
    if not 1 <= sync.concurrency <= MAX_CONCURRENCY:
        raise Problem(
            "sync.concurrency",
            f"must be from 1 to {MAX_CONCURRENCY}",
            "8 is the default; 1 sends one request at a time",
        )
    return Settings(
        path=path,
        shopify=shopify,
        visma=visma,
        criteria=criteria,
        mapping=_mapping(t["mapping"]),
        state_dir=_state_dir(st.get("dir"), path),
        notify=NotifySettings(**t["notify"]),
        sync=sync,
        payments=_payments(t["payments"], visma) if "payments" in present else None,
        payouts=_payouts(t["payouts"]) if "payouts" in present else None,
    )


def _payments(values: dict[str, Any], visma: VismaSettings) -> PaymentSettings:
    if not visma.books_invoices:
        raise Problem(
            "payments",
            f'payments go on booked invoices; workflow "{visma.workflow}" books none',
            'set [visma] workflow = "invoice" (or workflow = "order" with convert_orders), or remove [payments]',
        )
    accounts: dict[str, str] = {}
    for gateway, account in values.get("accounts", {}).items():
        key, value = gateway.strip().lower(), account.strip()
        if not key or not value:
            raise Problem(f"payments.accounts.{gateway}", "is empty", 'e.g. shopify_payments = "1580"')
        if key in accounts:
            raise Problem(f"payments.accounts.{gateway}", "is given twice (gateway names ignore case)")
        accounts[key] = value
    if not accounts:
        raise Problem(
            "payments.accounts",
            "is missing or empty",
            'map each Shopify gateway to a Visma bank account, e.g. accounts = { shopify_payments = "1580", "*" = "1930" }',
        )
    return PaymentSettings(accounts)


def _payouts(values: dict[str, Any]) -> PayoutSettings:
    for key in ("bank_account", "clearing_account", "fees_account"):
        value = values.get(key, "").strip()
        if not value:
            raise Problem(f"payouts.{key}", "is missing (required with [payouts])", f'e.g. {key} = "1930"')
        if not re.fullmatch(r"\d{1,10}", value):
            raise Problem(f"payouts.{key}", f"{value!r} is not a ledger account number", 'e.g. "1930"')
        values[key] = value
    if len({values["bank_account"], values["clearing_account"], values["fees_account"]}) < 3:
        raise Problem("payouts", "bank_account, clearing_account and fees_account must be three different accounts")
    return PayoutSettings(values["bank_account"], values["clearing_account"], values["fees_account"])


def _mapping(values: dict[str, Any]) -> MappingSettings:
    try:
        return MappingSettings(**values)
    # Keys and types were checked against MappingSettings' annotations already: this only
    # turns a constructor that refuses a combination into a config problem, not a crash.
    except (TypeError, ValueError) as exc:
        raise Problem("mapping", str(exc)) from None


def _state_dir(configured: str | None, config_file: Path) -> Path:
    env = os.environ.get("SHOPVISMA_STATE_DIR", "").strip()
    if env:
        return Path(env).expanduser().absolute()
    if configured is not None:
        if not configured.strip():
            raise Problem("state.dir", "is empty", "remove the key to use the default state folder")
        return (config_file.parent / Path(configured.strip()).expanduser()).absolute()
    return _user_dir("state")


def write_starter_config(path: Path, shop: str = "") -> None:
    """Write a commented config that loads once `shop` is set; never overwrite the owner's file."""
    from shopvisma.config.starter import starter_text

    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(path, "x", encoding="utf-8") as fh:
            fh.write(starter_text(shop))
    except FileExistsError:
        raise ConfigError(
            f"config file {path} already exists; not overwriting it",
            hint="edit it, or move it aside and run `shopvisma init` again",
        ) from None
    os.chmod(path, 0o644)
