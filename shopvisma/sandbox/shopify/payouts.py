"""Shopify Payments in the Shopify sandbox: payouts and balance transactions.

Stored in the GraphQL response shape of `ShopifyPaymentsPayout` / `ShopifyPaymentsBalanceTransaction`
(connections as plain lists). What Shopify leaves open is served as *readings*
(`sandbox.payouts.readings`), one per open point of shared/reference/shopify-payouts-notes.md,
so the product's suite can run under each; docs/payouts.md says which reading is the default
and why. Money is Decimal inside and decimal strings on the wire, as Shopify serves MoneyV2.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from graphql import GraphQLError, GraphQLObjectType, GraphQLSchema

from shopvisma.sandbox.shopify.graphql import paginate
from shopvisma.sandbox.shopify.search import Term, parse_instant, parse_term, to_instant, tokenize

Json = dict[str, Any]

READINGS: dict[str, str] = {
    "summary-access-denied": "`ShopifyPaymentsPayout.summary` answers ACCESS_DENIED (needs read_shopify_payments and the "
    "shopify_payments_transfers permission): the unresolved community thread of the notes, section 1",
    "payouts-access-denied": "`payouts` and `balanceTransactions` answer ACCESS_DENIED: the app lacks "
    "read_shopify_payments_payouts (notes, section 1)",
    "no-payments-account": "`shopifyPaymentsAccount` is null: a shop without Shopify Payments (the type is nullable)",
    "transfer-id-gid": "`payments_transfer_id:` matches the payout's gid only; the numeric legacy id (the default, "
    "what public connectors send) matches nothing",
    "transfer-filter-ignored": "`payments_transfer_id:` is dropped as an unknown term: every transaction comes back",
    "withdrawal-net-signed": "a WITHDRAWAL payout's `net` is served negative (default: the amount, positive, "
    "with transactionType giving the direction)",
    "transfer-positive": "the payout's own TRANSFER balance transaction is served with amount = +net (default: "
    "-net, 'money out of the balance is negative')",
}
SUMMARY_PARTS = {  # summary field pair ← balance transaction types (the rest are adjustments)
    ("chargesGross", "chargesFee"): {"CHARGE"},
    ("refundsFeeGross", "refundsFee"): {"REFUND", "REFUND_FAILURE"},
    ("reservedFundsGross", "reservedFundsFee"): {
        "RESERVED_FUNDS",
        "RESERVED_FUNDS_WITHDRAWAL",
        "RESERVED_FUNDS_REVERSAL",
    },
    ("retriedPayoutsGross", "retriedPayoutsFee"): {"TRANSFER_FAILURE", "TRANSFER_CANCEL"},
    ("advanceGross", "advanceFees"): {"ADVANCE", "ADVANCE_FUNDING"},
}
ADJUSTMENTS = ("adjustmentsGross", "adjustmentsFee")
ACCOUNT_ID = "gid://shopify/ShopifyPaymentsAccount/7001"


def money(amount: Decimal, currency: str) -> Json:
    return {"amount": f"{amount:.2f}", "currencyCode": currency}


def _amount(m: Json) -> Decimal:
    return Decimal(str(m["amount"]))


def summarize(transactions: Iterable[Json], currency: str) -> Json:
    """A payout's summary from its transactions (gross = amount, fee = fee, TRANSFER left out)."""
    sums: dict[str, Decimal] = {}
    for t in transactions:
        if t["type"] == "TRANSFER":
            continue
        gross_key, fee_key = next((pair for pair, kinds in SUMMARY_PARTS.items() if t["type"] in kinds), ADJUSTMENTS)
        sums[gross_key] = sums.get(gross_key, Decimal(0)) + _amount(t["amount"])
        sums[fee_key] = sums.get(fee_key, Decimal(0)) + _amount(t["fee"])
    keys = [k for pair in (*SUMMARY_PARTS, ADJUSTMENTS) for k in pair]
    return {k: money(sums.get(k, Decimal(0)), currency) for k in sorted(keys)}


