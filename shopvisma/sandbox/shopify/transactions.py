"""Order payment transactions in the sandbox: `Order.transactions`, `Refund.transactions`, and their upkeep.

Storage: `order["transactions"]` is the one list of every transaction on the order,
refunds' included (Shopify's `Order.transactions` lists them too); each refund's
`transactions` holds the same dicts (by identity) for its REFUND transactions, because
`OrderTransaction` has no field naming its refund. `parentTransaction` is stored as a
stub `{"id"}` and linked here to the full parent dict, so `parentTransaction { id kind
amountSet }` resolves without an index. Money logic lives in seed.payments (shared
with the seed).
"""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

from graphql import GraphQLObjectType, GraphQLSchema

from shopvisma.sandbox.seed.payments import allocate_refund, transaction

SANDBOX_TXN_BASE = 9900000000  # ids of transactions the sandbox creates (add_refund, set_transactions)


def link(order: dict[str, Any]) -> None:
    """Make the order's transaction lists consistent: refund transactions are also order
    transactions (same dict), every `parentTransaction` stub points at the full parent."""
    txns: list[dict[str, Any]] = order.setdefault("transactions", [])
    by_id = {t["id"]: t for t in txns if t.get("id")}
    for refund in order.get("refunds") or []:
        own = []
        for t in refund.get("transactions") or []:
            if t.get("id") in by_id:
                own.append(by_id[t["id"]])
            else:
                txns.append(t)
                by_id[t["id"]] = t
                own.append(t)
        refund["transactions"] = own
    for t in txns:
        parent = t.get("parentTransaction")
        if isinstance(parent, dict) and parent.get("id") in by_id and parent is not by_id[parent["id"]]:
            t["parentTransaction"] = by_id[parent["id"]]


def complete(txn: dict[str, Any], order: dict[str, Any], number: int) -> dict[str, Any]:
    """A test-supplied transaction with the non-null fields it left out filled in."""
    t = copy.deepcopy(txn)
    shop_cur, pres_cur = order["currencyCode"], order["presentmentCurrencyCode"]
    amount = t.pop("amount", None)  # a convenience: "12.50" means the same in both currencies
    if "amountSet" not in t:
        value = Decimal(str(amount if amount is not None else order["totalPriceSet"]["shopMoney"]["amount"]))
        t["amountSet"] = {
            "shopMoney": {"amount": f"{value:.2f}", "currencyCode": shop_cur},
            "presentmentMoney": {"amount": f"{value:.2f}", "currencyCode": pres_cur},
        }
    base = transaction(
        number,
        t.get("kind", "SALE"),
        t.get("status", "SUCCESS"),
        t.get("gateway") or "shopify_payments",
        Decimal(t["amountSet"]["shopMoney"]["amount"]),
        Decimal(t["amountSet"]["presentmentMoney"]["amount"]),
        shop_currency=shop_cur,
        presentment_currency=pres_cur,
        at=t.get("processedAt") or t.get("createdAt") or order["createdAt"],
        test=bool(t.get("test", order.get("test", False))),
    )
    base.update(t)
    if isinstance(base.get("parentTransaction"), str):
        base["parentTransaction"] = {"id": base["parentTransaction"]}
    return base


def refund_transactions(order: dict[str, Any], refund: dict[str, Any], first_number: int) -> list[dict[str, Any]]:
    """REFUND SUCCESS transactions paying `refund` back through the order's payments (one per parent)."""
    bag = refund["totalRefundedSet"]
    pieces = allocate_refund(
        order.get("transactions") or [],
        Decimal(bag["shopMoney"]["amount"]),
        Decimal(bag["presentmentMoney"]["amount"]),
    )
    return [
        transaction(
            first_number + k,
            "REFUND",
            "SUCCESS",
            parent["gateway"],
            shop,
            pres,
            shop_currency=order["currencyCode"],
            presentment_currency=order["presentmentCurrencyCode"],
            at=refund["createdAt"],
            test=bool(order.get("test")),
            parent=parent["id"],
        )
        for k, (parent, shop, pres) in enumerate(pieces)
    ]


def _capturable(txn: dict[str, Any], txns: list[dict[str, Any]]) -> bool:
    """A successful authorization no successful capture or void has settled yet."""
    if txn["kind"] not in ("AUTHORIZATION", "EMV_AUTHORIZATION") or txn["status"] != "SUCCESS":
        return False
    return not any(
        c["kind"] in ("CAPTURE", "VOID")
        and c["status"] == "SUCCESS"
        and (c.get("parentTransaction") or {}).get("id") == txn["id"]
        for c in txns
    )


def resolve_order_transactions(
    obj: Any,
    info: Any,
    first: int | None = None,
    capturable: bool | None = None,
    manuallyResolvable: bool | None = None,  # noqa: N803 - GraphQL argument name
) -> list[dict[str, Any]]:
    """`Order.transactions(first:, capturable:, manuallyResolvable:)`: a list, not a connection.

    capturable: true keeps authorizations still open for capture; manuallyResolvable: true
    keeps pending payments on a manual gateway (those a merchant can mark as paid). Shopify
    documents the arguments, not their exact rules: these are the sandbox's reading.
    """
    txns = list(obj.get("transactions") or []) if isinstance(obj, dict) else []
    if capturable is not None:
        txns = [t for t in txns if _capturable(t, obj["transactions"]) == capturable]
    if manuallyResolvable is not None:
        txns = [t for t in txns if (t.get("manualPaymentGateway") and t["status"] == "PENDING") == manuallyResolvable]
    return txns[:first] if first is not None else txns


def install_transaction_resolvers(schema: GraphQLSchema) -> None:
    """Order.transactions filters; Refund.transactions is a connection and uses graphql.py's list paging."""
    order = schema.type_map["Order"]
    assert isinstance(order, GraphQLObjectType)
    order.fields["transactions"].resolve = resolve_order_transactions
