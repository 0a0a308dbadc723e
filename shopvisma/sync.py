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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from dataclasses import field as dc_field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from shopvisma import mapping
from shopvisma.config import Settings
from shopvisma.errors import ExitCode, OrderError
from shopvisma.matching import CREDIT_KINDS, VismaView, batches, document_kinds, order_emails, quote
from shopvisma.model import Order, Refund, parse_order
from shopvisma.state import (
    Checkpoint,
    advance_bookmark,
    record_intent,
    record_pending,
    record_refund,
    record_transfer,
)

log = logging.getLogger("shopvisma.sync")

CHUNK = 100  # orders handled together: one batched lookup per kind per chunk


@dataclass
class OrderOutcome:
    """What happened to one order (or refund) in this pass; `status` drives the exit code."""

    name: str
    status: str  # created | exists | failed | would-create | edited
    order_id: str = ""
    document_id: str = ""
    kind: str = ""  # draft | order | invoice | credit
    reason: str = ""
    field: str = ""
    hint: str = ""
    customer: str = ""  # "reuse 12" | "create" | "created 13"
    articles: list[str] = dc_field(default_factory=list)
    body: dict[str, Any] | None = None
    expected_total: str = ""
    visma_total: str = ""
    currency: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v not in ("", None, [])}


@dataclass
class PassResult:
    command: str
    started_at: datetime
    finished_at: datetime | None = None
    outcomes: list[OrderOutcome] = dc_field(default_factory=list)
    bookmark: str | None = None
    shopify_requests: int = 0
    visma_requests: int = 0
    visma_writes: int = 0
    exit_code: ExitCode = ExitCode.OK

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def counts(self) -> dict[str, int]:
        keys = ("created", "exists", "failed", "would-create", "edited")
        return {k: self.count(k) for k in keys if self.count(k)}

    def finish(self) -> PassResult:
        self.finished_at = datetime.now(UTC)
        if self.exit_code == ExitCode.OK and self.count("failed"):
            self.exit_code = ExitCode.PARTIAL
        return self

    def as_dict(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at) if self.finished_at else None,
            "exit_code": int(self.exit_code),
            "outcome": {0: "ok", 1: "partial"}.get(int(self.exit_code), "error"),
            "counts": self.counts,
            "bookmark": self.bookmark,
            "requests": {"shopify": self.shopify_requests, "visma": self.visma_requests,
                         "visma_writes": self.visma_writes},
            "orders": [o.as_dict() for o in self.outcomes],
        }


@dataclass
class Services:
    """The clients and the checkpoint store a pass works with (built by runner.py, or tests)."""

    shopify: Any
    visma: Any
    save_checkpoint: Callable[[Checkpoint], None]


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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


def open_refunds(order: Order, checkpoint: Checkpoint) -> list[tuple[int, Refund]]:
    """Refunds that still need a credit draft, numbered in the order Shopify made them."""
    ordered = sorted(order.refunds, key=lambda r: (r.created_at, r.id))
    return [(i, r) for i, r in enumerate(ordered, start=1)
            if r.id not in checkpoint.refunds_done and mapping.refund_needs_credit(r)]


def _ref(order: Order, index: int) -> str:
    return f"{order.name} refund {index}"


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
) -> PassResult:
    """Run one pass. Raises ShopvismaError for pass-level failures (auth, unavailable);
    per-order problems become `failed` outcomes and the order stays pending."""
    started = now()
    result = PassResult(command="dry-run" if dry_run else "sync", started_at=started)
    view = VismaView(services.visma, settings)
    money = mapping.money_key(settings.mapping)
    newest_seen: datetime | None = None
    chunk: list[Order] = []
    seen: set[str] = set()
    taken = 0

    def flush() -> None:
        if chunk:
            _handle_chunk(chunk, settings, services, checkpoint, view, result, dry_run=dry_run)
            chunk.clear()

    try:
        for node in _candidate_nodes(settings, services, checkpoint, only):
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
            if done and order.name not in checkpoint.pending and not open_refunds(order, checkpoint):
                _check_edit(order, done, checkpoint, result, dry_run=dry_run)
                continue  # transferred in an earlier pass: no Visma request at all
            taken += 1
            chunk.append(order)
            if len(chunk) >= CHUNK:
                flush()
        flush()
    finally:
        result.shopify_requests = _count(services.shopify, "requests")
        result.visma_requests = _count(services.visma, "requests")
        result.visma_writes = _count(services.visma, "write_count")
    if not dry_run and only is None:
        advance_bookmark(checkpoint, newest_seen, started)
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
                     only: set[str] | None) -> Iterator[dict[str, Any]]:
    """Orders changed since the bookmark (minus an overlap: Shopify's search index lags
    writes), then pending orders outside that window, fetched by name."""
    from shopvisma.shopify import build_search

    names: list[str]
    if only is None:
        since = None
        if checkpoint.bookmark:
            overlap = timedelta(minutes=settings.sync.overlap_minutes)
            since = datetime.fromisoformat(checkpoint.bookmark.replace("Z", "+00:00")) - overlap
        search = build_search(settings.criteria, updated_since=since, created_at_min=settings.criteria.created_at_min)
        yielded: set[str] = set()
        for node in services.shopify.iter_orders(search, want_refunds=_refunds_wanted(settings, checkpoint)):
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
    side = mapping.money_key(settings.mapping)

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
    reason = f"edited in Shopify after transfer: total {Decimal(was):.2f} → {order.total:.2f} {order.currency}"
    result.outcomes.append(OrderOutcome(order.name, "edited", order_id=order.id, reason=reason,
                                        document_id=done.get("document_id", ""), kind=done.get("kind", ""),
                                        hint="adjust the Visma document by hand, or credit and re-invoice it"))
    if not dry_run:
        checkpoint.edited[order.name] = {"was": was, "now": str(order.total), "at": _iso(datetime.now(UTC)),
                                         "document_id": done.get("document_id", "")}


