"""One pass: Shopify orders → Visma documents, exactly once.

The *Visma side* is the source of truth for "done": every document carries the
Shopify order name in `YourReference` ("#1001", a refund "#1001 refund 1"), and
before creating anything the pass looks the chunk's references up in Visma. The
checkpoint only saves work (bookmark, recent transfers, pending reasons); losing
it costs requests, never a duplicate. Customers and articles are found by their
natural keys before they are created (matching.py), so a crash between two
writes is harmless too.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from dataclasses import field as dc_field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from typing import TYPE_CHECKING

from shopvisma.config.settings import Settings
from shopvisma.errors import ExitCode, OrderError, UnavailableError
from shopvisma.state.observations import Observations
from shopvisma.engine.records import CREDIT_KINDS, VismaView, WriteNotDone, batches, document_kinds, order_emails, quote
from shopvisma.state.checkpoint import Checkpoint, advance_bookmark, record_pending
from shopvisma.state.checkpoint import iso as iso_utc

if TYPE_CHECKING:  # loaded on the first order: an idle pass never imports the mapping code
    from shopvisma.engine.transfer import OrderOutcome
    from shopvisma.shopify.order import Order, Refund

log = logging.getLogger("shopvisma.engine.sync_pass")

CHUNK = 100  # orders handled together: one batched lookup per kind per chunk


Sink = Callable[["OrderOutcome"], None]
KEPT = ("failed", "edited")  # what a streamed pass still keeps: summaries, run log, notify need them


@dataclass
class PassResult:
    """Counts for every order; the outcomes themselves either all kept (tests, replay) or,
    with a `sink`, handed over as each order settles and only failed/edited ones kept, so a
    10,000-order backlog does not hold 10,000 outcomes (memory stays flat)."""

    command: str
    started_at: datetime
    finished_at: datetime | None = None
    outcomes: list[OrderOutcome] = dc_field(default_factory=list)
    bookmark: str | None = None
    shopify_requests: int = 0
    visma_requests: int = 0
    visma_writes: int = 0
    exit_code: ExitCode = ExitCode.OK
    unconfirmed: int = 0  # creates in a row that Visma did not confirm (see MAX_UNCONFIRMED)
    tally: Counter[str] = dc_field(default_factory=Counter)
    sink: Sink | None = dc_field(default=None, repr=False)

    def add(self, outcome: OrderOutcome) -> None:
        """Call once the outcome is final: the sink may print or serialize it right away."""
        self.tally[outcome.status] += 1
        if self.sink is not None:
            self.sink(outcome)
        if self.sink is None or outcome.status in KEPT:
            self.outcomes.append(outcome)

    def count(self, status: str) -> int:
        return self.tally[status]

    @property
    def counts(self) -> dict[str, int]:
        keys = ("created", "exists", "failed", "would-create", "edited")
        return {k: self.count(k) for k in keys if self.count(k)}

    def finish(self) -> PassResult:
        self.finished_at = datetime.now(UTC)
        if self.exit_code == ExitCode.OK and self.count("failed"):
            self.exit_code = ExitCode.PARTIAL
        return self

    def as_dict(self, *, orders: bool = True) -> dict[str, Any]:
        """`orders=False`: the document without its "orders" list (a streamed pass writes it)."""
        doc: dict[str, Any] = {
            "command": self.command,
            "started_at": iso_utc(self.started_at),
            "finished_at": iso_utc(self.finished_at) if self.finished_at else None,
            "exit_code": int(self.exit_code),
            "outcome": {0: "ok", 1: "partial"}.get(int(self.exit_code), "error"),
            "counts": self.counts,
            "bookmark": self.bookmark,
            "requests": {"shopify": self.shopify_requests, "visma": self.visma_requests,
                         "visma_writes": self.visma_writes},
        }
        if orders:
            doc["orders"] = [o.as_dict() for o in self.outcomes]
        return doc


@dataclass
class Services:
    """The clients and the checkpoint store a pass works with (built by runner.py, or tests)."""

    shopify: Any
    visma: Any
    save_checkpoint: Callable[[Checkpoint], None]
    # What this company's Visma was seen to do (observations.py), and where to keep it.
    observations: Observations = dc_field(default_factory=Observations)
    save_observations: Callable[[Observations], None] = lambda obs: None


def selected(order: Order, settings: Settings) -> str:
    """Why an order is not selected ("" when it is). Shopify filters server-side too;
    this is the client-side safety net so a loose search never transfers a wrong order."""
    c = settings.criteria
    if order.test:
        return "test order"
    if order.cancelled_at is not None:
        return "cancelled"
    if c.created_at_min and order.created_at < c.created_at_min:
        return "created before go-live (criteria.created_at_min)"
    if c.financial_status and order.financial_status not in c.financial_status:
        return f"financial status {order.financial_status or 'unknown'}"
    if c.fulfillment_status and order.fulfillment_status not in c.fulfillment_status:
        return f"fulfillment status {order.fulfillment_status}"
    tags = {t.lower() for t in order.tags}
    if c.tags_include and not tags & {t.lower() for t in c.tags_include}:
        return "missing an included tag"
    if tags & {t.lower() for t in c.tags_exclude}:
        return "has an excluded tag"
    return ""


def credited_refunds(order: Order) -> list[tuple[int, Refund]]:
    """The refunds that get a credit document, each with its number ("#1001 refund 2"). The
    number counts every refund in the order Shopify made them (created_at, then id), so a
    restock-only refund keeps its place and the numbering never shifts when one is added or
    listed out of order; sync and reconcile both number from here, so they cannot drift."""
    if not order.refunds:
        return []  # the common case, and an idle pass's: no mapping code to load
    from shopvisma.mapping import company as mapping

    ordered = sorted(order.refunds, key=lambda r: (r.created_at, r.id))
    return [(i, r) for i, r in enumerate(ordered, start=1) if mapping.refund_needs_credit(r)]


def open_refunds(order: Order, checkpoint: Checkpoint) -> list[tuple[int, Refund]]:
    """Refunds that still need a credit draft, numbered in the order Shopify made them."""
    return [(i, r) for i, r in credited_refunds(order) if r.id not in checkpoint.refunds_done]


# --------------------------------------------------------------------------- the pass


def run_pass(
    settings: Settings,
    services: Services,
    checkpoint: Checkpoint,
    *,
    dry_run: bool = False,
    limit: int | None = None,
    only: set[str] | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    sink: Sink | None = None,
) -> PassResult:
    """Run one pass. Raises ShopvismaError for pass-level failures (auth, unavailable);
    per-order problems become `failed` outcomes and the order stays pending."""
    started = now()
    result = PassResult(command="dry-run" if dry_run else "sync", started_at=started, sink=sink)
    view = VismaView(services.visma, settings, observations=services.observations)
    money = "shopMoney" if settings.mapping.currency == "shop" else "presentmentMoney"  # mapping.money_key
    newest_seen: datetime | None = None
    chunk: list[Order] = []
    seen: set[str] = set()
    taken = 0

    def flush() -> None:
        if chunk:
            _handle_chunk(chunk, settings, services, checkpoint, view, result, dry_run=dry_run,
                          recheck=only is not None)
            chunk.clear()

    try:
        # A bulk operation is a Shopify mutation (not in a dry-run), and its result is not
        # guaranteed in UPDATED_AT order (not with --limit, which advances the bookmark early).
        bulk_ok = settings.sync.bulk_first_import and not dry_run and limit is None
        for node in _candidate_nodes(settings, services, checkpoint, only, bulk_ok=bulk_ok):
            from shopvisma.shopify.order import parse_order

            order = parse_order(node, money=money)
            if order.name in seen:
                continue
            seen.add(order.name)
            if limit is not None and taken >= limit:
                break
            if newest_seen is None or order.updated_at > newest_seen:
                newest_seen = order.updated_at  # ascending UPDATED_AT: safe to resume after it
            if only is not None and order.name not in only:
                continue
            if only is None and selected(order, settings):
                checkpoint.pending.pop(order.name, None)  # e.g. cancelled since it failed
                continue
            done = checkpoint.recent.get(order.name)
            if done and only is None and order.name not in checkpoint.pending and not open_refunds(order, checkpoint):
                _check_edit(order, done, checkpoint, result, dry_run=dry_run)
                continue  # transferred in an earlier pass: no Visma request at all
            taken += 1
            chunk.append(order)
            if len(chunk) >= CHUNK:
                flush()
        flush()
    finally:
        if not dry_run and view.settle_observations("sync"):
            services.save_observations(services.observations)
        result.shopify_requests = _count(services.shopify, "requests")
        result.visma_requests = _count(services.visma, "requests")
        result.visma_writes = _count(services.visma, "write_count")
    if not dry_run and only is None:
        # A first pass that found nothing (a new shop) still sets the bookmark: otherwise
        # every idle pass would be a "first import" (a bulk operation, not one request).
        advance_bookmark(checkpoint, newest_seen if newest_seen is not None or checkpoint.bookmark else started,
                         started)
    result.bookmark = checkpoint.bookmark
    return result.finish()


def _count(client: Any, attr: str) -> int:
    value = getattr(client, attr, 0)
    if isinstance(value, int):
        return value
    try:
        return sum(value.values())
    except AttributeError:
        return 0


def _candidate_nodes(settings: Settings, services: Services, checkpoint: Checkpoint,
                     only: set[str] | None, *, bulk_ok: bool = False) -> Iterator[dict[str, Any]]:
    """Orders changed since the bookmark (minus an overlap: Shopify's search index lags
    writes), then pending orders outside that window, fetched by name."""
    from shopvisma.shopify.client import build_search

    names: list[str]
    if only is None:
        since = None
        if checkpoint.bookmark:
            overlap = timedelta(minutes=settings.sync.overlap_minutes)
            since = datetime.fromisoformat(checkpoint.bookmark.replace("Z", "+00:00")) - overlap
        search = build_search(settings.criteria, updated_since=since, created_at_min=settings.criteria.created_at_min)
        yielded: set[str] = set()
        # No bookmark (first run, lost checkpoint): the whole history, so one bulk operation.
        for node in services.shopify.iter_orders(search, want_refunds=_refunds_wanted(settings, checkpoint),
                                                 bulk=bulk_ok and not checkpoint.bookmark):
            yielded.add(node["name"])
            yield node
        pending = {info.get("order_name") or name for name, info in checkpoint.pending.items()}
        names = sorted(n for n in pending if n not in yielded)
    else:
        names = sorted(only)
    for batch in batches(names, 25):
        yield from services.shopify.iter_orders("(" + " OR ".join(f"name:{quote(n)}" for n in batch) + ")",
                                                want_refunds=_refunds_wanted(settings, checkpoint))


def _refunds_wanted(settings: Settings, checkpoint: Checkpoint) -> Callable[[dict[str, Any]], bool]:
    """Skip the refunds query for an order whose refunded amount is already all credited:
    a re-read of an old refunded order then costs no extra Shopify request."""
    side = "shopMoney" if settings.mapping.currency == "shop" else "presentmentMoney"  # mapping.money_key

    def wanted(node: dict[str, Any]) -> bool:
        done = checkpoint.recent.get(node.get("name", ""), {})
        amount = ((node.get("totalRefundedSet") or {}).get(side) or {}).get("amount")
        return amount is None or done.get("refunded") is None or Decimal(str(amount)) != Decimal(done["refunded"])

    return wanted


def _check_edit(order: Order, done: dict[str, Any], checkpoint: Checkpoint, result: PassResult,
                *, dry_run: bool) -> None:
    """An order edited after transfer is not re-posted (the document may be approved
    already); it is reported, in the pass output and in `status`, with what changed."""
    was = done.get("total")
    if was is None or Decimal(was) == order.total:
        return
    from shopvisma.engine.transfer import OrderOutcome  # not before: an idle pass re-reads unedited orders
    reason = f"edited in Shopify after transfer: total {Decimal(was):.2f} → {order.total:.2f} {order.currency}"
    result.add(OrderOutcome(order.name, "edited", order_id=order.id, reason=reason,
                                        document_id=done.get("document_id", ""), kind=done.get("kind", ""),
                                        hint="adjust the Visma document by hand, or credit and re-invoice it"))
    if not dry_run:
        checkpoint.edited[order.name] = {"was": was, "now": str(order.total), "at": iso_utc(datetime.now(UTC)),
                                         "document_id": done.get("document_id", "")}


def _handle_chunk(orders: list[Order], settings: Settings, services: Services, checkpoint: Checkpoint,
                  view: VismaView, result: PassResult, *, dry_run: bool, recheck: bool = False) -> None:
    """`recheck` (replay): look every order up in Visma, even those the checkpoint knows."""
    from shopvisma.mapping import company as mapping
    from shopvisma.engine.transfer import credit, mark_done, refund_reference, transfer, verify_existing

    refunds = {o.name: open_refunds(o, checkpoint) for o in orders}
    unsure = [o.name for o in orders if recheck or o.name not in checkpoint.recent or o.name in checkpoint.pending]
    view.lookup_documents(unsure, document_kinds(settings.visma.workflow))
    refund_refs = [refund_reference(o, i) for o in orders for i, _ in refunds[o.name]]
    if refund_refs:
        view.lookup_documents(refund_refs, CREDIT_KINDS)
    todo = [o for o in orders if o.name in unsure and o.name not in view.documents]
    failed: set[str] = set()
    for order in orders:
        doc = view.documents.get(order.name)
        if doc is not None and (recheck or order.name not in checkpoint.recent or order.name in checkpoint.pending):
            # Found by its reference but never seen settled here: exact before it counts as done.
            outcome = _guarded(order.name, order, lambda o, d=doc, order=order: verify_existing(
                order, d, settings, checkpoint, view, o, dry_run=dry_run))
            if outcome.status == "failed":
                failed.add(order.name)
            elif not dry_run:
                mark_done(checkpoint, order, doc.get("Id", ""), doc["_kind"])
            _settle(outcome, order, checkpoint, services, result, dry_run=dry_run)
    if todo or refund_refs:
        company = view.load_company()
        needing = todo + [o for o in orders if refunds[o.name]]
        view.lookup_customers(order_emails(needing))
        numbers: list[str] = []
        for o in needing:
            try:
                numbers += [a.number for a in mapping.needed_articles(o, company, settings.mapping)]
            except OrderError:
                pass  # reported with its reason when the order itself is planned
        view.lookup_articles(numbers)
    for order in orders:
        if order.name in failed:
            continue  # no credit against a document that is not right yet
        if order in todo:
            outcome = _guarded(order.name, order, lambda o: transfer(order, settings, services, checkpoint, view,
                                                                     o, dry_run=dry_run))
            _settle(outcome, order, checkpoint, services, result, dry_run=dry_run)
            if outcome.status == "failed":
                continue  # no credit for an order that is not in Visma yet
        credited = True
        for index, refund in refunds[order.name]:
            ref = refund_reference(order, index)
            outcome = _guarded(ref, order, lambda o: credit(order, refund, index, settings, services, checkpoint,
                                                            view, o, dry_run=dry_run))
            outcome.kind = "credit"
            credited = credited and outcome.status != "failed"
            _settle(outcome, order, checkpoint, services, result, dry_run=dry_run)
        if credited and not dry_run and order.name in checkpoint.recent:
            checkpoint.recent[order.name]["refunded"] = str(order.total_refunded)
    view.forget_chunk()
    if not dry_run:
        services.save_checkpoint(checkpoint)


def _guarded(name: str, order: Order, work: Callable[[OrderOutcome], None]) -> OrderOutcome:
    """Per-order errors become a failed outcome; the pass goes on with the next order."""
    from shopvisma.engine.transfer import OrderOutcome
    from shopvisma.visma.client import VismaValidationError

    outcome = OrderOutcome(name, "failed", order_id=order.id, currency=order.currency)
    try:
        work(outcome)
    except WriteNotDone as exc:
        outcome.status, outcome.reason, outcome.hint, outcome.field = "failed", exc.reason, exc.hint, exc.field
        outcome.transient = True
    except OrderError as exc:
        outcome.status, outcome.reason, outcome.hint, outcome.field = "failed", exc.reason, exc.hint, exc.field
    except VismaValidationError as exc:  # Visma refused this order's data (a missing module ends the pass: 78)
        outcome.status, outcome.reason = "failed", f"Visma refused it: {exc.message}"
        outcome.hint = exc.hint or "correct the order (or the config); the next sync retries it"
        outcome.field = ",".join(str(f.get("Field", "")) for f in getattr(exc, "field_errors", None) or [])
    return outcome


MAX_UNCONFIRMED = 3  # creates in a row that Visma did not confirm before the pass gives up (69)


def _settle(outcome: OrderOutcome, order: Order, checkpoint: Checkpoint, services: Services,
            result: PassResult, *, dry_run: bool) -> None:
    result.add(outcome)
    result.unconfirmed = result.unconfirmed + 1 if outcome.transient else 0
    if dry_run:
        return
    if outcome.status == "failed":
        checkpoint.intents.pop(outcome.name, None)
        entry = record_pending(checkpoint, outcome.name, order.id, iso_utc(order.updated_at), outcome.reason,
                               outcome.field)
        entry["hint"] = outcome.hint
        if outcome.name != order.name:
            entry["order_name"] = order.name
        services.save_checkpoint(checkpoint)
    # A success is saved with the next order's intent or at the end of the chunk: until
    # then its intent is on disk, and a crash only costs a lookup (found in Visma, done).
    if result.unconfirmed >= MAX_UNCONFIRMED:
        raise UnavailableError(f"Visma did not confirm {result.unconfirmed} creates in a row; stopping this pass",
                               hint="nothing was lost: the next scheduled run retries those orders")
