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
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from typing import TYPE_CHECKING

from shopvisma.config import Settings
from shopvisma.errors import ExitCode, OrderError, ShopvismaError

if TYPE_CHECKING:  # the mapping code loads only when a pass has orders (idle passes stay cheap)
    from shopvisma import mapping
    from shopvisma.model import Order

log = logging.getLogger("shopvisma.matching")

FILTER_BATCH = 40  # keys per `or` filter: keeps the URL well under 2,000 characters

# What a pass keeps of each Visma object: the fields later lookups and bodies read. Whole
# responses (a draft with its rows) would make a backlog's memory grow with every order.
_KEEP_CUSTOMER = ("Id", "CustomerNumber", "Name", "EmailAddress", "CurrencyCode", "IsActive", "IsPrivatePerson",
                  "InvoiceAddress1", "InvoiceAddress2", "InvoicePostalCode", "InvoiceCity", "InvoiceCountryCode",
                  "TermsOfPaymentId")
_KEEP_ARTICLE = ("Id", "Number", "Name", "CodingId", "UnitId", "IsActive")
_KEEP_DOCUMENT = ("Id", "YourReference", "CustomerId", "TotalAmount", "TotalVatAmount", "IncludesVat")


def slim(obj: dict[str, Any], keep: tuple[str, ...], **extra: Any) -> dict[str, Any]:
    return {**{k: obj[k] for k in keep if k in obj}, **extra}


CREDIT_KINDS = [("customerinvoicedrafts", "draft"), ("customerinvoices", "invoice")]


class WriteNotDone(OrderError):
    """A create got no clear answer (timeout, 5xx), and the lookup by its natural key shows
    it was not made: this order fails for now and the pass goes on (sync.py stops the
    pass only when several in a row fail like this: then Visma itself is in trouble)."""

    def __init__(self, key: str, what: str, exc: BaseException):
        super().__init__(key, f"Visma did not confirm creating the {what} ({exc}); it was not made, so the next "
                              "sync retries it", hint="nothing to do unless it keeps failing", field="visma")


def quote(value: str) -> str:
    """An OData string literal."""
    return "'" + value.replace("'", "''") + "'"


