"""One pass: Shopify orders → Visma documents, exactly once.

The *Visma side* is the source of truth for "done": every document carries the
Shopify order name in `YourReference` ("#1001", a refund "#1001 refund 1":
references.py), and before creating anything the pass looks the chunk's references
up in Visma. The checkpoint only saves work (bookmark, recent transfers, pending
reasons); losing it costs requests, never a duplicate. Customers and articles are
found by their natural keys before they are created (records.py), so a crash
between two writes is harmless too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from dataclasses import field as dc_field
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, Any

from shopvisma.config.settings import Settings
from shopvisma.engine.outcomes import OrderOutcome, PassResult, Sink
from shopvisma.engine.records import VismaRecords, WriteNotDoneError, order_emails
from shopvisma.engine.references import CREDIT_KINDS, document_kinds, order_reference, refund_reference
from shopvisma.engine.selection import candidate_nodes, open_refunds, rejection_reason
from shopvisma.errors import OrderError, UnavailableError
from shopvisma.mapping.settings import money_key
from shopvisma.state.checkpoint import Checkpoint, advance_bookmark, record_pending
from shopvisma.state.observations import Observations
from shopvisma.timefmt import iso_z, utc_now

if TYPE_CHECKING:  # the Shopify order model loads with the first order: an idle pass has none
    from shopvisma.engine.ports import ShopifyApi, VismaApi
    from shopvisma.shopify.order import Order

log = logging.getLogger("shopvisma.engine.sync_pass")

CHUNK = 100  # orders handled together: one batched lookup per kind per chunk
MAX_UNCONFIRMED = 3  # creates in a row that Visma did not confirm before the pass gives up (69)


@dataclass
class Services:
    """The clients and the checkpoint store a pass works with (built by commands.common, or tests)."""

    shopify: ShopifyApi
    visma: VismaApi
    save_checkpoint: Callable[[Checkpoint], None]
    # What this company's Visma was seen to do (observations.py), and where to keep it.
    observations: Observations = dc_field(default_factory=Observations)
    save_observations: Callable[[Observations], None] = lambda obs: None


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
    view = VismaRecords(services.visma, settings, observations=services.observations)
    money = money_key(settings.mapping)
    newest_seen: datetime | None = None
    chunk: list[Order] = []
    seen: set[str] = set()
    taken = 0

    def flush() -> None:
        if chunk:
            _handle_chunk(
                chunk, settings, services, checkpoint, view, result, dry_run=dry_run, recheck=only is not None
            )
            chunk.clear()

    try:
        # A bulk operation is a Shopify mutation (not in a dry-run), and its result is not
        # guaranteed in UPDATED_AT order (not with --limit, which advances the bookmark early).
        bulk_ok = settings.sync.bulk_first_import and not dry_run and limit is None
        for node in candidate_nodes(settings, services.shopify, checkpoint, only, bulk_ok=bulk_ok):
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
            if only is None and rejection_reason(order, settings):
                checkpoint.pending.pop(order.name, None)  # e.g. cancelled since it failed
                continue
            done = checkpoint.recent.get(order.name)
            if (
                done
                and only is None
                and order.name not in checkpoint.pending
                and not open_refunds(order, checkpoint)
                and not _payments_due(order, done, settings)
                and not _follow_up_due(order, done, settings)
            ):
                _check_edit(order, done, checkpoint, result, dry_run=dry_run)
                continue  # transferred in an earlier pass: no Visma request at all
            taken += 1
            chunk.append(order)
            if len(chunk) >= CHUNK:
                flush()
        flush()
        if settings.shopify.write_back and not dry_run and only is None:
            from shopvisma.engine.writeback import flush_write_back

            flush_write_back(settings, services, checkpoint, result)
    finally:
        if not dry_run and view.settle_observations("sync"):
            services.save_observations(services.observations)
        result.shopify_requests = _count(getattr(services.shopify, "requests", 0))
        result.visma_requests = _count(getattr(services.visma, "requests", 0))
        result.visma_writes = _count(getattr(services.visma, "write_count", 0))
    if not dry_run and only is None:
        # A first pass that found nothing (a new shop) still sets the bookmark: otherwise
        # every idle pass would be a "first import" (a bulk operation, not one request).
        advance_bookmark(
            checkpoint, newest_seen if newest_seen is not None or checkpoint.bookmark else started, started
        )
    result.bookmark = checkpoint.bookmark
    return result.finish()


def _count(value: int | Mapping[Any, int]) -> int:
    """A client's counter as one number: Visma counts per endpoint, Shopify in total (and a
    test double may count nothing, hence the getattr defaults above)."""
    return value if isinstance(value, int) else sum(value.values())


def _check_edit(
    order: Order, done: dict[str, Any], checkpoint: Checkpoint, result: PassResult, *, dry_run: bool
) -> None:
    """An order edited after transfer is not re-posted (the document may be approved
    already); it is reported, in the pass output and in `status`, with what changed."""
    was = done.get("total")
    if was is None or Decimal(was) == order.total:
        return
    reason = f"edited in Shopify after transfer: total {Decimal(was):.2f} → {order.total:.2f} {order.currency}"
    result.add(
        OrderOutcome(
            order.name,
            "edited",
            order_id=order.id,
            reason=reason,
            document_id=done.get("document_id", ""),
            kind=done.get("kind", ""),
            hint="adjust the Visma document by hand, or credit and re-invoice it",
        )
    )
    if not dry_run:
        checkpoint.edited[order.name] = {
            "was": was,
            "now": str(order.total),
            "at": iso_z(utc_now()),
            "document_id": done.get("document_id", ""),
        }


def _handle_chunk(
    orders: list[Order],
    settings: Settings,
    services: Services,
    checkpoint: Checkpoint,
    view: VismaRecords,
    result: PassResult,
    *,
    dry_run: bool,
    recheck: bool = False,
) -> None:
    """`recheck` (replay): look every order up in Visma, even those the checkpoint knows."""
    from shopvisma.engine.transfer import credit, mark_done, transfer, verify_existing
    from shopvisma.mapping.plan import needed_articles

    refunds = {o.name: open_refunds(o, checkpoint) for o in orders}
    unsure = {o.name for o in orders if recheck or _unsettled(o, checkpoint, settings)}
    view.lookup_documents(
        [order_reference(o) for o in orders if o.name in unsure], document_kinds(settings.visma.workflow)
    )
    refund_refs = [refund_reference(o, i) for o in orders for i, _ in refunds[o.name]]
    if refund_refs:
        view.lookup_documents(refund_refs, CREDIT_KINDS)
    todo = [o for o in orders if o.name in unsure and order_reference(o) not in view.documents]
    failed: set[str] = set()
    concurrency = settings.sync.concurrency

    def check_found(order: Order) -> None:
        doc = view.documents[order_reference(order)]
        # Found by its reference but never seen settled here: exact before it counts as done.
        outcome = capture_order_errors(
            order.name, order, partial(verify_existing, order, doc, settings, checkpoint, view, dry_run=dry_run)
        )
        if outcome.status == "failed":
            failed.add(order.name)
        elif not dry_run:
            outcome.document_id, outcome.kind = (
                outcome.document_id or doc.get("Id", ""),
                outcome.kind or doc["_kind"],
            )
            mark_done(checkpoint, order, outcome)
            if settings.visma.workflow == "order":
                from shopvisma.engine.orders import remember

                remember(checkpoint.recent[order.name], order, settings, outcome, doc)
        _settle(outcome, order, checkpoint, services, result, dry_run=dry_run)

    found = [o for o in orders if order_reference(o) in view.documents and o.name in unsure]
    run_each(found, check_found, concurrency)
    if todo or refund_refs:
        company = view.load_company()
        needing = todo + [o for o in orders if refunds[o.name]]
        view.lookup_customers(order_emails(needing))
        numbers: list[str] = []
        for o in needing:
            try:
                numbers += [a.number for a in needed_articles(o, company, settings.mapping)]
            except OrderError:
                pass  # reported with its reason when the order itself is planned
        view.lookup_articles(numbers)
    to_transfer = {o.name for o in todo}

    def transfer_one(order: Order) -> None:
        """One order's own steps, in order: its document, then its refunds' credits."""
        if order.name in to_transfer:
            outcome = capture_order_errors(
                order.name, order, partial(transfer, order, settings, services, checkpoint, view, dry_run=dry_run)
            )
            _settle(outcome, order, checkpoint, services, result, dry_run=dry_run)
            if outcome.status == "failed":
                return  # no credit for an order that is not in Visma yet
        credited = True
        for index, refund in refunds[order.name]:
            ref = refund_reference(order, index)
            outcome = capture_order_errors(
                ref, order, partial(credit, order, refund, index, settings, services, checkpoint, view, dry_run=dry_run)
            )
            outcome.kind = "credit"
            credited = credited and outcome.status != "failed"
            _settle(outcome, order, checkpoint, services, result, dry_run=dry_run)
        if credited and not dry_run and order.name in checkpoint.recent:
            checkpoint.recent[order.name]["refunded"] = str(order.total_refunded)

    # No credit against a document that is not right yet (failed above).
    run_each([o for o in orders if o.name not in failed], transfer_one, concurrency)
    view.forget_chunk()
    if settings.shopify.write_back and not dry_run:  # never blocks the transfer: errors are queued
        from shopvisma.engine.writeback import write_back_chunk

        write_back_chunk(orders, settings, services, checkpoint, result)
    if not dry_run:
        services.save_checkpoint(checkpoint)


def run_each(items: list[Order], work: Callable[[Order], None], concurrency: int) -> None:
    """`work` for every order: one at a time, or `concurrency` orders in flight side by side
    (threads over the one pooled session; http.TURNS lets one run Python at a time, so they
    overlap only their round trips). Each order's own steps stay in order; the first
    pass-level error (auth, Visma unavailable) stops the orders not started yet and is raised."""
    if concurrency <= 1 or len(items) <= 1:
        for item in items:
            work(item)
        return
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from shopvisma.http import TURNS

    stop = threading.Event()

    def job(item: Order) -> None:
        with TURNS.turn():
            if stop.is_set():
                return
            try:
                work(item)
            except BaseException:
                stop.set()
                raise

    with ThreadPoolExecutor(max_workers=min(concurrency, len(items)), thread_name_prefix="order") as pool:
        futures = [pool.submit(job, item) for item in items]
    for future in futures:
        error = future.exception()
        if error is not None:
            raise error


def _payments_due(order: Order, done: dict[str, Any], settings: Settings) -> bool:
    if settings.payments is None:
        return False  # the common case: engine/payments is not even imported
    from shopvisma.engine.payments import payments_due

    return payments_due(order, done, settings)


def _unsettled(order: Order, checkpoint: Checkpoint, settings: Settings) -> bool:
    """Not known to be done here: looked up in Visma (and checked) before anything is written."""
    done = checkpoint.recent.get(order.name)
    return (
        done is None
        or order.name in checkpoint.pending
        or _payments_due(order, done, settings)
        or _follow_up_due(order, done, settings)
    )


def _follow_up_due(order: Order, done: dict[str, Any], settings: Settings) -> bool:
    if settings.visma.workflow != "order":
        return False  # engine/orders is not imported
    from shopvisma.engine.orders import follow_up_due

    return follow_up_due(order, done, settings)


def capture_order_errors(name: str, order: Order, work: Callable[[OrderOutcome], None]) -> OrderOutcome:
    """Per-order errors become a failed outcome; the pass goes on with the next order.
    Anything else (auth, Visma unavailable, a missing module, a bug) ends the pass."""
    from shopvisma.visma.errors import VismaValidationError

    outcome = OrderOutcome(name, "failed", order_id=order.id, currency=order.currency)
    try:
        work(outcome)
    except WriteNotDoneError as exc:
        outcome.status, outcome.reason, outcome.hint, outcome.field = "failed", exc.reason, exc.hint, exc.field
        outcome.transient = True
    except OrderError as exc:
        outcome.status, outcome.reason, outcome.hint, outcome.field = "failed", exc.reason, exc.hint, exc.field
    except VismaValidationError as exc:  # Visma refused this order's data (a missing module ends the pass: 78)
        outcome.status, outcome.reason = "failed", f"Visma refused it: {exc.message}"
        outcome.hint = exc.hint or "correct the order (or the config); the next sync retries it"
        outcome.field = ",".join(str(f.get("Field", "")) for f in getattr(exc, "field_errors", None) or [])
    return outcome


def _settle(
    outcome: OrderOutcome,
    order: Order,
    checkpoint: Checkpoint,
    services: Services,
    result: PassResult,
    *,
    dry_run: bool,
) -> None:
    result.add(outcome)
    result.unconfirmed = result.unconfirmed + 1 if outcome.transient else 0
    if dry_run:
        return
    if outcome.status == "failed":
        checkpoint.intents.pop(outcome.name, None)
        entry = record_pending(
            checkpoint, outcome.name, order.id, iso_z(order.updated_at), outcome.reason, outcome.field
        )
        entry["hint"] = outcome.hint
        if outcome.name != order.name:
            entry["order_name"] = order.name
        services.save_checkpoint(checkpoint)
    elif outcome.payment_pending:  # booked, but (some of) its payments are not on it: visible in `status`
        entry = record_pending(
            checkpoint,
            outcome.name,
            order.id,
            iso_z(order.updated_at),
            f"payment pending: {outcome.payment_pending}",
            outcome.field,
        )
        entry["hint"], entry["payment"] = outcome.payment_hint, True
        if outcome.name != order.name:
            entry["order_name"] = order.name
        services.save_checkpoint(checkpoint)
    # A success is saved with the next order's intent or at the end of the chunk: until
    # then its intent is on disk, and a crash only costs a lookup (found in Visma, done).
    if result.unconfirmed >= MAX_UNCONFIRMED:
        raise UnavailableError(
            f"Visma did not confirm {result.unconfirmed} creates in a row; stopping this pass",
            hint="nothing was lost: the next scheduled run retries those orders",
        )