def _handle_chunk(orders: list[Order], settings: Settings, services: Services, checkpoint: Checkpoint,
                  view: VismaView, result: PassResult, *, dry_run: bool) -> None:
    refunds = {o.name: open_refunds(o, checkpoint) for o in orders}
    unsure = [o.name for o in orders if o.name not in checkpoint.recent or o.name in checkpoint.pending]
    view.lookup_documents(unsure, document_kinds(settings.visma.workflow))
    refund_refs = [_ref(o, i) for o in orders for i, _ in refunds[o.name]]
    if refund_refs:
        view.lookup_documents(refund_refs, CREDIT_KINDS)
    todo = [o for o in orders if o.name in unsure and o.name not in view.documents]
    for order in orders:
        doc = view.documents.get(order.name)
        if doc is not None and (order.name not in checkpoint.recent or order.name in checkpoint.pending):
            result.outcomes.append(OrderOutcome(order.name, "exists", order_id=order.id,
                                                document_id=doc.get("Id", ""), kind=doc["_kind"]))
            if not dry_run:
                _mark_done(checkpoint, order, doc.get("Id", ""), doc["_kind"])
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
        if order in todo:
            outcome = _guarded(order.name, order, lambda o: _transfer(order, settings, services, checkpoint, view,
                                                                     o, dry_run=dry_run))
            _settle(outcome, order, checkpoint, services, result, dry_run=dry_run)
            if outcome.status == "failed":
                continue  # no credit for an order that is not in Visma yet
        credited = True
        for index, refund in refunds[order.name]:
            ref = _ref(order, index)
            outcome = _guarded(ref, order, lambda o: _credit(order, refund, index, settings, services, checkpoint,
                                                            view, o, dry_run=dry_run))
            outcome.kind = "credit"
            credited = credited and outcome.status != "failed"
            _settle(outcome, order, checkpoint, services, result, dry_run=dry_run)
        if credited and not dry_run and order.name in checkpoint.recent:
            checkpoint.recent[order.name]["refunded"] = str(order.total_refunded)
    if not dry_run:
        services.save_checkpoint(checkpoint)


def _guarded(name: str, order: Order, work: Callable[[OrderOutcome], None]) -> OrderOutcome:
    """Per-order errors become a failed outcome; the pass goes on with the next order."""
    from shopvisma.visma import VismaModuleError, VismaValidationError

    outcome = OrderOutcome(name, "failed", order_id=order.id, currency=order.currency)
    try:
        work(outcome)
    except OrderError as exc:
        outcome.status, outcome.reason, outcome.hint, outcome.field = "failed", exc.reason, exc.hint, exc.field
    except (VismaValidationError, VismaModuleError) as exc:  # Visma refused this order's data
        outcome.status, outcome.reason = "failed", f"Visma refused it: {exc.message}"
        outcome.hint = exc.hint or "correct the order (or the config); the next sync retries it"
        outcome.field = ",".join(str(f.get("Field", "")) for f in getattr(exc, "field_errors", None) or [])
    return outcome


