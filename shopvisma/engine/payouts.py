"""The payout part of a pass ([payouts]): every PAID Shopify Payments payout → one voucher.

Two halves, so that nothing is written before both grants are known to be enough:
`fetch` (Shopify reads only: the payouts since the payout bookmark, and the stored Visma
scope claim) runs before the order pass, `book` after it. Exactly once without trusting
local state: a payout is done when Visma holds a voucher naming it (payout_ledger.py); the
checkpoint's `payouts.done` only spares the lookup, and `payouts.intents` marks a POST in
flight so `status` can say so. A SIGKILL after the POST, a lost checkpoint or a rerun all end
in the same lookup, which finds the voucher. Two runs at once are kept apart by the run lock.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from shopvisma.engine.outcomes import PassResult, PayoutOutcome
from shopvisma.engine.payout_ledger import NotConfirmed, VoucherBook, voucher_date
from shopvisma.errors import AuthError, ExitCode
from shopvisma.timefmt import iso_z, parse_iso, utc_now

if TYPE_CHECKING:
    from shopvisma.config.settings import Settings
    from shopvisma.engine.sync_pass import Services
    from shopvisma.mapping.voucher import VoucherPlan
    from shopvisma.shopify.payouts import GraphQL, Payout
    from shopvisma.state.checkpoint import Checkpoint

log = logging.getLogger("shopvisma.engine.payouts")

OVERLAP = timedelta(days=3)  # re-read this much before the payout bookmark (late status changes)
SUMMARY_RETRY = timedelta(days=1)  # a refused summary is asked for again after this
WAITING = ("SCHEDULED", "IN_TRANSIT")
NOT_PAID = ("FAILED", "CANCELED")
VOUCHER_SCOPE = "ea:accounting"


@dataclass
class PayoutBatch:
    """What `fetch` read from Shopify; `problem` replaces the payouts when there are none to read."""

    payouts: list[Payout]
    summary_read: bool = True
    problem: PayoutOutcome | None = None


def check_grant(scope_claim: str | None) -> None:
    """Stop before anything is written when the stored Visma grant says it cannot post vouchers.
    (No claim stored: the POST itself answers 403 / 4006, a VismaScopeError, 77, and nothing is made.)"""
    if scope_claim and VOUCHER_SCOPE not in scope_claim.split():
        raise AuthError(
            f"the Visma grant lacks the scope {VOUCHER_SCOPE}, which booking payout vouchers needs "
            "([payouts] is set); nothing was written",
            hint="run: shopvisma login visma (with [payouts] set it asks for ea:accounting)",
        )


def state_of(cp: Checkpoint) -> dict[str, Any]:
    """The checkpoint's payout section, created on first use."""
    st = cp.payouts if cp.payouts is not None else {}
    for key in ("done", "pending", "intents"):
        st.setdefault(key, {})
    st.setdefault("bookmark", None)
    st.setdefault("last", None)
    cp.payouts = st
    return st


def fetch(settings: Settings, services: Services, cp: Checkpoint, *, only: str | None = None) -> PayoutBatch:
    """The payouts this pass looks at: issued since the payout bookmark (less an overlap), never
    before go-live. Shopify reads only; ACCESS_DENIED is an AuthError naming the scopes (77)."""
    from shopvisma.shopify.payouts import NoPaymentsAccount, fetch_payouts, payouts_search

    go_live = settings.criteria.created_at_min
    st = cp.payouts or {}
    since = go_live
    if st.get("bookmark") and only is None:
        resume = parse_iso(str(st["bookmark"])) - OVERLAP
        since = max(go_live, resume) if go_live is not None else resume
    denied_at = st.get("summary_denied_at")
    summary = not denied_at or parse_iso(str(denied_at)) + SUMMARY_RETRY < utc_now()
    try:
        payouts, read = fetch_payouts(cast("GraphQL", services.shopify), payouts_search(since, only), summary=summary)
    except NoPaymentsAccount as exc:
        return PayoutBatch([], problem=PayoutOutcome("-", "pending", reason=exc.message, hint=exc.hint))
    if summary and not read:
        st["summary_denied_at"] = iso_z(utc_now())
        cp.payouts = st
    elif read:
        st.pop("summary_denied_at", None)
    payouts = [p for p in payouts if go_live is None or p.issued_at >= go_live]
    return PayoutBatch(payouts, summary_read=read)


