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

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v not in ("", None, [])}


Sink = Callable[[OrderOutcome], None]
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
    unconfirmed: int = 0  # creates in a row that Visma did not confirm (see sync_pass.MAX_UNCONFIRMED)
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
        return doc