def _settle(outcome: OrderOutcome, order: Order, checkpoint: Checkpoint, services: Services,
            result: PassResult, *, dry_run: bool) -> None:
    result.outcomes.append(outcome)
    if dry_run:
        return
    if outcome.status == "failed":
        checkpoint.intents.pop(outcome.name, None)
        entry = record_pending(checkpoint, outcome.name, order.id, _iso(order.updated_at), outcome.reason,
                               outcome.field)
        entry["hint"] = outcome.hint
        if outcome.name != order.name:
            entry["order_name"] = order.name
    services.save_checkpoint(checkpoint)


def _customer_for(order: Order, view: VismaView, company: mapping.Company, settings: Settings,
                  outcome: OrderOutcome) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """(existing customer or None, the customer as the document will see it)."""
    currency = order.currency or company.currency
    customer = view.choose_customer(order.normalized_email, currency)
    if customer is not None:
        outcome.customer = f"reuse {customer.get('CustomerNumber') or customer['Id']}"
        return customer, customer
    outcome.customer = "create"
    return None, mapping.customer_body(order, company, settings.mapping, currency=currency)


def _ensure_articles(specs: list[Any], view: VismaView, outcome: OrderOutcome, *,
                     dry_run: bool) -> dict[str, str]:
    ids: dict[str, str] = {}
    for spec in specs:
        art = view.articles.get(spec.number.lower())
        outcome.articles.append(f"{'reuse' if art else 'create'} {spec.number}")
        if art is None and dry_run:
            ids[spec.number] = f"<new article {spec.number}>"
            outcome.body = {**(outcome.body or {}), "articles": [*(outcome.body or {}).get("articles", []), spec.body()]}
        else:
            ids[spec.number] = (art or view.create_article(spec))["Id"]
    return ids


def _transfer(order: Order, settings: Settings, services: Services, checkpoint: Checkpoint, view: VismaView,
              outcome: OrderOutcome, *, dry_run: bool) -> None:
    company = view.load_company()
    mapping.require_email(order)
    customer, cust_view = _customer_for(order, view, company, settings, outcome)
    includes_vat = mapping.document_includes_vat(cust_view, company)
    is_foreign = mapping.foreign_customer(cust_view, company)
    plan = mapping.plan_document(order, company, settings.mapping, includes_vat=includes_vat, is_foreign=is_foreign)
    outcome.expected_total = f"{plan.expected_total:.2f}"
    workflow = settings.visma.workflow
    kind, path = ("order", "orders") if workflow == "order" else ("draft", "customerinvoicedrafts")
    if dry_run and customer is None:
        outcome.body = {"customer": cust_view}
    article_ids = _ensure_articles(plan.articles(), view, outcome, dry_run=dry_run)
    if dry_run:
        cid = customer["Id"] if customer else "<new customer>"
        document = _document_body(plan, workflow, cid, article_ids, cust_view, order)
        outcome.body = {**outcome.body, "document": document} if outcome.body else document
        outcome.status, outcome.kind = "would-create", kind
        return
    if customer is None:
        customer = view.create_customer(order.normalized_email, cust_view)
        outcome.customer = f"created {customer.get('CustomerNumber') or customer['Id']}"
    body = _document_body(plan, workflow, customer["Id"], article_ids, customer, order)
    record_intent(checkpoint, order.name, kind, order.id)
    services.save_checkpoint(checkpoint)
    doc = view.create_document(path, kind, body, order.name)
    outcome.status, outcome.document_id, outcome.kind = "created", doc.get("Id", ""), kind
    _mark_done(checkpoint, order, outcome.document_id, kind)  # it exists: never create it again
    doc = _verify_totals(services.visma, path, doc, plan, order, settings, company, customer, article_ids,
                         is_foreign, kind=kind, checkpoint=checkpoint)
    outcome.visma_total = _cents(doc.get("TotalAmount"))