def book(
    settings: Settings,
    services: Services,
    cp: Checkpoint,
    batch: PayoutBatch,
    result: PassResult,
    *,
    dry_run: bool,
    only: str | None = None,
) -> None:
    """Settle every payout of the batch into `result.payouts` (and the checkpoint unless dry-run)."""
    st = state_of(cp)
    ledger = VoucherBook(services.visma, services.observations)
    if batch.problem is not None:
        _add(result, batch.problem)
    todo: list[Payout] = []
    for p in batch.payouts:
        if p.status in WAITING:
            reason = f"Shopify status {p.status}: booked once it is PAID"
            _add(result, _outcome(p, "waiting", reason=reason))
            if not dry_run:
                st["pending"][p.legacy_id] = _pending_entry(st, p, reason, "", waiting=True)
        elif p.status != "PAID":
            _add(result, _outcome(p, "skipped", reason=f"Shopify status {p.status}: never booked"))
            st["pending"].pop(p.legacy_id, None)
        elif p.legacy_id not in st["done"] or only is not None:
            todo.append(p)
    if todo:
        found = ledger.vouchers_for([p.date for p in todo])
        for p in todo:
            vouchers = found.get(p.legacy_id)
            if vouchers:
                out = _outcome(p, "exists", voucher=vouchers[0], duplicates=len(vouchers) - 1)
                if not dry_run:
                    _done(st, p, vouchers[0])
                _add(result, out)
                continue
            out = _book_one(settings, services, ledger, cp, p, batch.summary_read, dry_run=dry_run)
            _add(result, out)
            if not dry_run:
                if out.status == "pending":
                    st["intents"].pop(p.legacy_id, None)
                    st["pending"][p.legacy_id] = _pending_entry(st, p, out.reason, out.hint)
                services.save_checkpoint(cp)
    if not dry_run:
        if only is None:
            _advance(st, batch.payouts, result.payouts)
        if ledger.learned:
            services.save_observations(services.observations)
        services.save_checkpoint(cp)
    if any(o.status == "pending" for o in result.payouts) and result.exit_code == ExitCode.OK:
        result.exit_code = ExitCode.PARTIAL
    for name, counter in (
        ("shopify_requests", "requests"),
        ("visma_requests", "requests"),
        ("visma_writes", "write_count"),
    ):
        client = services.shopify if name.startswith("shopify") else services.visma
        value = getattr(client, counter, 0)
        setattr(result, name, value if isinstance(value, int) else sum(value.values()))


def _book_one(
    settings: Settings,
    services: Services,
    book: VoucherBook,
    cp: Checkpoint,
    p: Payout,
    summary_read: bool,
    *,
    dry_run: bool,
) -> PayoutOutcome:
    """One PAID payout with no voucher in Visma: check, plan, (intent,) post."""
    from shopvisma.mapping.voucher import Accounts, FiguresDoNotAddUp, PayoutFigures, plan_voucher
    from shopvisma.visma.errors import VismaError, VismaModuleError, VismaStartupGuideError

    company = book.company_currency()
    if p.currency != company:
        return _outcome(
            p,
            "pending",
            reason=f"payout in {p.currency}, the Visma company books {company}: not booked (no rate is guessed)",
            hint=f"book it by hand with the text 'Shopify payout {p.legacy_id}' (sync then finds it)",
        )
    figures = _figures(services, p, summary_read)
    if isinstance(figures, str):
        return _outcome(p, "pending", reason=figures, hint="check the payout in Shopify; nothing was posted")
    gross, fees, currencies = figures
    if currencies - {p.currency}:
        return _outcome(p, "pending", reason=f"the payout's figures mix currencies ({', '.join(sorted(currencies))})")
    accounts = settings.payouts
    assert accounts is not None
    try:
        plan = plan_voucher(
            p.legacy_id,
            p.date,
            PayoutFigures(gross, fees, p.net, p.currency),
            Accounts(accounts.bank_account, accounts.clearing_account, accounts.fees_account),
        )
    except FiguresDoNotAddUp as exc:
        return _outcome(
            p, "pending", reason=str(exc), hint="nothing was posted; ask Shopify support, or book it by hand"
        )
    problem = book.books_problem(p.date, tuple(r.account for r in plan.rows))
    if problem is not None:
        return _outcome(p, "pending", plan=plan, reason=problem[0], hint=problem[1])
    if dry_run:
        return _outcome(p, "would-book", plan=plan, body=plan.body())
    st = state_of(cp)
    st["intents"][p.legacy_id] = {"started_at": iso_z(utc_now()), "date": p.date.isoformat()}
    services.save_checkpoint(cp)  # on disk before the POST: a crash leaves "in doubt", then a lookup
    try:
        made = book.post(plan)
    except NotConfirmed as exc:
        out = _outcome(p, "pending", plan=plan, reason=f"Visma did not confirm the voucher ({exc}); it was not made")
        out.hint, out.transient = "the next sync retries it", True
        return out
    except (VismaModuleError, VismaStartupGuideError):
        raise
    except VismaError as exc:
        if exc.status is None or not 400 <= exc.status < 500:
            raise
        return _outcome(p, "pending", plan=plan, reason=f"Visma refused the voucher: {exc.message}", hint=exc.hint)
    _done(st, p, made)
    return _outcome(p, "booked", plan=plan, voucher=made)