class PayoutStore:
    """The shop's Shopify Payments account: payouts (issue order) and balance transactions."""

    def __init__(self, currency: str = "SEK") -> None:
        self.currency = currency
        self.payouts: dict[str, Json] = {}
        self.transactions: list[Json] = []
        self.readings: set[str] = set()
        self.lock = threading.RLock()

    def read(self, *names: str) -> None:
        """Serve these readings from now on (unknown names fail: a typo would test the default)."""
        unknown = sorted(set(names) - READINGS.keys())
        if unknown:
            raise ValueError(f"unknown payout reading(s) {unknown}; valid: {sorted(READINGS)}")
        self.readings.update(names)

    def add(self, payout: Json, transactions: list[Json]) -> Json:
        """Store a payout (its `net` signed: negative for a withdrawal) and its transactions; the
        TRANSFER that moves the net out of the balance is added here."""
        p = copy.deepcopy(payout)
        net = _amount(p["net"])
        p.setdefault("gross", copy.deepcopy(p["net"]))  # deprecated: "The total amount of the payout" = net
        p.setdefault("transactionType", "DEPOSIT" if net >= 0 else "WITHDRAWAL")
        if p["transactionType"] == "WITHDRAWAL" and net < 0:
            p["net"] = p["gross"] = money(-net, p["net"]["currencyCode"])  # stored as the amount, positive
        with self.lock:
            self.payouts[p["id"]] = p
            for t in transactions:
                self.transactions.append(self._own(copy.deepcopy(t), p))
            transfer = {
                "id": f"gid://shopify/ShopifyPaymentsBalanceTransaction/{p['legacyResourceId']}9",
                "type": "TRANSFER",
                "sourceType": "TRANSFER",
                "test": False,
                "transactionDate": p["issuedAt"],
                "amount": money(-net, p["net"]["currencyCode"]),
                "fee": money(Decimal(0), p["net"]["currencyCode"]),
                "net": money(-net, p["net"]["currencyCode"]),
                "associatedOrder": None,
                "adjustmentReason": None,
            }
            self.transactions.append(self._own(transfer, p))
        return p

    @staticmethod
    def _own(t: Json, payout: Json) -> Json:
        t["associatedPayout"] = {"id": payout["id"], "status": payout["status"]}
        t.setdefault("adjustmentReason", None)
        t.setdefault("associatedOrder", None)
        t.setdefault("test", False)
        return t

    def set_status(self, gid: str, status: str) -> None:
        with self.lock:
            self.payouts[gid]["status"] = status
            for t in self.transactions:
                if t["associatedPayout"]["id"] == gid:
                    t["associatedPayout"]["status"] = status

    # ----------------------------------------------------------------- serving
    def served_payout(self, p: Json) -> Json:
        out = copy.deepcopy(p)
        if "withdrawal-net-signed" in self.readings and p["transactionType"] == "WITHDRAWAL":
            out["net"] = out["gross"] = money(-_amount(p["net"]), p["net"]["currencyCode"])
        return out

    def served_transaction(self, t: Json) -> Json:
        out = copy.deepcopy(t)
        if "transfer-positive" in self.readings and t["type"] == "TRANSFER":
            for key in ("amount", "net"):
                out[key] = money(-_amount(t[key]), t[key]["currencyCode"])
        return out


# --------------------------------------------------------------------------- search terms
def _terms(query: str | None) -> list[Term]:
    """AND of `field:value` terms: the product sends nothing else (OR / NOT are not served)."""
    return [parse_term(tok) for tok in tokenize(query or "") if tok not in ("(", ")", "AND", "OR")]


def _time_ok(value: str | None, term: Term, now: datetime) -> bool:
    t, span = to_instant(value), parse_instant(term.value, now)
    if span is None:  # an unreadable time drops the term, as Shopify does
        return True
    if t is None:
        return False
    start, end = span
    if start == end:
        return {":": t == start, "<": t < start, ">": t > start, "<=": t <= start, ">=": t >= start}[term.op]
    return {":": start <= t < end, "<": t < start, ">": t >= end, "<=": t < end, ">=": t >= start}[term.op]


def _num_ok(value: int, term: Term) -> bool:
    try:
        b = int(term.value.rsplit("/", 1)[-1])
    except ValueError:
        return True
    return {":": value == b, "<": value < b, ">": value > b, "<=": value <= b, ">=": value >= b}[term.op]


def payout_matches(p: Json, terms: list[Term], now: datetime) -> bool:
    for term in terms:
        if term.field == "status" and p["status"].lower() != term.value.lower():
            return False
        if term.field == "issued_at" and not _time_ok(p["issuedAt"], term, now):
            return False
        if term.field == "id" and not _num_ok(int(p["legacyResourceId"]), term):
            return False
        if term.field == "currency" and p["net"]["currencyCode"].lower() != term.value.lower():
            return False
    return True


