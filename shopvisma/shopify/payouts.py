"""Shopify Payments payouts and their balance transactions: the documents and a typed Payout.

Kept apart from queries.py (orders) but validated the same way: `PAYOUT_QUERIES` is merged
into `queries.ALL_QUERIES`, so the contract test checks each document against the published
2025-01 schema. Why the documents look as they do (docs/payouts.md has the sources):

- `net` is the payout's amount. The deprecated `gross` has the same description ("The total
  amount of the payout") and is never asked for: crediting the clearing account with it would
  book the net twice and leave the fees out.
- gross and fees come from `summary`, summed over the twelve 2025-01 fields listed here (a
  later version's extra field would make the figures not add up, so the payout is held, never
  booked short). Where `summary` is refused (a reported ACCESS_DENIED that wants
  read_shopify_payments), they come from the payout's balance transactions instead.
- a payout's transactions are found with `payments_transfer_id:<legacy id>` (what public
  connectors send), then the gid form, and are matched on `associatedPayout.id` here, so a
  filter Shopify ignores cannot pull in another payout's money.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from shopvisma.errors import AuthError, ShopvismaError
from shopvisma.timefmt import parse_iso


class GraphQL(Protocol):
    """What these reads need of shopify.client.ShopifyClient: one query, cost-aware, within the wait budget."""

    def execute(
        self, document: str, variables: dict[str, Any], *, expected_cost: float | None = None
    ) -> dict[str, Any]: ...


PAGE = 100  # payouts per page: 2 points each (the payout and its summary), ~200 a page
TRANSACTIONS_PAGE = 100  # 3 points each (the transaction, its payout and its order)
SCOPES = ("read_shopify_payments_payouts", "read_shopify_payments_accounts")
SCOPE_HINT = (
    "give the Shopify app the access scopes read_shopify_payments_payouts and read_shopify_payments_accounts "
    "(Dev Dashboard or the store admin's app settings), approve them, then run: shopvisma login shopify"
)

_MONEY = "{ amount currencyCode }"
SUMMARY_GROSS = (
    "chargesGross",
    "refundsFeeGross",  # sic: the refunds' gross (negative), as the 2025-01 schema names it
    "adjustmentsGross",
    "reservedFundsGross",
    "retriedPayoutsGross",
    "advanceGross",
)
SUMMARY_FEES = ("chargesFee", "refundsFee", "adjustmentsFee", "reservedFundsFee", "retriedPayoutsFee", "advanceFees")
_SUMMARY = "summary { " + " ".join(f"{f} {_MONEY}" for f in (*SUMMARY_GROSS, *SUMMARY_FEES)) + " }"


def _payouts_query(name: str, summary: bool) -> str:
    return (
        f"query {name}($first: Int!, $after: String, $query: String) {{\n"
        "  shopifyPaymentsAccount {\n"
        "    id\n"
        "    payouts(first: $first, after: $after, query: $query, sortKey: ISSUED_AT) {\n"
        "      pageInfo { hasNextPage endCursor }\n"
        f"      nodes {{ id legacyResourceId issuedAt status transactionType net {_MONEY}"
        + (f"\n        {_SUMMARY}" if summary else "")
        + " }\n"
        "    }\n"
        "  }\n"
        "}\n"
    )


PAYOUTS_QUERY = _payouts_query("Payouts", summary=True)
PAYOUTS_NO_SUMMARY_QUERY = _payouts_query("PayoutsWithoutSummary", summary=False)
PAYOUT_TRANSACTIONS_QUERY = (
    "query PayoutTransactions($first: Int!, $after: String, $query: String) {\n"
    "  shopifyPaymentsAccount {\n"
    "    balanceTransactions(first: $first, after: $after, query: $query, sortKey: PROCESSED_AT) {\n"
    "      pageInfo { hasNextPage endCursor }\n"
    f"      nodes {{ id type test transactionDate amount {_MONEY} fee {_MONEY} net {_MONEY}\n"
    "        associatedPayout { id status } associatedOrder { id name } }\n"
    "    }\n"
    "  }\n"
    "}\n"
)
PAYOUT_QUERIES = {
    "Payouts": PAYOUTS_QUERY,
    "PayoutsWithoutSummary": PAYOUTS_NO_SUMMARY_QUERY,
    "PayoutTransactions": PAYOUT_TRANSACTIONS_QUERY,
}


class NoPaymentsAccount(ShopvismaError):
    """`shopifyPaymentsAccount` is null: the shop has no Shopify Payments (a payout problem, not the pass's)."""


@dataclass(frozen=True)
class Payout:
    """One payout as the voucher needs it. `net` is signed: a WITHDRAWAL is negative whichever
    way Shopify serves its amount (the direction is `transactionType`, the amount may be either)."""

    id: str
    legacy_id: str
    issued_at: datetime
    status: str  # SCHEDULED | IN_TRANSIT | PAID | FAILED | CANCELED
    direction: str  # DEPOSIT | WITHDRAWAL
    net: Decimal
    currency: str
    summary: dict[str, tuple[Decimal, str]] | None = None  # field → (amount, currency); None: not read

    @property
    def date(self) -> date:
        """The bookkeeping date: the UTC date of `issuedAt` (docs/payouts.md, "Dates")."""
        return self.issued_at.date()

    def summary_figures(self) -> tuple[Decimal, Decimal] | None:
        """(gross, fees) summed over the known summary fields; None when the summary was not read."""
        if self.summary is None:
            return None
        gross = sum((self.summary[f][0] for f in SUMMARY_GROSS if f in self.summary), Decimal(0))
        fees = sum((self.summary[f][0] for f in SUMMARY_FEES if f in self.summary), Decimal(0))
        return gross, fees

    def summary_currencies(self) -> set[str]:
        return {cur for _, cur in (self.summary or {}).values()}


@dataclass(frozen=True)
class BalanceTransaction:
    id: str
    type: str
    amount: Decimal
    fee: Decimal
    net: Decimal
    currency: str
    payout_id: str
    test: bool


def _money(node: Any, what: str) -> tuple[Decimal, str]:
    try:
        return Decimal(str(node["amount"])), str(node["currencyCode"])
    except (KeyError, TypeError, InvalidOperation):
        raise ShopvismaError(f"Shopify served an unreadable amount for {what}: {node!r}") from None


def parse_payout(node: dict[str, Any]) -> Payout:
    amount, currency = _money(node.get("net"), f"payout {node.get('legacyResourceId')} net")
    direction = str(node.get("transactionType") or "DEPOSIT")
    raw = node.get("summary")
    summary = None
    if isinstance(raw, dict):
        summary = {k: _money(v, f"payout {node.get('legacyResourceId')} {k}") for k, v in raw.items()}
    return Payout(
        id=str(node["id"]),
        legacy_id=str(node["legacyResourceId"]),
        issued_at=parse_iso(str(node["issuedAt"])),
        status=str(node.get("status") or ""),
        direction=direction,
        net=-abs(amount) if direction == "WITHDRAWAL" else amount,
        currency=currency,
        summary=summary,
    )


def parse_transaction(node: dict[str, Any]) -> BalanceTransaction:
    amount, currency = _money(node.get("amount"), f"balance transaction {node.get('id')}")
    fee, _ = _money(node.get("fee"), f"balance transaction {node.get('id')} fee")
    net, _ = _money(node.get("net"), f"balance transaction {node.get('id')} net")
    return BalanceTransaction(
        id=str(node.get("id")),
        type=str(node.get("type") or ""),
        amount=amount,
        fee=fee,
        net=net,
        currency=currency,
        payout_id=str((node.get("associatedPayout") or {}).get("id") or ""),
        test=bool(node.get("test")),
    )


def payouts_search(since: datetime | None, only: str | None = None) -> str:
    """The documented `payouts(query:)` terms: `issued_at` and `id` (no status term: the ones not
    PAID yet are read too, so `status` can name them)."""
    from shopvisma.timefmt import iso_z

    if only is not None:
        return f"id:{only}"
    return f"issued_at:>='{iso_z(since)}'" if since is not None else ""


def _denied(exc: AuthError) -> bool:
    return "denied access" in exc.message


def iter_payouts(client: GraphQL, search: str, *, summary: bool = True) -> Iterator[Payout]:
    """Every payout matching `search`, oldest first, page by page (the client waits on the cost
    bucket). ACCESS_DENIED is re-raised naming the payout scopes (77)."""
    query = PAYOUTS_QUERY if summary else PAYOUTS_NO_SUMMARY_QUERY
    after: str | None = None
    while True:
        try:
            data = client.execute(query, {"first": PAGE, "after": after, "query": search or None})
        except AuthError as exc:
            if not _denied(exc):
                raise
            raise PayoutAccessError(summary) from None
        account = data.get("shopifyPaymentsAccount")
        if account is None:
            raise NoPaymentsAccount(
                "the shop has no Shopify Payments account (shopifyPaymentsAccount is null), so no payout is booked",
                hint="remove [payouts] from the config, or activate Shopify Payments",
            )
        conn = account.get("payouts") or {}
        for node in conn.get("nodes") or []:
            yield parse_payout(node)
        info = conn.get("pageInfo") or {}
        if not info.get("hasNextPage") or not info.get("endCursor"):
            return
        after = info["endCursor"]


class PayoutAccessError(AuthError):
    """Shopify refused the payouts (or only their summary: `summary_only`, and a retry without it may work)."""

    def __init__(self, with_summary: bool) -> None:
        super().__init__(
            "Shopify denied access to the payouts: the app lacks " + " / ".join(SCOPES)
            if not with_summary
            else "Shopify denied access to the payouts or their summary",
            hint=SCOPE_HINT,
        )
        self.summary_only = with_summary


def fetch_payouts(client: GraphQL, search: str, *, summary: bool = True) -> tuple[list[Payout], bool]:
    """(payouts, whether their summary was read). A refused summary costs one retry without it;
    a refused payouts list is an AuthError naming the scopes."""
    if summary:
        try:
            return list(iter_payouts(client, search, summary=True)), True
        except PayoutAccessError:
            pass  # the summary alone may be what is denied (notes, section 1)
    try:
        return list(iter_payouts(client, search, summary=False)), False
    except PayoutAccessError:
        raise PayoutAccessError(False) from None


def payout_transactions(client: GraphQL, payout: Payout) -> list[BalanceTransaction]:
    """The payout's balance transactions, TRANSFER included (the caller leaves it out of sums)."""
    for key in (payout.legacy_id, payout.id):
        found = [t for t in _iter_transactions(client, f"payments_transfer_id:{key}") if t.payout_id == payout.id]
        if found:
            return found
    return []


def _iter_transactions(client: GraphQL, search: str) -> Iterator[BalanceTransaction]:
    after: str | None = None
    while True:
        try:
            data = client.execute(
                PAYOUT_TRANSACTIONS_QUERY, {"first": TRANSACTIONS_PAGE, "after": after, "query": search}
            )
        except AuthError as exc:
            if not _denied(exc):
                raise
            raise PayoutAccessError(False) from None
        conn = (data.get("shopifyPaymentsAccount") or {}).get("balanceTransactions") or {}
        for node in conn.get("nodes") or []:
            yield parse_transaction(node)
        info = conn.get("pageInfo") or {}
        if not info.get("hasNextPage") or not info.get("endCursor"):
            return
        after = info["endCursor"]


def transaction_figures(transactions: list[BalanceTransaction]) -> tuple[Decimal, Decimal, set[str]]:
    """(gross, fees, currencies) over the payout's transactions, its own TRANSFER left out: summed
    with it the payout would come to zero (notes, section 4)."""
    money = [t for t in transactions if t.type != "TRANSFER" and not t.test]
    gross = sum((t.amount for t in money), Decimal(0))
    fees = sum((t.fee for t in money), Decimal(0))
    return gross, fees, {t.currency for t in money}