def batches(items: list[str], size: int = FILTER_BATCH) -> Iterator[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def document_kinds(workflow: str) -> list[tuple[str, str]]:
    """Where a transferred order can be: its own kind, or an invoice once approved/converted."""
    if workflow == "order":
        return [("orders", "order"), ("customerinvoices", "invoice")]
    return CREDIT_KINDS


@dataclass
class VismaView:
    """What this pass knows of the Visma company; filled lazily, chunk by chunk, so an
    idle pass never touches Visma and a busy one makes one batched request per kind."""

    client: Any
    settings: Settings
    company: mapping.Company | None = None
    customers: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # e-mail → customers
    articles: dict[str, dict[str, Any]] = field(default_factory=dict)  # number (lower case) → article
    documents: dict[str, dict[str, Any]] = field(default_factory=dict)  # YourReference → document
    _looked_up: set[tuple[str, str]] = field(default_factory=set)
    _unfilterable: set[tuple[str, str]] = field(default_factory=set)

    def _where(self, path: str, prop: str, values: list[str]) -> Iterator[dict[str, Any]]:
        """Objects of `path` whose `prop` is one of `values`: one OData `or` filter; where
        Visma refuses to filter on that property (its docs do not say which are
        filterable), the whole list, matched here. Never cached: a lookup after a lost
        answer must see what was just created."""
        if (path, prop) not in self._unfilterable:
            from shopvisma.visma import VismaValidationError

            try:
                yield from self.client.iter_list(path, filter=" or ".join(f"{prop} eq {quote(v)}" for v in values))
                return
            except VismaValidationError as exc:
                log.warning("Visma refused $filter on %s/%s (%s); matching on the full list instead",
                            path, prop, exc.message)
                self._unfilterable.add((path, prop))
        wanted = {v.strip().lower() for v in values}
        for obj in self.client.iter_list(path):
            if str(obj.get(prop) or "").strip().lower() in wanted:
                yield obj

    def load_company(self) -> mapping.Company:
        if self.company is None:
            self.company = load_company(self.client, self.settings)
        return self.company

    def lookup_documents(self, references: Iterable[str], kinds: list[tuple[str, str]]) -> None:
        for path, kind in kinds:
            todo = sorted({r for r in references if r not in self.documents and (path, r) not in self._looked_up})
            self._looked_up.update((path, r) for r in todo)
            for batch in batches(todo):
                for doc in self._where(path, "YourReference", batch):
                    ref = (doc.get("YourReference") or "").strip()
                    if ref in batch and ref not in self.documents:
                        self.documents[ref] = slim(doc, _KEEP_DOCUMENT, _kind=kind)

    def forget_document(self, reference: str) -> None:
        self.documents.pop(reference, None)
        self._looked_up = {k for k in self._looked_up if k[1] != reference}

    def lookup_customers(self, emails: Iterable[str]) -> None:
        todo = sorted({e for e in emails if e and e not in self.customers})
        for e in todo:
            self.customers[e] = []
        for batch in batches(todo):
            for cust in self._where("customers", "EmailAddress", batch):
                key = (cust.get("EmailAddress") or "").strip().lower()  # model.normalize_email
                if key in self.customers and all(c.get("Id") != cust.get("Id") for c in self.customers[key]):
                    self.customers[key].append(slim(cust, _KEEP_CUSTOMER))

    def lookup_articles(self, numbers: Iterable[str]) -> None:
        todo = sorted({n for n in numbers if n and n.lower() not in self.articles})
        for batch in batches(todo):
            for art in self._where("articles", "Number", batch):
                self.articles[(art.get("Number") or "").lower()] = slim(art, _KEEP_ARTICLE)

    def choose_customer(self, email: str, currency: str) -> dict[str, Any] | None:
        """One customer per e-mail and currency (a draft takes its currency from the
        customer); among several, the lowest customer number, so the choice is stable."""
        company_currency = self.company.currency if self.company else ""
        same = [
            c for c in self.customers.get(email, [])
            if c.get("IsActive", True) and (c.get("CurrencyCode") or company_currency) == currency
        ]
        same.sort(key=lambda c: (len(str(c.get("CustomerNumber") or "")), str(c.get("CustomerNumber") or "")))
        return same[0] if same else None

    # ------------------------------------------------------------------ creates

    def create_article(self, spec: Any) -> dict[str, Any]:
        from shopvisma.visma import AmbiguousWriteError, VismaError

        try:
            art = self.client.post("articles", spec.body())
        except (AmbiguousWriteError, VismaError) as exc:
            # Made by a crashed run (4000 Conflict: the number exists) or a write whose
            # answer was lost: find it by its number instead of creating it twice.
            if isinstance(exc, VismaError) and exc.error_code != 4000:
                raise
            self.articles.pop(spec.number.lower(), None)
            self.lookup_articles([spec.number])
            art = self.articles.get(spec.number.lower())
            if art is None:
                if isinstance(exc, AmbiguousWriteError):
                    raise WriteNotDone(spec.number, f"article {spec.number}", exc) from None
                raise
        self.articles[spec.number.lower()] = art = slim(art, _KEEP_ARTICLE)
        return art

    def create_customer(self, email: str, body: dict[str, Any]) -> dict[str, Any]:
        from shopvisma.visma import AmbiguousWriteError

        try:
            cust = self.client.post("customers", body)
        except AmbiguousWriteError as exc:
            self.customers.pop(email, None)
            self.lookup_customers([email])
            found = self.choose_customer(email, body.get("CurrencyCode", ""))
            if found is None:
                raise WriteNotDone(email, f"customer {email}", exc) from None
            return found
        self.customers.setdefault(email, []).append(slim(cust, _KEEP_CUSTOMER))
        return cust

    def create_document(self, path: str, kind: str, body: dict[str, Any], reference: str) -> dict[str, Any]:
        from shopvisma.visma import AmbiguousWriteError

        try:
            doc = self.client.post(path, body)
        except AmbiguousWriteError as exc:
            self.forget_document(reference)
            self.lookup_documents([reference], [(path, kind)])
            if reference in self.documents:
                return self.documents[reference]
            raise WriteNotDone(reference, f"{kind} {reference}", exc) from None
        self.documents[reference] = slim(doc, _KEEP_DOCUMENT, _kind=kind)
        return doc

    def forget_chunk(self) -> None:
        """Documents and customers are looked up per chunk (one batched request each); once
        it is settled they are not needed again, and keeping them would grow with the backlog."""
        self.documents.clear()
        self._looked_up.clear()
        self.customers.clear()


def load_company(client: Any, settings: Settings) -> mapping.Company:
    """The company facts every mapping default is read from (contract: 'every mapping
    has a default read from the company itself')."""
    from shopvisma import mapping

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
        wanted = {"st", "pcs", "styck", "st.", "pieces", "kpl", "stk"}
        for u in client.iter_list("units"):
            names = {(u.get(k) or "").strip().lower() for k in ("Code", "Abbreviation", "Name", "AbbreviationEnglish")}
            if names & wanted:
                unit_id = u["Id"]
                break
        if not unit_id:
            raise ShopvismaError(
                "no unit for pieces ('st'/'pcs') found in Visma",
                hint='set [mapping] unit_id = "<Visma unit Id>" in the config (`shopvisma doctor` lists them)',
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


def order_emails(orders: Iterable[Order]) -> list[str]:
    return [o.normalized_email for o in orders if o.normalized_email]
