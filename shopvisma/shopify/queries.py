"""Every GraphQL document the product sends to Shopify, in one place.

Kept apart from the HTTP client so that the contract test can validate each of
them against the published 2025-01 Admin schema, and the sandbox can execute
exactly these. Only fields the mapping uses are asked for: Shopify charges by
the object, and a page may cost at most 1,000 points.
"""

from __future__ import annotations

_MONEY = "{ shopMoney { amount currencyCode } presentmentMoney { amount currencyCode } }"
_TAX = "taxLines { title rate priceSet " + _MONEY + " }"
_ADDRESS = "{ name firstName lastName company address1 address2 city zip countryCodeV2 phone }"

_ORDER_SCALARS = f"""
  id legacyResourceId name email createdAt updatedAt cancelledAt test
  displayFinancialStatus displayFulfillmentStatus tags
  currencyCode presentmentCurrencyCode taxesIncluded
  totalPriceSet {_MONEY}
  totalTaxSet {_MONEY}
  subtotalPriceSet {_MONEY}
  totalDiscountsSet {_MONEY}
  totalShippingPriceSet {_MONEY}
  totalTipReceivedSet {_MONEY}
  totalRefundedSet {_MONEY}
  customer {{ id displayName firstName lastName }}
  billingAddress {_ADDRESS}
  shippingAddress {_ADDRESS}
"""
_LINE = f"""id sku name title variantTitle quantity taxable isGiftCard requiresShipping
      originalUnitPriceSet {_MONEY}
      discountAllocations {{ allocatedAmountSet {_MONEY} }}
      {_TAX}"""
_SHIPPING_LINE = f"""title code
      originalPriceSet {_MONEY}
      discountedPriceSet {_MONEY}
      {_TAX}"""

ORDER_FIELDS = f"""{_ORDER_SCALARS}
  lineItems(first: $lines) {{
    pageInfo {{ hasNextPage endCursor }}
    nodes {{
      {_LINE}
    }}
  }}
  shippingLines(first: 5) {{
    nodes {{
      {_SHIPPING_LINE}
    }}
  }}
"""

# The order's payments ([payments] only: 20 transactions cost points on every order).
# `Order.transactions` is a list, not a connection, so a bulk query may hold it inline.
_TRANSACTION = f"id kind status gateway test processedAt createdAt amountSet {_MONEY} parentTransaction {{ id }}"
TRANSACTIONS = f"  transactions(first: 20) {{ {_TRANSACTION} }}\n"


def _orders_query(name: str, fields: str) -> str:
    """One page of orders, oldest change first, filtered server-side by the search syntax."""
    return (
        f"query {name}($first: Int!, $after: String, $query: String, $lines: Int!) {{\n"
        "  orders(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {\n"
        "    pageInfo { hasNextPage endCursor }\n"
        "    nodes {" + fields + "    }\n"
        "  }\n"
        "}\n"
    )


ORDERS_QUERY = _orders_query("Orders", ORDER_FIELDS)
ORDERS_PAYMENTS_QUERY = _orders_query("OrdersWithPayments", ORDER_FIELDS + TRANSACTIONS)

# The rest of one order's line items, when an order has more than a page holds.
ORDER_LINES_QUERY = (
    "query OrderLines($id: ID!, $after: String) {\n"
    "  order(id: $id) {\n"
    "    lineItems(first: 100, after: $after) {\n"
    "      pageInfo { hasNextPage endCursor }\n"
    "      nodes {\n"
    "        id sku name title variantTitle quantity taxable isGiftCard requiresShipping\n"
    f"        originalUnitPriceSet {_MONEY}\n"
    f"        discountAllocations {{ allocatedAmountSet {_MONEY} }}\n"
    f"        {_TAX}\n"
    "      }\n"
    "    }\n"
    "  }\n"
    "}\n"
)


def _refunds_query(name: str, extra: str = "") -> str:
    """Refunds of one order: only asked for orders whose totalRefundedSet is not zero,
    because refund line items are the most expensive part of an order (cost points)."""
    return (
        f"query {name}($id: ID!) {{\n"
        "  order(id: $id) {\n"
        "    refunds(first: 20) {\n"
        "      id createdAt\n"
        f"      totalRefundedSet {_MONEY}\n"
        "      refundLineItems(first: 50) {\n"
        f"        nodes {{ quantity subtotalSet {_MONEY} totalTaxSet {_MONEY} lineItem {{ id sku }} }}\n"
        "      }\n"
        "      refundShippingLines(first: 5) {\n"
        f"        nodes {{ subtotalAmountSet {_MONEY} taxAmountSet {_MONEY} }}\n"
        "      }\n" + extra + "    }\n"
        "  }\n"
        "}\n"
    )


ORDER_REFUNDS_QUERY = _refunds_query("OrderRefunds")
# With [payments]: what each refund paid back (a connection here, unlike Order.transactions).
ORDER_REFUNDS_PAYMENTS_QUERY = _refunds_query(
    "OrderRefundsWithPayments", f"      transactions(first: 10) {{ nodes {{ {_TRANSACTION} }} }}\n"
)

# Bulk operations (a first import): the same order fields, every line item and shipping
# line, as one JSONL file. Nested connections take no `first` in a bulk query and come
# back as their own lines with `__parentId`; `__typename` tells which connection.
BULK_CHILD_KEYS = {"LineItem": "lineItems", "ShippingLine": "shippingLines"}


def bulk_orders_query(search: str, *, payments: bool = False) -> str:
    """The query a bulk operation runs (a string argument, validated like the others)."""
    import json

    return (
        "{\n"
        f"  orders(query: {json.dumps(search)}, sortKey: UPDATED_AT) {{\n"
        "    edges { node {"
        + _ORDER_SCALARS
        + (TRANSACTIONS if payments else "")
        + f"      lineItems {{ edges {{ node {{ __typename {_LINE} }} }} }}\n"
        + f"      shippingLines {{ edges {{ node {{ __typename id {_SHIPPING_LINE} }} }} }}\n"
        "    } }\n"
        "  }\n"
        "}\n"
    )


BULK_RUN_MUTATION = (
    "mutation BulkOrders($query: String!) {\n"
    "  bulkOperationRunQuery(query: $query) {\n"
    "    bulkOperation { id status }\n"
    "    userErrors { code field message }\n"
    "  }\n"
    "}\n"
)

BULK_STATUS_QUERY = (
    "query BulkStatus {\n  currentBulkOperation(type: QUERY) { id status errorCode objectCount url query }\n}\n"
)

ALL_QUERIES = {
    "Orders": ORDERS_QUERY,
    "OrdersWithPayments": ORDERS_PAYMENTS_QUERY,
    "OrderLines": ORDER_LINES_QUERY,
    "OrderRefunds": ORDER_REFUNDS_QUERY,
    "OrderRefundsWithPayments": ORDER_REFUNDS_PAYMENTS_QUERY,
    "BulkOrders": BULK_RUN_MUTATION,
    "BulkStatus": BULK_STATUS_QUERY,
}

# Shopify Payments payouts (shopify/payouts.py): validated against the schema with these.
from shopvisma.shopify.payouts import PAYOUT_QUERIES  # noqa: E402

ALL_QUERIES.update(PAYOUT_QUERIES)

# [shopify] write_back (shopify/writeback.py): tagsAdd, tagsRemove, metafieldsSet.
from shopvisma.shopify.writeback import WRITE_BACK_QUERIES  # noqa: E402

ALL_QUERIES.update(WRITE_BACK_QUERIES)
