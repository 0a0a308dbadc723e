"""Readings ("quirks") of what Visma's docs leave open, which the Visma sandbox can serve.

Visma documents some behaviours loosely or not at all (see docs/sandbox.md, "Readings",
and shared/reference/visma-real-evidence.md). The product must cope with every plausible
reading, so the emulator serves each on demand: `VismaSandbox(quirks=[...])`,
`sb.quirks.add(...)`, or `shopvisma sandbox --quirk NAME`. No quirk = the default reading.

This module also holds the answer helpers whose shape depends on a reading (the quota
answer, the error envelope, list pages, statuses, VAT-rate scale, filterable properties),
so visma.py stays a router. The module level imports only the standard library.
"""

from __future__ import annotations

import math
import threading
import uuid
from collections import deque
from collections.abc import Callable, Collection, Iterable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shopvisma.sandbox.visma.model import ApiError

Json = dict[str, Any]

QUIRKS: dict[str, str] = {
    "vat-rate-fraction": "coding VatRatePercent and document rows' VatRate served as fractions (0.25), not percent (25): "
    "the 2026 spec says only 'VAT rate percent' / 'Provides VatRate value' (scale unconfirmed)",
    "retry-after-header": "429 carries a Retry-After: N header as well as 'Try again in N seconds.': the throttling library "
    "behind Visma's message adds it by default (visma-real-evidence.md 2.9)",
    "retry-after-only": "429 carries Retry-After: N and the message stops at '... per Minute.' (the library's bare "
    "template, no 'Try again'): the other way the library can be set up (visma-real-evidence.md 2.9)",
    "filter-whitelist": "$filter only on a per-endpoint whitelist (FILTERABLE here); YourReference on documents, "
    "EmailAddress on customers and Number on articles answer 400 / 2000: the changelog 'New filter' "
    "says filterable properties are per endpoint and listed none of these",
    "page-cap-50": "$pagesize above 50 is silently served as 50 (Meta.PageSize 50): users report lists 'stopping at "
    "50' and the maximum page size is undocumented",
    "create-200": "a POST that creates answers 200, not 201: the 2018 swagger documents 200, the 2026 spec 201",
    "put-204": "a successful PUT answers 204 with no body (the object is still updated): PUT answers are "
    "undocumented beyond the spec's 200",
    "inner-codes-int": "Errors[].ErrorCode served as integers (2000), not strings ('2000'): the 2026 spec types it as a "
    "string but no real 400 with Errors was ever recorded",
    "startup-guide": "every /v2 call answers 403 / ErrorCode 4003 StartupGuideNotCompleted, Errors []: fresh companies "
    "hit it (KB S8); the spec documents 403 for 'startup guide is not completed'",
    "no-order-module": "the company lacks sales_standard: every /orders call answers 403 / ErrorCode 4002 NoAccessToModule, "
    "Errors [] (Solo variant; KB S8), ActivatedModules []; the same switch as order_module=False",
    "no-sales-scope": "every token lacks ea:sales and ea:sales_readonly, so sales endpoints answer 403 / ErrorCode 4006 "
    "NoAccessToScopes (a grant made with too few scopes; docs/authentication, error-codes)",
    "includes-vat-spec-2026": "IncludesVat = private customer AND ShowPricesExclVatPC checked, as the 2026 spec words it (default: "
    "private AND unchecked, as the setting's name and the 2018 text say); = includes_vat_rule 'spec-2026'",
    "vat-per-row": "VAT rounded on each row and then summed, not once per rate on the sum of its rows (default): "
    "neither spec says how TotalVatAmount is rounded, and an independent emulator did it per row",
    "convert-200": "POST /customerinvoicedrafts/{id}/convert answers 200, not 201: the 2018 swagger documents 200, "
    "the 2026 spec 201",
    "payment-200": "POST /customerinvoices/{id}/payments answers 200, not 201: the 2018 swagger documents 200, the "
    "2026 spec 201",
    "overpayment-accepted": "a payment above the invoice's remaining amount is accepted and the remaining goes past zero "
    "(default: 400 / 2000): neither spec says whether an overpayment is refused",
    "credit-payment-positive": "payments on credit invoices must be positive and move the negative remaining toward "
    "zero; a negative one is refused (default: negative, the remaining's sign): the specs give no sign rule",
    "bank-fee-not-settling": "BankFeeAmount is booked as a cost only: the remaining falls by PaymentAmount alone "
    "(default: by PaymentAmount + BankFeeAmount, as 'extract that amount here' reads): the spec leaves it open",
}

