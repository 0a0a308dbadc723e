"""One pass: Shopify orders → Visma documents, exactly once.

The pass is built so that the *Visma side* is the source of truth for "done":
every document carries the Shopify order name in `YourReference`, and before
creating anything the pass looks the chunk's names up in Visma. The checkpoint
only saves work (bookmark, recent transfers, pending reasons); losing it costs
requests, never a duplicate. Customers and articles are found by their natural
keys (e-mail, article number) before they are created, so a crash between two
writes is harmless too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field as dc_field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from shopvisma import mapping
from shopvisma.config import Settings
from shopvisma.errors import ExitCode, OrderError, ShopvismaError
from shopvisma.model import Order, normalize_email, parse_order
from shopvisma.state import Checkpoint, advance_bookmark, record_intent, record_pending, record_transfer

log = logging.getLogger("shopvisma.sync")

CHUNK = 40  # orders handled together: one batched lookup per kind per chunk
FILTER_BATCH = 20  # names / e-mails / numbers per OData `or` filter (URL length)


@dataclass
class OrderOutcome:
    """What happened to one order in this pass; `status` drives the exit code."""

    name: str
    status: str  # created | exists | failed | skipped | would-create
    order_id: str = ""
    document_id: str = ""
    kind: str = ""  # draft | order | invoice
    reason: str = ""
    field: str = ""
    hint: str = ""
    customer: str = ""  # "reuse <id>" | "create" | "created <id>"
    articles: list[str] = dc_field(default_factory=list)
    body: dict[str, Any] | None = None
    expected_total: str = ""
    visma_total: str = ""
    currency: str = ""

    def as_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if v not in ("", None, [])}
        return d


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
    error: str = ""
    exit_code: ExitCode = ExitCode.OK

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def counts(self) -> dict[str, int]:
        keys = ("created", "exists", "failed", "skipped", "would-create")
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
            "outcome": "ok" if self.exit_code == 0 else ("partial" if self.exit_code == 1 else "error"),
            "counts": self.counts,
            "bookmark": self.bookmark,
            "requests": {"shopify": self.shopify_requests, "visma": self.visma_requests, "visma_writes": self.visma_writes},
            "error": self.error or None,
            "orders": [o.as_dict() for o in self.outcomes],
        }


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _batches(items: list[str], size: int = FILTER_BATCH) -> Iterator[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


# --------------------------------------------------------------------------- selection


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
        return f"financial status {order.financial_status}"
    if c.fulfillment_status and order.fulfillment_status not in c.fulfillment_status:
        return f"fulfillment status {order.fulfillment_status}"
    tags = {t.lower() for t in order.tags}
    if c.tags_include and not tags & {t.lower() for t in c.tags_include}:
        return "missing an included tag"
    if tags & {t.lower() for t in c.tags_exclude}:
        return "has an excluded tag"
    return ""


# --------------------------------------------------------------------------- Visma lookups


@dataclass
class VismaView:
    """What this pass knows of the Visma company; filled lazily, chunk by chunk, so an
    idle pass never touches Visma and a busy one makes one batched request per kind."""

    client: Any
    settings: Settings
    company: mapping.Company | None = None
    customers: dict[str, list[dict[str, Any]]] = dc_field(default_factory=dict)  # email -> customers
    articles: dict[str, dict[str, Any]] = dc_field(default_factory=dict)  # number(lower) -> article
    documents: dict[str, dict[str, Any]] = dc_field(default_factory=dict)  # YourReference -> document

    def load_company(self) -> mapping.Company:
        if self.company is None:
            self.company = load_company(self.client, self.settings)
        return self.company

    def doc_paths(self) -> list[tuple[str, str]]:
        if self.settings.visma.workflow == "order":
            return [("orders", "order"), ("customerinvoices", "invoice")]
        return [("customerinvoicedrafts", "draft"), ("customerinvoices", "invoice")]

    def lookup_documents(self, references: Iterable[str]) -> None:
        todo = sorted({r for r in references if r not in self.documents})
        for path, kind in self.doc_paths():
            for batch in _batches(todo):
                flt = " or ".join(f"YourReference eq {_quote(r)}" for r in batch)
                for doc in self.client.iter_list(path, filter=flt):
                    ref = (doc.get("YourReference") or "").strip()
                    if ref in batch and ref not in self.documents:
                        self.documents[ref] = {**doc, "_kind": kind}

    def lookup_customers(self, emails: Iterable[str]) -> None:
        todo = sorted({e for e in emails if e and e not in self.customers})
        for e in todo:
            self.customers[e] = []
        for batch in _batches(todo):
            flt = " or ".join(f"EmailAddress eq {_quote(e)}" for e in batch)
            for cust in self.client.iter_list("customers", filter=flt):
                key = normalize_email(cust.get("EmailAddress"))
                if key in self.customers and cust not in self.customers[key]:
                    self.customers[key].append(cust)

    def lookup_articles(self, numbers: Iterable[str]) -> None:
        todo = sorted({n for n in numbers if n and n.lower() not in self.articles})
        for batch in _batches(todo):
            flt = " or ".join(f"Number eq {_quote(n)}" for n in batch)
            for art in self.client.iter_list("articles", filter=flt):
                self.articles[(art.get("Number") or "").lower()] = art


def load_company(client: Any, settings: Settings) -> mapping.Company:
    """The company facts every mapping default is read from (contract: 'every mapping
    has a default read from the company itself')."""
    cs = client.get("companysettings")
    codings = tuple(
        mapping.Coding(
            id=c["Id"],
            name=c.get("Name") or "",
            type=c.get("Type") or "",
            vat_percent=Decimal(str(c.get("VatRatePercent") or 0)),
            active=bool(c.get("IsActive", True)),
        )
        for c in client.iter_list("articleaccountcodings")
    )
    unit_id = settings.mapping.unit_id
    if not unit_id:
        units = list(client.iter_list("units"))
        wanted = ("st", "pcs", "styck", "st.", "pieces", "kpl", "stk")
        for u in units:
            names = {(u.get(k) or "").strip().lower() for k in ("Code", "Abbreviation", "Name", "AbbreviationEnglish")}
            if names & set(wanted):
                unit_id = u["Id"]
                break
        if not unit_id:
            raise ShopvismaError(
                "no unit for pieces ('st'/'pcs') found in Visma",
                hint='set [mapping] unit_id = "<Visma unit Id>" in the config',
                exit_code=ExitCode.CONFIG,
            )
    return mapping.Company(
        country_code=cs.get("CountryCode") or "SE",
        currency=cs.get("CurrencyCode") or "SEK",
        show_prices_excl_vat_pc=bool(cs.get("ShowPricesExclVatPC", False)),
        terms_of_payment_id=settings.mapping.terms_of_payment_id or cs.get("TermsOfPaymentId") or "",
        unit_id=unit_id,
        codings=codings,
    )


# --------------------------------------------------------------------------- the pass


@dataclass
class Services:
    """The clients and the checkpoint store a pass works with (injected by cli.py/tests)."""

    shopify: Any
    visma: Any
    save_checkpoint: Callable[[Checkpoint], None]


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
    money = "presentmentMoney" if settings.mapping.currency == "presentment" else "shopMoney"
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
            order = parse_order(node, money=money)  # type: ignore[arg-type]
            if order.name in seen:
                continue
            seen.add(order.name)
            if limit is not None and taken >= limit:
                break
            if newest_seen is None or order.updated_at > newest_seen:
                newest_seen = order.updated_at  # ascending UPDATED_AT: safe to resume after it
            why_not = selected(order, settings)
            if only is None and why_not:
                checkpoint.pending.pop(order.name, None)  # e.g. cancelled since it failed
                continue
            if only is not None and order.name not in only:
                continue
            if order.name in checkpoint.recent and order.name not in checkpoint.pending and only is None:
                result.outcomes.append(OrderOutcome(order.name, "exists", order_id=order.id,
                                                    document_id=checkpoint.recent[order.name].get("document_id", ""),
                                                    kind=checkpoint.recent[order.name].get("kind", "")))
                continue
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


def _candidate_nodes(
    settings: Settings, services: Services, checkpoint: Checkpoint, only: set[str] | None
) -> Iterator[dict[str, Any]]:
    """Orders changed since the bookmark (minus an overlap: Shopify's search index lags
    writes), then any pending orders outside that window, fetched by name."""
    from shopvisma.shopify import build_search

    overlap = timedelta(minutes=settings.sync.overlap_minutes)
    since = None
    if checkpoint.bookmark and only is None:
        since = datetime.fromisoformat(checkpoint.bookmark.replace("Z", "+00:00")) - overlap
    names = sorted(only) if only is not None else []
    if only is None:
        search = build_search(settings.criteria, updated_since=since, created_at_min=settings.criteria.created_at_min)
        yielded: set[str] = set()
        for node in services.shopify.iter_orders(search):
            yielded.add(node["name"])
            yield node
        names = sorted(n for n in checkpoint.pending if n not in yielded)
    for batch in _batches(names, 25):
        search = " OR ".join(f"name:{_quote(n)}" for n in batch)
        yield from services.shopify.iter_orders(f"({search})")


def _handle_chunk(
    orders: list[Order],
    settings: Settings,
    services: Services,
    checkpoint: Checkpoint,
    view: VismaView,
    result: PassResult,
    *,
    dry_run: bool,
) -> None:
    view.lookup_documents(o.name for o in orders)
    todo = []
    for order in orders:
        doc = view.documents.get(order.name)
        if doc is not None:
            result.outcomes.append(OrderOutcome(order.name, "exists", order_id=order.id, document_id=doc.get("Id", ""),
                                                kind=doc["_kind"]))
            if not dry_run:
                _mark_done(checkpoint, order, doc.get("Id", ""), doc["_kind"])
        else:
            todo.append(order)
    if not todo:
        if not dry_run:
            services.save_checkpoint(checkpoint)
        return
    company = view.load_company()
    view.lookup_customers(o.normalized_email for o in todo)
    numbers: list[str] = []
    for o in todo:
        try:
            numbers += [a.number for a in mapping.needed_articles(o, company, settings.mapping)]
        except OrderError:
            pass  # reported with its reason when the order itself is planned
    view.lookup_articles(numbers)
    for order in todo:
        outcome = OrderOutcome(order.name, "failed", order_id=order.id, currency=order.currency)
        try:
            _transfer(order, settings, services, checkpoint, view, company, outcome, dry_run=dry_run)
        except OrderError as exc:
            outcome.status, outcome.reason, outcome.hint, outcome.field = "failed", exc.reason, exc.hint, exc.field
        except _VISMA_ORDER_ERRORS() as exc:  # Visma refused this order's data: the order stays pending
            outcome.status, outcome.reason = "failed", f"Visma refused it: {exc.message}"
            outcome.hint = exc.hint or "correct the order (or the config) and the next sync retries it"
            outcome.field = ",".join(str(f.get("Field", "")) for f in getattr(exc, "field_errors", []) or [])
        result.outcomes.append(outcome)
        if not dry_run:
            if outcome.status == "failed":
                _mark_pending(checkpoint, order, outcome)
            services.save_checkpoint(checkpoint)


def _VISMA_ORDER_ERRORS() -> tuple[type[BaseException], ...]:
    from shopvisma.visma import VismaModuleError, VismaValidationError

    return (VismaValidationError, VismaModuleError)


def _choose_customer(order: Order, view: VismaView, currency: str) -> dict[str, Any] | None:
    """One customer per e-mail and currency: drafts take their currency from the customer."""
    candidates = [c for c in view.customers.get(order.normalized_email, []) if c.get("IsActive", True)]
    same = [c for c in candidates if (c.get("CurrencyCode") or view.company.currency) == currency]  # type: ignore[union-attr]
    return same[0] if same else None


def _transfer(
    order: Order,
    settings: Settings,
    services: Services,
    checkpoint: Checkpoint,
    view: VismaView,
    company: mapping.Company,
    outcome: OrderOutcome,
    *,
    dry_run: bool,
) -> None:
    visma = services.visma
    if not order.normalized_email:
        raise OrderError(order.name, "the order has no e-mail address, so no Visma customer can be matched",
                         hint="add an e-mail to the order in Shopify; the next sync retries it", field="email")
    currency = order.currency or company.currency
    customer = _choose_customer(order, view, currency)
    new_customer_body = None
    if customer is None:
        new_customer_body = mapping.customer_body(order, company, settings.mapping, currency=currency)
        cust_view = new_customer_body
        outcome.customer = "create"
    else:
        cust_view = customer
        outcome.customer = f"reuse {customer.get('CustomerNumber') or customer['Id']}"
    is_private = bool(cust_view.get("IsPrivatePerson", True))
    includes_vat = is_private and not company.show_prices_excl_vat_pc
    country = cust_view.get("InvoiceCountryCode") or company.country_code
    is_foreign = country != company.country_code or currency != company.currency
    plan = mapping.plan_document(order, company, settings.mapping, includes_vat=includes_vat, is_foreign=is_foreign)
    specs = mapping.needed_articles(order, company, settings.mapping)
    outcome.expected_total = f"{plan.expected_total:.2f}"
    article_ids: dict[str, str] = {}
    missing = []
    for spec in specs:
        art = view.articles.get(spec.number.lower())
        if art is None:
            missing.append(spec)
            outcome.articles.append(f"create {spec.number}")
        else:
            article_ids[spec.number] = art["Id"]
            outcome.articles.append(f"reuse {spec.number}")
    workflow = settings.visma.workflow
    if dry_run:
        ids = {**{s.number: f"<new article {s.number}>" for s in missing}, **article_ids}
        cid = customer["Id"] if customer else "<new customer>"
        outcome.body = _document_body(plan, workflow, cid, ids, cust_view, order)
        outcome.status, outcome.kind = "would-create", _kind(workflow)
        if new_customer_body is not None:
            outcome.body = {"customer": new_customer_body,
                            "articles": [s.body() for s in missing], "document": outcome.body}
        elif missing:
            outcome.body = {"articles": [s.body() for s in missing], "document": outcome.body}
        return
    for spec in missing:
        art = _create_article(visma, view, spec)
        article_ids[spec.number] = art["Id"]
    if customer is None:
        customer = _create_customer(visma, view, order, new_customer_body or {})
        outcome.customer = f"created {customer.get('CustomerNumber') or customer['Id']}"
    body = _document_body(plan, workflow, customer["Id"], article_ids, customer, order)
    path = "orders" if workflow == "order" else "customerinvoicedrafts"
    record_intent(checkpoint, order.name, _kind(workflow), order.id)
    services.save_checkpoint(checkpoint)
    doc = _create_document(visma, view, path, body, order.name)
    outcome.status, outcome.document_id, outcome.kind = "created", doc.get("Id", ""), _kind(workflow)
    try:
        doc = _verify_totals(visma, path, doc, plan, order, settings, company, customer, article_ids, is_foreign)
    finally:  # the document exists whatever the check says: never create it again
        _mark_done(checkpoint, order, outcome.document_id, outcome.kind)
    if doc.get("TotalAmount") is not None:
        outcome.visma_total = f"{Decimal(str(doc['TotalAmount'])):.2f}"


def _kind(workflow: str) -> str:
    return "order" if workflow == "order" else "draft"


def _document_body(plan: Any, workflow: str, customer_id: str, article_ids: dict[str, str],
                   customer: dict[str, Any], order: Order) -> dict[str, Any]:
    if workflow == "order":
        return mapping.order_body(plan, customer_id=customer_id, article_ids=article_ids, customer=customer,
                                  order_date=order.created_at.date().isoformat())
    return mapping.draft_body(plan, customer_id=customer_id, article_ids=article_ids, customer=customer)


def _create_article(visma: Any, view: VismaView, spec: Any) -> dict[str, Any]:
    from shopvisma.visma import AmbiguousWriteError, VismaError

    try:
        art = visma.post("articles", spec.body())
    except (AmbiguousWriteError, VismaError) as exc:
        # Created by a crashed run or a write whose answer was lost: find it by number.
        if isinstance(exc, VismaError) and not isinstance(exc, AmbiguousWriteError) and exc.error_code != 4000:
            raise
        view.articles.pop(spec.number.lower(), None)
        view.lookup_articles([spec.number])
        art = view.articles.get(spec.number.lower())
        if art is None:
            raise
    view.articles[spec.number.lower()] = art
    return art


def _create_customer(visma: Any, view: VismaView, order: Order, body: dict[str, Any]) -> dict[str, Any]:
    from shopvisma.visma import AmbiguousWriteError

    try:
        cust = visma.post("customers", body)
    except AmbiguousWriteError:
        view.customers.pop(order.normalized_email, None)
        view.lookup_customers([order.normalized_email])
        found = _choose_customer(order, view, body.get("CurrencyCode", ""))
        if found is None:
            raise
        return found
    view.customers.setdefault(order.normalized_email, []).append(cust)
    return cust


def _create_document(visma: Any, view: VismaView, path: str, body: dict[str, Any], name: str) -> dict[str, Any]:
    from shopvisma.visma import AmbiguousWriteError

    try:
        return visma.post(path, body)
    except AmbiguousWriteError:
        view.documents.pop(name, None)
        view.lookup_documents([name])
        if name in view.documents:
            return view.documents[name]
        raise


def _verify_totals(visma: Any, path: str, doc: dict[str, Any], plan: Any, order: Order, settings: Settings,
                   company: mapping.Company, customer: dict[str, Any], article_ids: dict[str, str],
                   is_foreign: bool) -> dict[str, Any]:
    """Visma decides whether row prices include VAT; read it back and, when our
    prediction was wrong, correct the rows with PUT before anyone approves the document."""
    includes = doc.get("IncludesVat")
    if includes is not None and bool(includes) != plan.includes_vat:
        log.warning("%s: Visma priced rows %s VAT; correcting the document", order.name,
                    "including" if includes else "excluding")
        plan = mapping.plan_document(order, company, settings.mapping, includes_vat=bool(includes), is_foreign=is_foreign)
        body = _document_body(plan, settings.visma.workflow, customer["Id"], article_ids, customer, order)
        doc = visma.put(f"{path}/{doc['Id']}", body)
    total = doc.get("TotalAmount")
    if total is not None and Decimal(str(total)).quantize(Decimal("0.01")) != plan.expected_total:
        raise OrderError(
            order.name,
            f"Visma computed a total of {Decimal(str(total)):.2f} {order.currency} but Shopify's total is "
            f"{plan.expected_total:.2f}; document {doc.get('Id')} needs a manual check before approval",
            hint="compare the document in Visma with the Shopify order; see docs/accounting.md",
            field="total",
        )
    return doc


def _mark_done(checkpoint: Checkpoint, order: Order, document_id: str, kind: str) -> None:
    record_transfer(checkpoint, order.name, document_id, kind)


def _mark_pending(checkpoint: Checkpoint, order: Order, outcome: OrderOutcome) -> None:
    checkpoint.intents.pop(order.name, None)
    entry = record_pending(checkpoint, order.name, order.id, _iso(order.updated_at), outcome.reason, outcome.field)
    entry["hint"] = outcome.hint
