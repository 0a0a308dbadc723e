"""Find-or-create in Visma by natural key: documents by reference, customers by
e-mail (and currency), articles by number.

Everything is looked up *before* it is created, in batched OData `or` filters
(one request per kind for up to FILTER_BATCH keys), and a create whose answer was
lost is resolved by looking the object up by the same key. That is what makes a
crash or a timeout between two writes harmless: the next attempt finds what the
last one made.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shopvisma.config.settings import Settings
from shopvisma.engine.references import REFERENCE_FIELD, Kind
from shopvisma.errors import ExitCode, OrderError, ShopvismaError
from shopvisma.state.observations import Observations

if TYPE_CHECKING:  # the mapping code loads only when a pass has orders (idle passes stay cheap)
    from shopvisma.engine.ports import VismaApi
    from shopvisma.mapping.company import Company
    from shopvisma.mapping.rows import ArticleSpec
    from shopvisma.shopify.order import Order

log = logging.getLogger("shopvisma.engine.records")

FILTER_BATCH = 40  # keys per `or` filter: keeps the URL well under 2,000 characters

# What a pass keeps of each Visma object: the fields later lookups and bodies read. Whole
# responses (a draft with its rows) would make a backlog's memory grow with every order.
_KEEP_CUSTOMER = (
    "Id",
    "CustomerNumber",
    "Name",
    "EmailAddress",
    "CurrencyCode",
    "IsActive",
    "IsPrivatePerson",
    "InvoiceAddress1",
    "InvoiceAddress2",
    "InvoicePostalCode",
    "InvoiceCity",
    "InvoiceCountryCode",
    "TermsOfPaymentId",
)
_KEEP_ARTICLE = ("Id", "Number", "Name", "CodingId", "UnitId", "IsActive")
_KEEP_DOCUMENT = (
    "Id",
    "YourReference",
    "CustomerId",
    "TotalAmount",
    "TotalVatAmount",
    "IncludesVat",
    "Amount",
    "VatAmount",
    "InvoiceNumber",
    "Number",
    "CurrencyCode",
    "TotalAmountInvoiceCurrency",
    "RemainingAmount",
    "RemainingAmountInvoiceCurrency",
    "Status",
    "CreatedFromDraftId",
)  # Amount/VatAmount: a sales order's totals; Remaining*: what [payments] plans from; Status: an order's


def slim(obj: dict[str, Any], keep: tuple[str, ...], **extra: Any) -> dict[str, Any]:
    return {**{k: obj[k] for k in keep if k in obj}, **extra}


class WriteNotDoneError(OrderError):
    """A create got no clear answer (timeout, 5xx), and the lookup by its natural key shows
    it was not made: this order fails for now and the pass goes on (sync_pass stops the
    pass only when several in a row fail like this: then Visma itself is in trouble)."""

    def __init__(self, key: str, what: str, exc: BaseException) -> None:
        super().__init__(
            key,
            f"Visma did not confirm creating the {what} ({exc}); it was not made, so the next sync retries it",
            hint="nothing to do unless it keeps failing",
            field="visma",
        )


def quote(value: str) -> str:
    """An OData string literal."""
    return "'" + value.replace("'", "''") + "'"


def _norm(value: Any) -> str:
    """How natural keys compare: Visma may keep or return them with other case or spaces."""
    return str(value or "").strip().lower()


def batches(items: list[str], size: int = FILTER_BATCH) -> Iterator[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


@dataclass
class VismaRecords:
    """What this pass knows of the Visma company; filled lazily, chunk by chunk, so an
    idle pass never touches Visma and a busy one makes one batched request per kind."""

    client: VismaApi
    settings: Settings
    company: Company | None = None
    customers: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # e-mail → customers
    articles: dict[str, dict[str, Any]] = field(default_factory=dict)  # number (lower case) → article
    documents: dict[str, dict[str, Any]] = field(default_factory=dict)  # YourReference → document
    unfilterable: set[tuple[str, str]] | None = None  # (endpoint, property) known refused: skip the $filter
    vat_rate_scale: str | None = None  # an earlier observation in; what load_company read, out
    # What earlier passes or `shopvisma doctor` saw this company do (state dir), and what
    # this pass adds to it; `learned` says whether it is worth saving.
    observations: Observations = field(default_factory=Observations)
    # [payments]: the company's bank accounts (read once per pass), and whether a credit
    # invoice's payments were seen to be refused negative (then sent positive).
    bank_accounts: list[dict[str, Any]] | None = None
    credit_payments_positive: bool = False
    refused_filters: set[tuple[str, str]] = field(default_factory=set, init=False)  # learned this pass
    learned: bool = field(default=False, init=False)
    _looked_up: set[tuple[str, str]] = field(default_factory=set)
    _create_locks: dict[tuple[str, str], threading.Lock] = field(default_factory=dict, repr=False)
    _unfilterable: set[tuple[str, str]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._unfilterable |= set(self.unfilterable or ())
        self._unfilterable |= {(e, p) for e, p in self.observations.unfilterable}
        self.vat_rate_scale = self.vat_rate_scale or self.observations.vat_rate_scale

    # ------------------------------------------------------------------ readings

    def predict_includes_vat(self, customer: dict[str, Any], company: Company) -> bool:
        """Visma decides IncludesVat and its docs say it two ways: once a document showed
        which, every later one is planned that way (one write each, not a create and a fix)."""
        seen = self.observations.includes_vat.get(_vat_case(customer, company))
        if seen is not None:
            return seen
        from shopvisma.mapping.company import document_includes_vat

        return document_includes_vat(customer, company)

    def observe_includes_vat(self, customer: dict[str, Any], company: Company, includes: bool) -> None:
        case = _vat_case(customer, company)
        if self.observations.includes_vat.get(case) != includes:
            self.observations.includes_vat[case] = includes
            self.learned = True

    def settle_observations(self, by: str) -> bool:
        """Fold what this pass saw into the observations; True when they changed."""
        obs = self.observations
        for endpoint, prop in sorted(self.refused_filters):
            if [endpoint, prop] not in obs.unfilterable:
                obs.unfilterable.append([endpoint, prop])
                self.learned = True
        if self.vat_rate_scale in ("percent", "fraction") and obs.vat_rate_scale != self.vat_rate_scale:
            obs.vat_rate_scale = self.vat_rate_scale
            self.learned = True
        if self.learned:
            from shopvisma.timefmt import iso_z, utc_now

            obs.observed_at, obs.by = iso_z(utc_now()), by
        return self.learned

    def customer_by_id(self, email: str, customer_id: str) -> dict[str, Any] | None:
        """The customer a found document names: among those looked up by e-mail, or read."""
        for c in self.customers.get(email, []):
            if str(c.get("Id")) == customer_id:
                return c
        if not customer_id:
            return None
        from shopvisma.visma.errors import VismaError

        try:
            return slim(self.client.get(f"customers/{customer_id}"), _KEEP_CUSTOMER)
        except VismaError as exc:
            if exc.status == 404:
                return None
            raise

    def where(self, path: str, prop: str, values: Iterable[str]) -> Iterator[dict[str, Any]]:
        """Objects of `path` whose `prop` is one of `values` (trimmed, case-insensitive): batched
        OData `or` filters, or, where Visma refuses to filter on that property (its docs do not
        say which are filterable), one pass over the whole list. Both answers are matched here
        as well, so a filter Visma ignored or matched loosely cannot make one object pass for
        another. Never cached: a lookup after a lost answer must see what was just created."""
        todo = sorted({v for v in values if v.strip()})
        if not todo:
            return
        key = (path, prop)
        if key not in self._unfilterable:
            from shopvisma.visma.errors import VismaValidationError

            for i, batch in enumerate(batches(todo)):
                wanted = {_norm(v) for v in batch}
                try:
                    found = list(
                        self.client.iter_list(path, filter=" or ".join(f"{prop} eq {quote(v)}" for v in batch))
                    )
                except VismaValidationError as exc:
                    log.warning(
                        "Visma refused $filter on %s/%s (%s); matching on the full list instead",
                        path,
                        prop,
                        exc.message,
                    )
                    self._unfilterable.add(key)
                    self.refused_filters.add(key)
                    todo = todo[i * FILTER_BATCH :]
                    break
                yield from (obj for obj in found if _norm(obj.get(prop)) in wanted)
            else:
                return
        wanted = {_norm(v) for v in todo}
        for obj in self.client.iter_list(path):
            if _norm(obj.get(prop)) in wanted:
                yield obj

    def load_company(self) -> Company:
        if self.company is None:
            self.company, self.vat_rate_scale = load_company_reading(
                self.client, self.settings, vat_scale=self.vat_rate_scale
            )
        return self.company

    def lookup_documents(self, references: Iterable[str], kinds: Sequence[Kind]) -> None:
        """The first document found per reference, in `kinds` order: the kind an order is
        created as comes first, so a converted copy never hides the one a pass may correct."""
        refs = list(references)
        for path, kind in kinds:
            todo = sorted({r for r in refs if r not in self.documents and (path, r) not in self._looked_up})
            self._looked_up.update((path, r) for r in todo)
            by_key = {_norm(r): r for r in todo}
            for doc in self.where(path, REFERENCE_FIELD, todo):
                ref = by_key.get(_norm(doc.get(REFERENCE_FIELD)))
                if ref is not None and ref not in self.documents:
                    self.documents[ref] = slim(doc, _KEEP_DOCUMENT, _kind=kind)

    def documents_by_reference(
        self, references: Iterable[str], kinds: Sequence[Kind]
    ) -> dict[str, list[dict[str, Any]]]:
        """Every document carrying each reference, duplicates kept (reconcile reports them),
        matched as a pass matches, with the same fallback when Visma refuses the filter."""
        refs = list(references)
        by_key = {_norm(r): r for r in refs}
        found: dict[str, list[dict[str, Any]]] = {}
        for path, kind in kinds:
            for doc in self.where(path, REFERENCE_FIELD, refs):
                ref = by_key.get(_norm(doc.get(REFERENCE_FIELD)))
                if ref is not None:
                    found.setdefault(ref, []).append({**doc, "_kind": kind})
        return found

    def forget_document(self, reference: str) -> None:
        self.documents.pop(reference, None)
        self._looked_up = {k for k in self._looked_up if k[1] != reference}

    def lookup_customers(self, emails: Iterable[str]) -> None:
        todo = sorted({e for e in emails if e and e not in self.customers})
        for e in todo:
            self.customers[e] = []
        for cust in self.where("customers", "EmailAddress", todo):
            key = _norm(cust.get("EmailAddress"))  # as shopify.order.normalize_email
            if key in self.customers and all(c.get("Id") != cust.get("Id") for c in self.customers[key]):
                self.customers[key].append(slim(cust, _KEEP_CUSTOMER))

    def lookup_articles(self, numbers: Iterable[str]) -> None:
        todo = sorted({n for n in numbers if n and n.lower() not in self.articles})
        for art in self.where("articles", "Number", todo):
            self.articles[_norm(art.get("Number"))] = slim(art, _KEEP_ARTICLE)

    def choose_customer(self, email: str, currency: str) -> dict[str, Any] | None:
        """One customer per e-mail and currency (a draft takes its currency from the
        customer); among several, the lowest customer number, so the choice is stable."""
        company_currency = self.company.currency if self.company else ""
        same = [
            c
            for c in self.customers.get(email, [])
            if c.get("IsActive", True) and (c.get("CurrencyCode") or company_currency) == currency
        ]
        same.sort(key=lambda c: (len(str(c.get("CustomerNumber") or "")), str(c.get("CustomerNumber") or "")))
        return same[0] if same else None

    # ------------------------------------------------------------------ creates

    @contextmanager
    def creating(self, key: tuple[str, str]) -> Iterator[None]:
        """One create per natural key at a time: with orders in flight side by side
        (`[sync] concurrency`), two orders of one new customer or one new SKU must not both
        create it. The second waits (giving its turn away) and then finds the first one's."""
        lock = self._create_locks.setdefault(key, threading.Lock())
        if not lock.acquire(blocking=False):
            from shopvisma.http import TURNS

            with TURNS.waiting():
                lock.acquire()
        try:
            yield
        finally:
            lock.release()

    def create_article(self, spec: ArticleSpec) -> dict[str, Any]:
        with self.creating(("article", spec.number.lower())):
            found = self.articles.get(spec.number.lower())
            return found if found is not None else self._create_article(spec)

    def _create_article(self, spec: ArticleSpec) -> dict[str, Any]:
        from shopvisma.visma.errors import AmbiguousWriteError, VismaError

        try:
            art = self.client.post("articles", spec.body())
        except (AmbiguousWriteError, VismaError) as exc:
            # Made by a crashed run (4000 Conflict: the number exists) or a write whose
            # answer was lost: find it by its number instead of creating it twice.
            if isinstance(exc, VismaError) and exc.error_code != 4000:
                raise
            self.articles.pop(spec.number.lower(), None)
            self.lookup_articles([spec.number])
            found = self.articles.get(spec.number.lower())
            if found is None:
                if isinstance(exc, AmbiguousWriteError):
                    raise WriteNotDoneError(spec.number, f"article {spec.number}", exc) from None
                raise
            art = found
        self.articles[spec.number.lower()] = art = slim(art, _KEEP_ARTICLE)
        return art

    def create_customer(self, email: str, body: dict[str, Any]) -> dict[str, Any]:
        currency = str(body.get("CurrencyCode", ""))
        with self.creating(("customer", f"{email}\n{currency}")):
            found = self.choose_customer(email, currency) if currency else None
            return found if found is not None else self._create_customer(email, body)

    def _create_customer(self, email: str, body: dict[str, Any]) -> dict[str, Any]:
        from shopvisma.visma.errors import AmbiguousWriteError

        try:
            cust = self.client.post("customers", body)
        except AmbiguousWriteError as exc:
            self.customers.pop(email, None)
            self.lookup_customers([email])
            found = self.choose_customer(email, body.get("CurrencyCode", ""))
            if found is None:
                raise WriteNotDoneError(email, f"customer {email}", exc) from None
            return found
        self.customers.setdefault(email, []).append(slim(cust, _KEEP_CUSTOMER))
        return cust

    def create_document(self, path: str, kind: str, body: dict[str, Any], reference: str) -> dict[str, Any]:
        from shopvisma.visma.errors import AmbiguousWriteError

        try:
            doc = self.client.post(path, body)
        except AmbiguousWriteError as exc:
            self.forget_document(reference)
            self.lookup_documents([reference], [(path, kind)])
            if reference in self.documents:
                return self.documents[reference]
            raise WriteNotDoneError(reference, f"{kind} {reference}", exc) from None
        self.documents[reference] = slim(doc, _KEEP_DOCUMENT, _kind=kind)
        return doc

    def forget_chunk(self) -> None:
        """Documents and customers are looked up per chunk (one batched request each); once
        it is settled they are not needed again, and keeping them would grow with the backlog."""
        self.documents.clear()
        self._looked_up.clear()
        self.customers.clear()