# Properties `$filter` accepts under "filter-whitelist", per endpoint. Chosen so the
# product's three lookups (documents by YourReference, customers by EmailAddress,
# articles by Number) are all refused, while ids, numbers, names and dates stay usable.
FILTERABLE: dict[str, frozenset[str]] = {
    "customers": frozenset({"Id", "CustomerNumber", "Name", "IsActive", "ChangedUtc", "CorporateIdentityNumber"}),
    "articles": frozenset({"Id", "Name", "IsActive", "CreatedUtc", "ChangedUtc", "CodingId", "UnitId"}),
    "customerinvoicedrafts": frozenset(
        {"Id", "CustomerId", "CustomerNumber", "CustomerName", "CreatedUtc", "InvoiceDate", "IsCreditInvoice"}
    ),
    "customerinvoices": frozenset(
        {
            "Id",
            "InvoiceNumber",
            "CustomerId",
            "CustomerNumber",
            "CustomerName",
            "InvoiceDate",
            "DueDate",
            "CreatedUtc",
            "ModifiedUtc",
            "IsCreditInvoice",
            "TotalAmountInvoiceCurrency",
            "RemainingAmount",
            "RemainingAmountInvoiceCurrency",
            "CreatedFromDraftId",
        }
    ),
    "orders": frozenset(
        {
            "Id",
            "Number",
            "CustomerId",
            "CustomerNumber",
            "CustomerName",
            "OrderDate",
            "Status",
            "CreatedUtc",
            "ModifiedUtc",
        }
    ),
    "units": frozenset({"Id", "Code", "Name"}),
    "articleaccountcodings": frozenset({"Id", "Name", "Type", "IsActive", "VatRatePercent", "ChangedUtc"}),
    "vatcodes": frozenset({"Id", "Code"}),
    "termsofpayments": frozenset({"Id", "Name", "NumberOfDays", "AvailableForSales"}),
}

MAX_PAGE_SIZE = 1000  # the default reading's limit (larger answers 400); the real maximum is undocumented
CAPPED_PAGE_SIZE = 50
DOCUMENT_ENDPOINTS = ("customerinvoicedrafts", "customerinvoices", "orders")


def check_quirks(names: Iterable[str]) -> set[str]:
    """A typo must fail loudly: a misspelt quirk would silently test the default reading."""
    wanted = set(names)
    unknown = sorted(wanted - QUIRKS.keys())
    if unknown:
        raise ValueError(f"unknown Visma sandbox quirk(s) {', '.join(unknown)}; valid: {', '.join(QUIRKS)}")
    return wanted


class QuirkSet(set[str]):
    """A set of quirk names that refuses unknown names on every way in, so a test that adds a
    quirk after start gets the same typo check as the constructor."""

    def __init__(self, names: Iterable[str] = ()) -> None:
        super().__init__(check_quirks(names))

    def add(self, name: str) -> None:
        super().add(next(iter(check_quirks([name]))))

    def update(self, *others: Iterable[str]) -> None:
        for other in others:
            super().update(check_quirks(other))

    def __ior__(self, other: Collection[str]) -> QuirkSet:  # type: ignore[override,misc]
        self.update(other)
        return self


# ------------------------------------------------------------------ answers that depend on a reading
def quota_answer(limit: int, wait: int, quirks: Collection[str]) -> tuple[Json, dict[str, str] | None]:
    """The 429 body and headers. The documented body is the default; both Retry-After readings
    come from the throttling library's own defaults. "retry-after-only" wins over "-header"."""
    message = f"API calls quota exceeded! maximum admitted {limit} per Minute."
    headers: dict[str, str] | None = None
    if "retry-after-only" in quirks or "retry-after-header" in quirks:
        headers = {"Retry-After": str(wait)}
    if "retry-after-only" not in quirks:
        message += f" Try again in {wait} seconds."
    return {"ErrorCode": 4010, "DeveloperErrorMessage": message, "ErrorId": str(uuid.uuid4())}, headers


def envelope(err: ApiError, quirks: Collection[str]) -> Json:
    errors = err.errors
    if errors and "inner-codes-int" in quirks:
        errors = [
            {**e, "ErrorCode": int(e["ErrorCode"])} if str(e.get("ErrorCode", "")).isdigit() else e for e in errors
        ]
    return {"ErrorCode": err.code, "DeveloperErrorMessage": err.message, "ErrorId": str(uuid.uuid4()), "Errors": errors}