def transaction_matches(t: Json, terms: list[Term], store: PayoutStore, now: datetime) -> bool:
    payout = store.payouts.get(t["associatedPayout"]["id"] or "") or {}
    for term in terms:
        if term.field == "payments_transfer_id":
            if "transfer-filter-ignored" in store.readings:
                continue
            wanted = term.value
            gid_only = "transfer-id-gid" in store.readings
            if wanted != payout.get("id") and (gid_only or wanted != str(payout.get("legacyResourceId"))):
                return False
        if (
            term.field == "payout_status"
            and (t["associatedPayout"]["status"] or "PENDING").lower() != term.value.lower()
        ):
            return False
        if term.field == "payout_date" and not _time_ok(payout.get("issuedAt"), term, now):
            return False
        if term.field == "processed_at" and not _time_ok(t["transactionDate"], term, now):
            return False
        if term.field == "transaction_type" and t["type"].lower() != term.value.lower():
            return False
    return True


# --------------------------------------------------------------------------- resolvers
def _denied(field: str, scope: str) -> GraphQLError:
    return GraphQLError(
        f"Access denied for {field} field. Required access: `{scope}` access scope.",
        extensions={"code": "ACCESS_DENIED", "documentation": "https://shopify.dev/api/usage/access-scopes"},
    )


def _store(info: Any) -> PayoutStore:
    store: PayoutStore = info.root_value.payouts
    return store


def _now(info: Any) -> datetime:
    now = (info.context or {}).get("now")
    return now if isinstance(now, datetime) else datetime.now(timezone.utc)


def resolve_account(root: Any, info: Any) -> Json | None:
    store = _store(info)
    if "no-payments-account" in store.readings:
        return None
    return {"id": ACCOUNT_ID, "activated": True, "country": "SE", "defaultCurrency": store.currency}


def _page(items: list[Json], keys: list[Any], args: dict[str, Any]) -> Json:
    if args.get("reverse"):
        items, keys = items[::-1], keys[::-1]
    return paginate(
        items, keys, first=args.get("first"), after=args.get("after"), last=args.get("last"), before=args.get("before")
    )


def resolve_payouts(account: Json, info: Any, **args: Any) -> Json:
    store = _store(info)
    if "payouts-access-denied" in store.readings:
        raise _denied("payouts", "read_shopify_payments_payouts")
    terms, now = _terms(args.get("query")), _now(info)
    with store.lock:
        chosen = [
            store.served_payout(p)
            for p in store.payouts.values()
            if payout_matches(p, terms, now) and (args.get("transactionType") in (None, p["transactionType"]))
        ]
    sort: Callable[[Json], Any] = {
        "ID": lambda p: int(p["legacyResourceId"]),
        "AMOUNT": lambda p: float(p["net"]["amount"]),
        "STATUS": lambda p: p["status"],
    }.get(str(args.get("sortKey") or "ISSUED_AT"), lambda p: (to_instant(p["issuedAt"]), int(p["legacyResourceId"])))
    chosen.sort(key=sort)
    return _page(chosen, [[p["issuedAt"], int(p["legacyResourceId"])] for p in chosen], args)


def resolve_balance_transactions(account: Json, info: Any, **args: Any) -> Json:
    store = _store(info)
    if "payouts-access-denied" in store.readings:
        raise _denied("balanceTransactions", "read_shopify_payments_payouts")
    terms, now = _terms(args.get("query")), _now(info)
    with store.lock:
        chosen = [
            store.served_transaction(t)
            for t in store.transactions
            if transaction_matches(t, terms, store, now) and not (args.get("hideTransfers") and t["type"] == "TRANSFER")
        ]
    chosen.sort(key=lambda t: (to_instant(t["transactionDate"]), t["id"]))
    return _page(chosen, [[t["transactionDate"], t["id"]] for t in chosen], args)


def resolve_summary(payout: Json, info: Any) -> Json:
    if "summary-access-denied" in _store(info).readings:
        raise GraphQLError(
            "Access denied for summary field. Required access: `read_shopify_payments` access scope. "
            "Also: User must have the shopify_payments_transfers permission.",
            extensions={"code": "ACCESS_DENIED", "documentation": "https://shopify.dev/api/usage/access-scopes"},
        )
    summary: Json = payout["summary"]
    return summary


def install_payout_resolvers(schema: GraphQLSchema) -> None:
    """Wire the resolvers that differ from graphql-core's default (dict key lookup)."""
    query = schema.query_type
    assert query is not None
    query.fields["shopifyPaymentsAccount"].resolve = resolve_account
    account = schema.type_map["ShopifyPaymentsAccount"]
    payout = schema.type_map["ShopifyPaymentsPayout"]
    assert isinstance(account, GraphQLObjectType) and isinstance(payout, GraphQLObjectType)
    account.fields["payouts"].resolve = resolve_payouts
    account.fields["balanceTransactions"].resolve = resolve_balance_transactions
    payout.fields["summary"].resolve = resolve_summary
