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

ORDER_FIELDS = f"""
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
  lineItems(first: $lines) {{
    pageInfo {{ hasNextPage endCursor }}
    nodes {{
      id sku name title variantTitle quantity taxable isGiftCard requiresShipping
      originalUnitPriceSet {_MONEY}
      discountAllocations {{ allocatedAmountSet {_MONEY} }}
      {_TAX}
    }}
  }}
  shippingLines(first: 5) {{
    nodes {{
      title code
      originalPriceSet {_MONEY}
      discountedPriceSet {_MONEY}
      {_TAX}
    }}
  }}
"""

# One page of orders, oldest change first, filtered server-side by the search syntax.
ORDERS_QUERY = (
    "query Orders($first: Int!, $after: String, $query: String, $lines: Int!) {\n"
    "  orders(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {\n"
    "    pageInfo { hasNextPage endCursor }\n"
    "    nodes {" + ORDER_FIELDS + "    }\n"
    "  }\n"
    "}\n"
)

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

# Refunds of one order: only asked for orders whose totalRefundedSet is not zero,
# because refund line items are the most expensive part of an order (cost points).
ORDER_REFUNDS_QUERY = (
    "query OrderRefunds($id: ID!) {\n"
    "  order(id: $id) {\n"
    "    refunds(first: 20) {\n"
    "      id createdAt\n"
    f"      totalRefundedSet {_MONEY}\n"
    "      refundLineItems(first: 50) {\n"
    f"        nodes {{ quantity subtotalSet {_MONEY} totalTaxSet {_MONEY} lineItem {{ id sku }} }}\n"
    "      }\n"
    "      refundShippingLines(first: 5) {\n"
    f"        nodes {{ subtotalAmountSet {_MONEY} taxAmountSet {_MONEY} }}\n"
    "      }\n"
    "    }\n"
    "  }\n"
    "}\n"
)

ALL_QUERIES = {"Orders": ORDERS_QUERY, "OrderLines": ORDER_LINES_QUERY, "OrderRefunds": ORDER_REFUNDS_QUERY}
