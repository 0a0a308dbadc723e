"""What a pass reports: one OrderOutcome per order or refund, and the PassResult around them.

Apart from the pass so that the renderers, notify and the run log can read results
without importing the pass or the mapping code.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field as dc_field
from datetime import UTC, datetime
from typing import Any

from shopvisma.errors import ExitCode
from shopvisma.timefmt import iso_z


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
    transient: bool = False  # failed for a reason outside the order (Visma trouble)
    document_number: str = ""  # InvoiceNumber / order Number once Visma gave one
    booked: bool = False  # a draft or sales order was converted into a booked invoice in this pass
    payments: list[dict[str, Any]] = dc_field(default_factory=list)  # registered (or, dry-run, would be)
    payment_pending: str = ""  # why (the rest of) the order's payments are not on its invoice
    payment_hint: str = ""
    paid: str = ""  # the invoice's paid amount once every Shopify payment is on it
    write_back: dict[str, Any] | None = None  # dry-run: the Shopify tag/metafield it would write

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v not in ("", None, []) and (v or k != "booked")}


Sink = Callable[[OrderOutcome], None]
KEPT = ("failed", "edited")  # what a streamed pass still keeps: summaries, run log, notify need them


@dataclass
class PayoutOutcome:
    """What happened to one Shopify Payments payout in this pass ([payouts], engine/payouts.py).
    `pending` makes the pass partial (exit 1); `waiting` (not PAID yet) and `skipped` do not."""

    payout: str  # legacyResourceId
    status: str  # booked | exists | would-book | waiting | pending | skipped
    date: str = ""  # the voucher date (issuedAt's UTC date)
    shopify_status: str = ""  # SCHEDULED | IN_TRANSIT | PAID | FAILED | CANCELED
    currency: str = ""
    net: str = ""
    gross: str = ""
    fees: str = ""
    voucher_id: str = ""
    voucher_number: str = ""
    reason: str = ""
    hint: str = ""
    rows: list[dict[str, Any]] = dc_field(default_factory=list)  # account, debit, credit, text
    body: dict[str, Any] | None = None  # dry-run: the exact POST /v2/vouchers body
    duplicates: int = 0  # more than one voucher carries this payout's text (reconcile lists them)
    transient: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v not in ("", None, [], 0) or k == "status"}


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
    unconfirmed: int = 0  # creates in a row that Visma did not confirm (see sync_pass.MAX_UNCONFIRMED)
    tally: Counter[str] = dc_field(default_factory=Counter)
    sink: Sink | None = dc_field(default=None, repr=False)
    payouts: list[PayoutOutcome] = dc_field(default_factory=list)  # [payouts]: every payout the pass named

    def add(self, outcome: OrderOutcome) -> None:
        """Call once the outcome is final: the sink may print or serialize it right away."""
        self.tally[outcome.status] += 1
        self.tally["payments"] += len(outcome.payments)
        if outcome.booked:
            self.tally["booked"] += 1
        if outcome.payment_pending:
            self.tally["payment-pending"] += 1
        if self.sink is not None:
            self.sink(outcome)
        if self.sink is None or outcome.status in KEPT or outcome.payment_pending:
            self.outcomes.append(outcome)

    def count(self, status: str) -> int:
        return self.tally[status]

    @property
    def counts(self) -> dict[str, int]:
        keys = ("created", "exists", "failed", "would-create", "edited", "booked", "payments", "payment-pending")
        return {k: self.count(k) for k in keys if self.count(k)}

    def finish(self) -> PassResult:
        self.finished_at = datetime.now(UTC)
        if self.exit_code == ExitCode.OK and (self.count("failed") or self.count("payment-pending")):
            self.exit_code = ExitCode.PARTIAL
        return self

    def as_dict(self, *, orders: bool = True) -> dict[str, Any]:
        """`orders=False`: the document without its "orders" list (a streamed pass writes it)."""
        doc: dict[str, Any] = {
            "command": self.command,
            "started_at": iso_z(self.started_at),
            "finished_at": iso_z(self.finished_at) if self.finished_at else None,
            "exit_code": int(self.exit_code),
            "outcome": {0: "ok", 1: "partial"}.get(int(self.exit_code), "error"),
            "counts": self.counts,
            "bookmark": self.bookmark,
            "requests": {
                "shopify": self.shopify_requests,
                "visma": self.visma_requests,
                "visma_writes": self.visma_writes,
            },
        }
        if orders:
            doc["orders"] = [o.as_dict() for o in self.outcomes]
        if self.payouts:
            doc["payouts"] = [p.as_dict() for p in self.payouts]
        return doc