def _vat_case(customer: dict[str, Any], company: Company) -> str:
    """The two facts Visma's IncludesVat is said to depend on (both readings use them)."""
    private = bool(customer.get("IsPrivatePerson", True))
    return f"private={private},excl_pc={company.show_prices_excl_vat_pc}"


def load_company(client: VismaApi, settings: Settings, *, vat_scale: str | None = None) -> Company:
    """The company facts every mapping default is read from (contract: 'every mapping
    has a default read from the company itself')."""
    return load_company_reading(client, settings, vat_scale=vat_scale)[0]


def load_company_reading(
    client: VismaApi, settings: Settings, *, vat_scale: str | None = None
) -> tuple[Company, str | None]:
    """`load_company` plus the scale the codings' VAT rates were read in ("percent",
    "fraction", "mixed" or None), for doctor to print and an observation to keep."""
    from shopvisma.mapping.codings import rate_key
    from shopvisma.mapping.company import Coding, Company
    from shopvisma.visma.readings import read_codings

    cs = client.get("companysettings")
    cs = cs if isinstance(cs, dict) else {}
    raw = [c for c in client.iter_list("articleaccountcodings") if c.get("Id")]
    stated = {
        str(cid): rate for key, cid in settings.mapping.vat_codings.items() if (rate := rate_key(key)) is not None
    }
    reading = read_codings(raw, vat_scale, stated=stated)
    codings = tuple(
        Coding(
            id=c["Id"],
            name=c.get("Name") or "",
            type=c.get("Type") or "",
            vat_percent=reading.rates[str(c["Id"])],
            active=bool(c.get("IsActive", True)),
        )
        for c in raw
    )
    unit_id = settings.mapping.unit_id
    if not unit_id:
        wanted = {"st", "pcs", "styck", "st.", "pieces", "kpl", "stk"}
        for u in client.iter_list("units"):
            names = {(u.get(k) or "").strip().lower() for k in ("Code", "Abbreviation", "Name", "AbbreviationEnglish")}
            if names & wanted and u.get("Id"):
                unit_id = u["Id"]
                break
        if not unit_id:
            raise ShopvismaError(
                "no unit for pieces ('st'/'pcs') found in Visma",
                hint='set [mapping] unit_id = "<Visma unit Id>" in the config (`shopvisma doctor` lists them)',
                exit_code=ExitCode.CONFIG,
            )
    return Company(
        country_code=cs.get("CountryCode") or "SE",
        currency=cs.get("CurrencyCode") or "SEK",
        show_prices_excl_vat_pc=bool(cs.get("ShowPricesExclVatPC", False)),
        terms_of_payment_id=settings.mapping.terms_of_payment_id or cs.get("TermsOfPaymentId") or "",
        unit_id=unit_id,
        codings=codings,
    ), reading.scale


def order_emails(orders: Iterable[Order]) -> list[str]:
    return [o.normalized_email for o in orders if o.normalized_email]