def _figures(services: Services, p: Payout, summary_read: bool) -> tuple[Any, Any, set[str]] | str:
    """(gross, fees, currencies) from the summary, or from the balance transactions when the
    summary could not be read; a string says why there are none."""
    from shopvisma.shopify.payouts import payout_transactions, transaction_figures

    got = p.summary_figures()
    if got is not None:
        return got[0], got[1], p.summary_currencies()
    txs = payout_transactions(cast("GraphQL", services.shopify), p)
    if not txs:
        return "Shopify lists no balance transactions for this payout, so its gross and fees are unknown"
    return transaction_figures(txs)


def _outcome(
    p: Payout,
    status: str,
    *,
    plan: VoucherPlan | None = None,
    voucher: dict[str, Any] | None = None,
    body: dict[str, Any] | None = None,
    reason: str = "",
    hint: str = "",
    duplicates: int = 0,
) -> PayoutOutcome:
    out = PayoutOutcome(
        p.legacy_id,
        status,
        date=p.date.isoformat(),
        shopify_status=p.status,
        currency=p.currency,
        net=f"{p.net:.2f}",
        reason=reason,
        hint=hint,
        body=body,
        duplicates=duplicates,
    )
    if plan is not None:
        out.gross, out.fees = f"{plan.figures.gross:.2f}", f"{plan.figures.fees:.2f}"
        out.rows = [
            {"account": r.account, "debit": f"{r.debit:.2f}", "credit": f"{r.credit:.2f}", "text": r.text}
            for r in plan.rows
        ]
    if voucher is not None:
        out.voucher_id = str(voucher.get("Id") or "")
        out.voucher_number = str(voucher.get("NumberAndNumberSeries") or "")
        if not out.rows:
            out.rows = [
                {
                    "account": str(r.get("AccountNumber")),
                    "debit": str(r.get("DebitAmount")),
                    "credit": str(r.get("CreditAmount")),
                }
                for r in voucher.get("Rows") or []
            ]
    return out


def _add(result: PassResult, outcome: PayoutOutcome) -> None:
    result.payouts.append(outcome)


def _done(st: dict[str, Any], p: Payout, voucher: dict[str, Any]) -> None:
    entry = {
        "voucher_id": str(voucher.get("Id") or ""),
        "number": str(voucher.get("NumberAndNumberSeries") or ""),
        "date": voucher_date(voucher.get("VoucherDate")) or p.date.isoformat(),
        "net": f"{p.net:.2f}",
        "currency": p.currency,
        "issued_at": iso_z(p.issued_at),
        "at": iso_z(utc_now()),
    }
    st["done"][p.legacy_id] = entry
    st["pending"].pop(p.legacy_id, None)
    st["intents"].pop(p.legacy_id, None)
    last = st.get("last") or {}
    if str(last.get("issued_at") or "") <= entry["issued_at"]:
        st["last"] = {"payout": p.legacy_id, **entry}