def _credit(order: Order, refund: Refund, index: int, settings: Settings, services: Services,
            checkpoint: Checkpoint, view: VismaView, outcome: OrderOutcome, *, dry_run: bool) -> None:
    """One credit invoice draft per Shopify refund, found by its reference before creating."""
    ref = _ref(order, index)
    found = view.documents.get(ref)
    if found is not None:
        outcome.status, outcome.document_id = "exists", found.get("Id", "")
        if not dry_run:
            checkpoint.pending.pop(ref, None)
            record_refund(checkpoint, refund.id, order.name, outcome.document_id)
        return
    company = view.load_company()
    customer = view.choose_customer(order.normalized_email, order.currency or company.currency)
    if customer is None:
        raise OrderError(ref, "the Visma customer of the original document was not found (by e-mail and currency)",
                         hint="check the customer in Visma; the next sync retries the credit", field="email")
    outcome.customer = f"reuse {customer.get('CustomerNumber') or customer['Id']}"
    is_foreign = mapping.foreign_customer(customer, company)
    plan = mapping.plan_refund(order, refund, company, settings.mapping, index=index, is_foreign=is_foreign,
                               includes_vat=mapping.document_includes_vat(customer, company))
    outcome.expected_total = f"{plan.expected_total:.2f}"
    article_ids = _ensure_articles(plan.articles(), view, outcome, dry_run=dry_run)
    body = mapping.credit_draft_body(plan, customer_id=customer["Id"], article_ids=article_ids, customer=customer)
    if dry_run:
        outcome.body = {**outcome.body, "document": body} if outcome.body else body
        outcome.status = "would-create"
        return
    record_intent(checkpoint, ref, "credit", order.id)
    services.save_checkpoint(checkpoint)
    doc = view.create_document("customerinvoicedrafts", "draft", body, ref)
    outcome.status, outcome.document_id = "created", doc.get("Id", "")
    checkpoint.intents.pop(ref, None)
    checkpoint.pending.pop(ref, None)
    record_refund(checkpoint, refund.id, order.name, outcome.document_id)
    doc = _verify_totals(services.visma, "customerinvoicedrafts", doc, plan, order, settings, company,
                         customer, article_ids, is_foreign, kind="credit", refund=(refund, index),
                         checkpoint=checkpoint)
    outcome.visma_total = _cents(doc.get("TotalAmount"))


def _cents(value: Any) -> str:
    return "" if value is None else f"{Decimal(str(value)):.2f}"


def _document_body(plan: Any, workflow: str, customer_id: str, article_ids: dict[str, str],
                   customer: dict[str, Any], order: Order) -> dict[str, Any]:
    if workflow == "order":
        return mapping.order_body(plan, customer_id=customer_id, article_ids=article_ids, customer=customer,
                                  order_date=order.created_at.date().isoformat())
    return mapping.draft_body(plan, customer_id=customer_id, article_ids=article_ids, customer=customer)


def _verify_totals(visma: Any, path: str, doc: dict[str, Any], plan: Any, order: Order, settings: Settings,
                   company: mapping.Company, customer: dict[str, Any], article_ids: dict[str, str],
                   is_foreign: bool, *, kind: str, checkpoint: Checkpoint,
                   refund: tuple[Refund, int] | None = None) -> dict[str, Any]:
    """Visma decides whether row prices include VAT: read `IncludesVat` back and, when the
    prediction was wrong, correct the rows with PUT before anyone approves the document.
    Then Visma's total must equal Shopify's to the cent, or the order is reported loudly."""
    includes = doc.get("IncludesVat")
    if includes is not None and bool(includes) != plan.includes_vat:
        log.warning("%s: Visma priced the rows %s VAT; correcting the document", plan.reference,
                    "including" if includes else "excluding")
        if refund is not None:
            plan = mapping.plan_refund(order, refund[0], company, settings.mapping, index=refund[1],
                                       includes_vat=bool(includes), is_foreign=is_foreign)
            body = mapping.credit_draft_body(plan, customer_id=customer["Id"], article_ids=article_ids,
                                             customer=customer)
        else:
            plan = mapping.plan_document(order, company, settings.mapping, includes_vat=bool(includes),
                                         is_foreign=is_foreign)
            body = _document_body(plan, settings.visma.workflow, customer["Id"], article_ids, customer, order)
        missing = [a for a in plan.articles() if a.number not in article_ids]
        if not missing:  # a new rounding article would need a create: reported below instead
            doc = visma.put(f"{path}/{doc['Id']}", body)
    total = doc.get("TotalAmount")
    if total is not None and Decimal(str(total)).quantize(Decimal("0.01")) != plan.expected_total:
        reason = (f"Visma computed a total of {Decimal(str(total)):.2f} but Shopify's is {plan.expected_total:.2f} "
                  f"{order.currency}; {kind} {doc.get('Id')} was created and needs a manual check before approval")
        # Kept (bounded) for `status` after the pending entry is gone: the document exists.
        checkpoint.edited[plan.reference] = {"reason": reason, "at": _iso(datetime.now(UTC)),
                                             "document_id": doc.get("Id", "")}
        raise OrderError(plan.reference, reason, field="total",
                         hint="compare the document in Visma with the Shopify order (docs/accounting.md)")
    return doc


def _mark_done(checkpoint: Checkpoint, order: Order, document_id: str, kind: str) -> None:
    record_transfer(checkpoint, order.name, document_id, kind)
    checkpoint.recent[order.name]["total"] = str(order.total)
