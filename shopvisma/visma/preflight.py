"""`shopvisma doctor`: a live, read-only preflight against the configured Visma company.

Visma's documentation leaves several behaviours open (shared/reference/visma-real-evidence.md):
the scale of a coding's `VatRatePercent`, which properties `$filter` accepts, the real page
size, whether the order module and the scopes are there, whether the startup guide is done.
shopvisma copes with every reading during a sync, but some of them block a sync outright
(a missing scope, module or startup guide) and the others cost requests. This module asks
the company itself, with GETs only, and says per point what it saw and what shopvisma will
do about it, so an operator learns it before the first cron pass instead of from cron mail.

It takes a VismaClient-like object (`get`, `iter_list`) and the Settings and returns
findings; the caller (commands/doctor.py, run_doctor) holds the lock and stores the observations.
An error of one probe becomes that probe's finding; only a failure of the whole service
(no usable token: 77, Visma unreachable: 69) propagates, as for every other command.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

from shopvisma.config.settings import Settings
from shopvisma.errors import ExitCode, ShopvismaError
from shopvisma.state.observations import Observations
from shopvisma.timefmt import iso_z

PROBE = "shopvisma-doctor-probe"  # a reference no real order has: the filter probe matches nothing
PROBE_PAGE_SIZE = 1000
LOGIN = "shopvisma login visma"
FULL_LIST = "refused: shopvisma matches on the full list (slower, still exactly once)"
# The scopes a sync needs, each observed through one read-only endpoint it guards.
SCOPE_PROBES: tuple[tuple[str, str], ...] = (("ea:sales", "customers"), ("ea:accounting", "vatcodes"))
SHORT = {"customerinvoicedrafts": "drafts", "customerinvoices": "invoices"}  # table labels; keys keep the path


@dataclass
class Finding:
    """One row of the doctor table: what was observed and what shopvisma does about it."""

    key: str  # stable id for scripts: "startup-guide", "scope:ea:sales", "filter:customers.EmailAddress", ...
    item: str
    observed: str
    action: str
    blocking: bool = False
    exit_code: int = 0  # the exit code this row forces when it blocks (78 setup, 77 scopes)

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "item": self.item,
            "observed": self.observed,
            "action": self.action,
            "blocking": self.blocking,
            "exit_code": self.exit_code,
        }


@dataclass
class Preflight:
    """Everything doctor learnt: the rows, the observations to store, and the company facts
    (None when Visma would not show them) for the codings/units/VAT mapping listing."""

    findings: list[Finding] = field(default_factory=list)
    observations: Observations = field(default_factory=Observations)
    company: Any = None  # mapping.Company
    resolved: Any = None  # mapping.codings.VatCodings

    @property
    def blocking(self) -> bool:
        return any(f.blocking for f in self.findings)

    @property
    def exit_code(self) -> int:
        """The first blocking row decides, so the table's order is the order to fix things in."""
        return next((f.exit_code for f in self.findings if f.blocking), 0)

    def add(self, *args: Any, **kwargs: Any) -> Finding:
        finding = Finding(*args, **kwargs)
        self.findings.append(finding)
        return finding


# --------------------------------------------------------------------------- classifying errors


def _code(exc: BaseException) -> int | None:
    code = getattr(exc, "error_code", None)
    return int(code) if isinstance(code, int) or (isinstance(code, str) and code.isdigit()) else None


def _status(exc: BaseException) -> int | None:
    status = getattr(exc, "status", None)
    return status if isinstance(status, int) else None


def whole_service(exc: ShopvismaError) -> bool:
    """No usable token (refresh refused, 401 after the refresh retry) or Visma unreachable
    (5xx after retries, timeouts): nothing else can be observed, so doctor stops with that
    code as every command does. A 4xx answer to one probe is that probe's observation."""
    status = _status(exc)
    if status is not None and status != 401:
        return False
    return int(exc.exit_code) in (ExitCode.UNAVAILABLE, ExitCode.NOPERM)