def _pending_entry(st: dict[str, Any], p: Payout, reason: str, hint: str, *, waiting: bool = False) -> dict[str, Any]:
    stamp = iso_z(utc_now())
    entry = dict(st["pending"].get(p.legacy_id) or {"first_seen": stamp, "attempts": 0})
    entry.update(
        reason=reason,
        hint=hint,
        status=p.status,
        waiting=waiting,
        issued_at=iso_z(p.issued_at),
        date=p.date.isoformat(),
        net=f"{p.net:.2f}",
        currency=p.currency,
        attempts=int(entry.get("attempts", 0)) + (0 if waiting else 1),
        last_tried=stamp,
    )
    return entry


def _advance(st: dict[str, Any], payouts: list[Payout], outcomes: list[PayoutOutcome]) -> None:
    """The bookmark: the oldest payout still open (waiting or pending), else the newest seen."""
    open_ids = {o.payout for o in outcomes if o.status in ("waiting", "pending")}
    seen = {p.legacy_id for p in payouts}
    for key in [k for k in st["pending"] if k not in open_ids and k in seen]:
        st["pending"].pop(key)  # settled (or no longer pending) this pass
    still_open = [parse_iso(str(e["issued_at"])) for e in st["pending"].values() if e.get("issued_at")]
    if still_open:
        st["bookmark"] = iso_z(min(still_open))
    elif payouts:
        newest = max(p.issued_at for p in payouts)
        current = st.get("bookmark")
        if current is None or parse_iso(str(current)) < newest:
            st["bookmark"] = iso_z(newest)


def reconcile_payouts(
    settings: Settings, services: Services, date_from: datetime, date_to: datetime
) -> tuple[int, int, list[dict[str, Any]]]:
    """(PAID payouts of the period, how many match, findings): per payout a voucher missing,
    more than one, or one whose rows differ from what the payout's figures give. Read-only."""
    from shopvisma.mapping.voucher import Accounts, FiguresDoNotAddUp, PayoutFigures, plan_key, plan_voucher, rows_key
    from shopvisma.shopify.payouts import fetch_payouts

    go_live = settings.criteria.created_at_min
    start = max(date_from, go_live) if go_live is not None else date_from
    search = f"issued_at:>='{iso_z(start)}' issued_at:<'{iso_z(date_to)}'"
    payouts, read = fetch_payouts(cast("GraphQL", services.shopify), search)
    payouts = [p for p in payouts if start <= p.issued_at < date_to]
    found = VoucherBook(services.visma, services.observations).vouchers_for([p.date for p in payouts])
    accounts = settings.payouts
    assert accounts is not None
    findings: list[dict[str, Any]] = []
    matched = 0
    paid = [p for p in payouts if p.status == "PAID"]

    def finding(p: Payout, problem: str, detail: str, vouchers: list[dict[str, Any]]) -> None:
        findings.append(
            {
                "order": f"payout {p.legacy_id}",
                "problem": problem,
                "detail": detail,
                "shopify_total": f"{p.net:.2f}",
                "documents": [f"voucher {v.get('NumberAndNumberSeries') or v.get('Id')}" for v in vouchers],
            }
        )

    for p in payouts:
        vouchers = found.get(p.legacy_id, [])
        if p.status != "PAID":
            if vouchers:
                finding(p, "unexpected", f"a voucher exists, but the payout is {p.status} in Shopify", vouchers)
            continue
        if not vouchers:
            finding(p, "missing", f"no Visma voucher has the text 'Shopify payout {p.legacy_id}'", [])
            continue
        if len(vouchers) > 1:
            finding(p, "duplicate", f"{len(vouchers)} Visma vouchers carry this payout's text", vouchers)
            continue
        figures = _figures(services, p, read)
        if isinstance(figures, str):
            finding(p, "figures", figures, vouchers)
            continue
        try:
            plan = plan_voucher(
                p.legacy_id,
                p.date,
                PayoutFigures(figures[0], figures[1], p.net, p.currency),
                Accounts(accounts.bank_account, accounts.clearing_account, accounts.fees_account),
            )
        except FiguresDoNotAddUp as exc:
            finding(p, "figures", str(exc), vouchers)
            continue
        got = rows_key(vouchers[0].get("Rows") or [])
        if got != plan_key(plan):
            shown = "; ".join(f"{a} D {d} C {c}" for a, d, c in got)
            want = "; ".join(f"{a} D {d} C {c}" for a, d, c in plan_key(plan))
            finding(p, "amount-mismatch", f"Visma rows {shown} vs expected {want}", vouchers)
            continue
        matched += 1
    return len(paid), matched, findings