def present(endpoint: str, record: Json, quirks: Collection[str]) -> Json:
    """A record as the wire shows it. The sandbox's state keeps VAT rates in percent (its totals
    use them); only the served copy changes scale, so a quirk can be switched mid-test."""
    if "vat-rate-fraction" not in quirks:
        return record
    if endpoint == "articleaccountcodings" and isinstance(record.get("VatRatePercent"), Decimal):
        return {**record, "VatRatePercent": record["VatRatePercent"] / 100}
    if endpoint in DOCUMENT_ENDPOINTS and isinstance(record.get("Rows"), list):
        rows = [
            {**r, "VatRate": r["VatRate"] / 100} if isinstance(r.get("VatRate"), Decimal) else r for r in record["Rows"]
        ]
        return {**record, "Rows": rows}
    return record


def list_page(
    endpoint: str,
    records: list[Json],
    properties: Collection[str],
    query: dict[str, str],
    quirks: Collection[str],
    now: float,
) -> Json:
    """One page of a list answer. Three readings meet here: the page-size cap (before the range
    check, as a silent cap would be), VAT-rate scale ($filter sees what the wire shows) and
    the per-endpoint filter whitelist (checked on the parsed filter, after syntax errors)."""
    from shopvisma.sandbox.visma.model import field_error, utc, validation_error
    from shopvisma.sandbox.visma.odata_filter import (  # here, not at the top: see the module docstring
        FilterError,
        parse_filter,
    )

    try:
        page = int(query.get("$page", "1"))
        size = int(query.get("$pagesize", "50"))
    except ValueError as exc:
        raise validation_error([field_error("$page", "$page and $pagesize must be integers.", "Invalid")]) from exc
    if "page-cap-50" in quirks:
        size = min(size, CAPPED_PAGE_SIZE)
    if page < 1 or not 1 <= size <= MAX_PAGE_SIZE:
        raise validation_error(
            [field_error("$pagesize", f"$page must be >= 1 and $pagesize 1-{MAX_PAGE_SIZE}.", "Range")]
        )
    records = [present(endpoint, r, quirks) for r in records]
    if query.get("$filter"):
        try:
            predicate, used = parse_filter(query["$filter"], properties)
            refused = _unfilterable(endpoint, used, quirks)
            if refused is not None:
                raise FilterError(f"The property '{refused}' is not filterable for this endpoint.")
            records = [r for r in records if predicate(r)]
        except FilterError as exc:
            raise validation_error([field_error("$filter", str(exc), "InvalidFilter")]) from exc
    total = len(records)
    meta = {
        "CurrentPage": page,
        "PageSize": size,
        "TotalNumberOfPages": math.ceil(total / size),
        "TotalNumberOfResults": total,
        "ServerTimeUtc": utc(now),
    }
    return {"Meta": meta, "Data": records[(page - 1) * size : page * size]}


def _unfilterable(endpoint: str, used: Iterable[str], quirks: Collection[str]) -> str | None:
    if "filter-whitelist" not in quirks:
        return None
    allowed = FILTERABLE.get(endpoint, frozenset())
    return next((p for p in sorted(used) if p not in allowed), None)


def served_status(method: str, status: int, quirks: Collection[str]) -> tuple[int, bool]:
    """(status, keep the body) of a successful write under the status readings."""
    if method == "PUT" and 200 <= status < 300 and "put-204" in quirks:
        return 204, False
    if method == "POST" and status == 201 and "create-200" in quirks:
        return 200, True
    return status, True


class RateLimiter:
    """Visma's limit is "per client and endpoint/URL" (docs/rate-limits): one sliding 60 s
    window per first path segment, on the injected clock so tests need not sleep."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._calls: dict[str, deque[float]] = {}

    def wait(self, endpoint: str, limit: int) -> int | None:
        """Seconds until a slot frees when over the limit (the call is not counted), else None."""
        with self._lock:
            now = self.clock()
            window = self._calls.setdefault(endpoint, deque())
            while window and window[0] <= now - 60:
                window.popleft()
            if len(window) >= limit:
                return max(1, math.ceil(window[0] + 60 - now))
            window.append(now)
        return None