def is_startup_guide(exc: BaseException) -> bool:
    return _code(exc) == 4003


def is_scope(exc: BaseException) -> bool:
    """4006 NoAccessToScopes; a bare 403 with no code is read the same way (what else to tell)."""
    return _code(exc) == 4006 or (_status(exc) == 403 and _code(exc) is None)


def is_no_module(exc: BaseException) -> bool:
    """4002 on a 403 is NoAccessToModule (the same number means CanNotBeCreatedOrUpdated on writes)."""
    return _code(exc) == 4002 and _status(exc) in (403, None)


def describe(exc: ShopvismaError) -> str:
    """Short, for a table cell: the HTTP status and Visma's ErrorCode when there are any."""
    status, code = _status(exc), _code(exc)
    if status is not None:
        return f"HTTP {status}" + (f" ErrorCode {code}" if code is not None else "")
    return exc.message


def _attempt(fn: Callable[[], Any]) -> tuple[Any, ShopvismaError | None]:
    """(result, None) or (None, the error); a whole-service failure is raised instead."""
    try:
        return fn(), None
    except ShopvismaError as exc:
        if whole_service(exc):
            raise
        return None, exc


# --------------------------------------------------------------------------- the probes


def run(
    client: Any,
    settings: Settings,
    *,
    stored_scope: Callable[[], str | None] | None = None,
    previous: Observations | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Preflight:
    """Every observation, in the order an operator should fix what blocks. GETs only."""
    pf = Preflight(observations=_carry(previous or Observations()))
    _, guard = _attempt(lambda: client.get("companysettings"))
    if guard is not None and is_startup_guide(guard):
        pf.add(
            "startup-guide",
            "startup guide",
            f"not finished ({describe(guard)} StartupGuideNotCompleted)",
            "blocks every call: finish the startup guide in Visma (log in to the company in the browser "
            "and complete it), then run shopvisma doctor again",
            blocking=True,
            exit_code=int(ExitCode.CONFIG),
        )
        for key, item in (
            ("scopes", "scopes granted"),
            ("order-module", "order module"),
            ("vat-rate-scale", "coding VAT rate"),
            ("filters", "$filter lookups"),
            ("page-size", "page size"),
        ):
            pf.add(key, item, "not checked (every call answers 4003)", "run shopvisma doctor again after the guide")
    else:
        if guard is None:
            pf.add("startup-guide", "startup guide", "finished (company settings readable)", "none")
        elif is_scope(guard):
            pf.add(
                "startup-guide",
                "startup guide",
                f"not observable (GET /companysettings: {describe(guard)})",
                "see the scope rows",
            )
        else:
            code = (
                int(guard.exit_code)
                if int(guard.exit_code) in (ExitCode.CONFIG, ExitCode.NOPERM)
                else int(ExitCode.CONFIG)
            )
            pf.add(
                "startup-guide",
                "company access",
                f"GET /companysettings: {describe(guard)}",
                guard.hint or guard.message,
                blocking=True,
                exit_code=code,
            )
        refused_scopes = _scopes(pf, client, stored_scope)
        _order_module(pf, client, settings, refused_scopes)
        _company(pf, client, settings, (previous or Observations()).vat_rate_scale)
        _filters(pf, client, settings, refused_scopes)
        _page_size(pf, client, refused_scopes)
        if settings.payouts is not None:
            from shopvisma.engine.payout_ledger import doctor_rows

            p = settings.payouts
            claim = stored_scope() if stored_scope else None
            for row in doctor_rows(client, (p.bank_account, p.clearing_account, p.fees_account), claim):
                pf.add(**row)
    _includes_vat(pf)
    _rate_limit(pf, settings)
    pf.observations.observed_at = iso_z(now())
    pf.observations.by = "doctor"
    return pf


def _carry(previous: Observations) -> Observations:
    """Start from what earlier runs saw (IncludesVat, seen only on a created document, stays);
    every point probed here is overwritten."""
    return Observations(
        includes_vat=dict(previous.includes_vat),
        unfilterable=list(previous.unfilterable),
        filterable=list(previous.filterable),
    )


def _scopes(pf: Preflight, client: Any, stored_scope: Callable[[], str | None] | None) -> set[str]:
    """The token's `scope` (when the token file kept it) is a claim; one read per scope is the proof."""
    claimed = (stored_scope() if stored_scope else None) or ""
    granted = claimed.split()
    refused: set[str] = set()
    seen_ok: list[str] = []
    for scope, endpoint in SCOPE_PROBES:
        in_token = "not stored" if not claimed else ("yes" if any(g.startswith(scope) for g in granted) else "no")
        _, exc = _attempt(partial(client.get, endpoint, {"$pagesize": 1}))
        if exc is None:
            seen_ok.append(scope)
            pf.add(
                f"scope:{scope}",
                f"scope {scope}",
                f"granted (GET /{endpoint} answered; token scope: {in_token})",
                "none",
            )
        elif is_scope(exc):
            refused.add(scope)
            pf.add(
                f"scope:{scope}",
                f"scope {scope}",
                f"missing (GET /{endpoint}: {describe(exc)} NoAccessToScopes; token scope: {in_token})",
                f"grant {scope}: run {LOGIN} and accept every scope it asks for (the Visma user needs access "
                "to that area)",
                blocking=True,
                exit_code=int(ExitCode.NOPERM),
            )
        else:
            pf.add(
                f"scope:{scope}",
                f"scope {scope}",
                f"not observed (GET /{endpoint}: {describe(exc)})",
                "the next sync shows whether it is missing",
            )
    pf.observations.scopes = sorted({*(g for g in granted if not any(g.startswith(r) for r in refused)), *seen_ok})
    return refused


def _order_module(pf: Preflight, client: Any, settings: Settings, refused: set[str]) -> None:
    wanted = settings.visma.workflow == "order"
    if "ea:sales" in refused:
        pf.add(
            "order-module",
            "order module",
            "not checked (the grant lacks ea:sales)",
            "run shopvisma doctor again after the login",
        )
        return
    _, exc = _attempt(lambda: client.get("orders", {"$pagesize": 1}))
    if exc is None:
        pf.observations.order_module = True
        pf.add(
            "order-module",
            "order module",
            "active (GET /orders answered)",
            "creates sales orders" if wanted else f"not used (workflow = {settings.visma.workflow!r})",
        )
    elif is_no_module(exc):
        pf.observations.order_module = False
        fix = (
            'activate the order module (sales_standard) in Visma, or set [visma] workflow = "invoice-draft" '
            f"in {settings.path}"
        )
        pf.add(
            "order-module",
            "order module",
            f"not active ({describe(exc)} NoAccessToModule)",
            fix if wanted else f"not needed (workflow = {settings.visma.workflow!r})",
            blocking=wanted,
            exit_code=int(ExitCode.CONFIG) if wanted else 0,
        )
    else:
        pf.add(
            "order-module",
            "order module",
            f"not observed (GET /orders: {describe(exc)})",
            "the next sync shows it" if wanted else f"not needed (workflow = {settings.visma.workflow!r})",
        )


def _company(pf: Preflight, client: Any, settings: Settings, hint: str | None) -> None:
    """The codings' VAT scale, then the facts the mapping defaults come from (as doctor always listed)."""
    from shopvisma.engine.records import load_company
    from shopvisma.mapping.codings import resolve_vat_codings

    raw, exc = _attempt(lambda: list(client.iter_list("articleaccountcodings")))
    if exc is not None and is_scope(exc):
        pf.add(
            "vat-rate-scale",
            "coding VAT rate",
            f"not checked (GET /articleaccountcodings: {describe(exc)})",
            "see the scope rows",
        )
    elif exc is not None:
        pf.add(
            "vat-rate-scale",
            "coding VAT rate",
            f"not observed (GET /articleaccountcodings: {describe(exc)})",
            "a sync cannot map VAT rates without the codings: " + (exc.hint or "see the message"),
            blocking=True,
            exit_code=int(ExitCode.CONFIG),
        )
    else:
        _vat_scale(pf, raw, settings, hint)
    company, exc = _attempt(lambda: load_company(client, settings))
    if exc is not None and is_scope(exc):  # the scope row already blocks with 77
        pf.add("company-defaults", "company defaults", f"not checked ({describe(exc)})", "see the scope rows")
        return
    if exc is not None:
        pf.add(
            "company-defaults",
            "company defaults",
            exc.message,
            exc.hint or "fix it in Visma or in [mapping]",
            blocking=True,
            exit_code=int(ExitCode.CONFIG),
        )
        return
    pf.company = company
    pf.resolved = resolve_vat_codings(company, settings.mapping)
    problems = [f"{r} %: {why}" for r, why in sorted(pf.resolved.problems.items())]
    problems += [why for _, why in pf.resolved.key_problems]
    rates = ", ".join(str(r) for r in sorted(pf.resolved)) or "none"
    mapped = f"{len(pf.resolved)} rate(s) mapped ({rates} %); unit {company.unit_id or '-'}"
    pf.add(
        "vat-codings",
        "VAT codings",
        mapped + ("; " + "; ".join(problems) if problems else ""),
        "orders with an unmapped rate wait, named; set [mapping] vat_codings"
        if problems
        else "new articles get the coding of their VAT rate",
    )


def _vat_scale(pf: Preflight, raw: list[dict[str, Any]], settings: Settings, hint: str | None) -> None:
    """visma_readings decides the scale for the whole list; a coding whose label disagrees
    with its number (and is not settled by [mapping] vat_codings) blocks: VAT would be wrong."""
    from shopvisma.mapping.codings import rate_key
    from shopvisma.visma import readings as visma_readings

    stated = {cid: rate for key, cid in settings.mapping.vat_codings.items() if (rate := rate_key(key)) is not None}
    try:
        reading = visma_readings.read_codings(raw, hint, stated=stated)
    except ShopvismaError as exc:
        pf.add(
            "vat-rate-scale",
            "coding VAT rate",
            f"disagreement: {exc.message}",
            exc.hint or "correct the coding in Visma",
            blocking=True,
            exit_code=int(ExitCode.CONFIG),
        )
        return
    scale = reading.scale
    pf.observations.vat_rate_scale = scale
    seen = {
        "percent": "percent (VatRatePercent 25 = 25 %)",
        "fraction": "fraction (VatRatePercent 0.25 = 25 %)",
        "mixed": "mixed (each coding read by its VatRate label)",
    }.get(str(scale), "not determinable (every rate is 0)")
    pf.add(
        "vat-rate-scale",
        "coding VAT rate",
        f"{seen}; {len(raw)} codings",
        f"reads VatRatePercent as {scale}"
        if scale in ("percent", "fraction")
        else "reads each coding by its label; a coding that disagrees is refused by name",
    )


def lookups(settings: Settings) -> list[tuple[str, str]]:
    """Every (endpoint, property) a sync filters on: documents by reference (drafts and invoices
    always, for refunds and approved drafts; orders for workflow = "order"), customers by
    e-mail, articles by number."""
    docs = ["customerinvoicedrafts", "customerinvoices"] + (["orders"] if settings.visma.workflow == "order" else [])
    return [*((d, "YourReference") for d in docs), ("customers", "EmailAddress"), ("articles", "Number")]


def _filters(pf: Preflight, client: Any, settings: Settings, refused_scopes: set[str]) -> None:
    obs = pf.observations
    for endpoint, prop in lookups(settings):
        pair = [endpoint, prop]
        key, item = f"filter:{endpoint}.{prop}", f"$filter {SHORT.get(endpoint, endpoint)}.{prop}"
        if "ea:sales" in refused_scopes:
            pf.add(key, item, "not checked (the grant lacks ea:sales)", "run shopvisma doctor again after the login")
            continue
        if endpoint == "orders" and obs.order_module is False:
            pf.add(key, item, "not checked (no order module)", "see the order module row")
            continue
        params = {"$filter": f"{prop} eq '{PROBE}'", "$pagesize": 1}
        _, exc = _attempt(partial(client.get, endpoint, params))
        if exc is None:
            _mark(obs, pair, accepted=True)
            pf.add(key, item, "accepted", "looks up by filter (one request per 40 keys)")
        elif _status(exc) == 400:
            _mark(obs, pair, accepted=False)
            pf.add(key, item, f"refused ({describe(exc)})", FULL_LIST)
        else:
            pf.add(key, item, f"not observed ({describe(exc)})", "falls back to the full list if Visma refuses it")


def _mark(obs: Observations, pair: list[str], *, accepted: bool) -> None:
    keep, drop = (obs.filterable, obs.unfilterable) if accepted else (obs.unfilterable, obs.filterable)
    if pair in drop:
        drop.remove(pair)
    if pair not in keep:
        keep.append(pair)


def _page_size(pf: Preflight, client: Any, refused_scopes: set[str]) -> None:
    """Ask for 1000 rows; Meta.PageSize says what was served (or the rows, when there are more)."""
    endpoint = "vatcodes" if "ea:sales" in refused_scopes else "customers"
    body, exc = _attempt(lambda: client.get(endpoint, {"$pagesize": PROBE_PAGE_SIZE}))
    if exc is not None:
        pf.add(
            "page-size",
            "page size",
            f"not observed (GET /{endpoint}: {describe(exc)})",
            "pages by Visma's Meta totals whatever the size",
        )
        return
    size = served_page_size(body if isinstance(body, dict) else {})
    pf.observations.page_size = size
    seen = (
        f"{size} rows per page (asked {PROBE_PAGE_SIZE})"
        if size is not None
        else f"not determinable (GET /{endpoint} has too few rows and no Meta.PageSize)"
    )
    pf.add(
        "page-size",
        "page size",
        seen,
        "pages by Visma's Meta totals (more requests, nothing missed)"
        if size and size < PROBE_PAGE_SIZE
        else "pages by Visma's Meta totals",
    )


def served_page_size(body: dict[str, Any]) -> int | None:
    """A short page with more results left is the real size, whatever Meta claims."""
    raw_meta, raw_data = body.get("Meta"), body.get("Data")
    meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
    data: list[Any] = raw_data if isinstance(raw_data, list) else []
    total = meta.get("TotalNumberOfResults")
    claimed = meta.get("PageSize")
    if isinstance(total, int) and len(data) < min(total, PROBE_PAGE_SIZE):
        return len(data) if not isinstance(claimed, int) else min(claimed, len(data))
    return claimed if isinstance(claimed, int) else None


def _includes_vat(pf: Preflight) -> None:
    excl = getattr(pf.company, "show_prices_excl_vat_pc", None)
    company = "" if excl is None else f"; company ShowPricesExclVatPC = {str(excl).lower()}"
    seen = pf.observations.includes_vat
    observed = (
        "seen on documents: " + ", ".join(f"{case} -> IncludesVat {str(v).lower()}" for case, v in sorted(seen.items()))
        if seen
        else "not observable without writing a document"
    ) + company
    pf.add(
        "includes-vat",
        "IncludesVat reading",
        observed,
        "checked on every document (read back and corrected)"
        + ("; later documents are planned in the reading seen" if seen else ""),
    )


def _rate_limit(pf: Preflight, settings: Settings) -> None:
    pace = settings.sync.visma_requests_per_minute
    pf.add(
        "rate-limit",
        "rate limit",
        f"not probed; configured pace {pace}/min per endpoint ([sync] visma_requests_per_minute; Visma allows 600)",
        "paces itself under it; a 429 waits as long as Retry-After or the message says "
        f"(at most [sync] max_wait_seconds = {settings.sync.max_wait_seconds} s), then retries",
    )
