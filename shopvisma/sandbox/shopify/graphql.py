"""Resolvers and error shapes that make graphql-core answer like Shopify's (graphql-ruby) server.

Split from shopify.py to keep the HTTP/bucket logic apart from GraphQL details. Stored
orders hold connections as plain lists; the resolvers here page them (first/after/last/
before) and wrap them into `{nodes, edges{cursor node}, pageInfo}`.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import datetime, timezone
from typing import Any

from graphql import GraphQLError, GraphQLObjectType, GraphQLSchema
from graphql.execution.values import get_variable_values
from graphql.language import OperationDefinitionNode

from shopvisma.sandbox.shopify.search import compile_query, to_instant

MAX_PAGE = 250


def encode_cursor(key: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps({"k": key}, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> Any:
    try:
        pad = "=" * (-len(cursor) % 4)
        return json.loads(base64.urlsafe_b64decode(cursor + pad))["k"]
    except Exception as exc:  # noqa: BLE001 - any garbage is "invalid cursor"
        raise GraphQLError("Invalid cursor for current pagination sort.", extensions={"code": "BAD_REQUEST"}) from exc


def _check_page_args(first: int | None, last: int | None) -> None:
    if first is None and last is None:
        raise GraphQLError("you must provide one of first or last", extensions={"code": "BAD_REQUEST"})
    for name, value in (("first", first), ("last", last)):
        if value is not None and (value < 0 or value > MAX_PAGE):
            raise GraphQLError(
                f"The {'maximum' if value > 0 else 'minimum'} number of items that can be requested in one page "
                f"(`{name}`) is {MAX_PAGE if value > 0 else 0}; {value} was requested.",
                extensions={"code": "BAD_REQUEST", "argumentName": name, "maximum": MAX_PAGE},
            )


def paginate(
    items: list[Any], keys: list[Any], *, first: int | None, after: str | None, last: int | None, before: str | None
) -> dict[str, Any]:
    """A Relay connection over `items` (already in served order), cursors made from `keys`.

    Cursors hold the item's sort key, not its index, so a page boundary stays put when
    orders change between pages (as Shopify's keyset cursors do).
    """
    _check_page_args(first, last)
    pos = list(range(len(items)))
    if after is not None:
        k = decode_cursor(after)
        idx = next((i for i, key in enumerate(keys) if key == k), None)
        if idx is None:  # the item moved or vanished: continue after where it would sort
            idx = next((i for i, key in enumerate(keys) if _gt(key, k)), len(keys)) - 1
        pos = [i for i in pos if i > idx]
    if before is not None:
        k = decode_cursor(before)
        idx = next((i for i, key in enumerate(keys) if key == k), len(keys))
        pos = [i for i in pos if i < idx]
    has_next = has_prev = False
    if first is not None:
        has_next = len(pos) > first
        pos = pos[:first]
    if last is not None:
        has_prev = len(pos) > last
        pos = pos[-last:] if last else []
    edges = [{"cursor": encode_cursor(keys[i]), "node": items[i]} for i in pos]
    return {
        "edges": edges,
        "nodes": [e["node"] for e in edges],
        "pageInfo": {
            "hasNextPage": has_next,
            "hasPreviousPage": has_prev or (after is not None and bool(pos) and pos[0] > 0),
            "startCursor": edges[0]["cursor"] if edges else None,
            "endCursor": edges[-1]["cursor"] if edges else None,
        },
    }


def _gt(a: Any, b: Any) -> bool:
    try:
        return bool(a > b)
    except TypeError:
        return str(a) > str(b)


def _epoch(value: str | None) -> float:
    t = to_instant(value)
    return t.timestamp() if t else 0.0


_SORT_KEYS: dict[str, Any] = {
    "UPDATED_AT": lambda o: _epoch(o.get("updatedAt")),
    "CREATED_AT": lambda o: _epoch(o.get("createdAt")),
    "PROCESSED_AT": lambda o: _epoch(o.get("processedAt") or o.get("createdAt")),
    "ID": lambda o: 0,
    "ORDER_NUMBER": lambda o: int(re.sub(r"\D", "", o.get("name") or "") or 0),
    "TOTAL_PRICE": lambda o: float(o["totalPriceSet"]["shopMoney"]["amount"]),
    "FINANCIAL_STATUS": lambda o: o.get("displayFinancialStatus") or "",
    "FULFILLMENT_STATUS": lambda o: o.get("displayFulfillmentStatus") or "",
    "CUSTOMER_NAME": lambda o: ((o.get("customer") or {}).get("displayName") or "").lower(),
}


def resolve_orders(root: Any, info: Any, **args: Any) -> dict[str, Any]:
    _check_page_args(args.get("first"), args.get("last"))
    now = (info.context or {}).get("now") or datetime.now(timezone.utc)
    match = compile_query(args.get("query"), now)
    sort = _SORT_KEYS.get(str(args.get("sortKey") or "PROCESSED_AT"), _SORT_KEYS["ID"])
    # What the search index holds (it may lag the live order: ShopifySandbox.search_view),
    # matched and sorted on; the live order is what is served, as on Shopify.
    view = root.search_view(now) if hasattr(root, "search_view") else [(o, o) for o in root.orders.values()]
    chosen = [(seen, o) for seen, o in view if match(seen)]
    keyed = sorted(
        (([sort(seen), int(o.get("legacyResourceId") or 0)], o) for seen, o in chosen), key=lambda pair: pair[0]
    )
    if args.get("reverse"):
        keyed.reverse()
    return paginate(
        [o for _, o in keyed],
        [k for k, _ in keyed],
        first=args.get("first"),
        after=args.get("after"),
        last=args.get("last"),
        before=args.get("before"),
    )


def resolve_order(root: Any, info: Any, id: str) -> Any:  # noqa: A002 - GraphQL argument name
    return root.orders.get(id)


def _list_connection(obj: Any, info: Any, **args: Any) -> dict[str, Any]:
    value = obj.get(info.field_name) if isinstance(obj, dict) else None
    if isinstance(value, dict):  # already in connection shape
        return value
    items = list(value or [])
    if args.get("reverse"):
        items.reverse()
    return paginate(
        items,
        list(range(len(items))),
        first=args.get("first"),
        after=args.get("after"),
        last=args.get("last"),
        before=args.get("before"),
    )


def _sliced_list(obj: Any, info: Any, **args: Any) -> list[Any]:
    items = list((obj.get(info.field_name) if isinstance(obj, dict) else None) or [])
    first = args.get("first")
    return items[:first] if first is not None else items


def install_resolvers(schema: GraphQLSchema) -> None:
    """Attach the resolvers that differ from graphql-core's default (dict key lookup)."""
    query = schema.query_type
    assert query is not None
    query.fields["orders"].resolve = resolve_orders
    query.fields["order"].resolve = resolve_order
    for type_name, field in (
        ("Order", "lineItems"),
        ("Order", "shippingLines"),
        ("Refund", "refundLineItems"),
        ("Refund", "refundShippingLines"),
        ("Refund", "transactions"),
    ):
        _object_type(schema, type_name).fields[field].resolve = _list_connection
    _object_type(schema, "Order").fields["refunds"].resolve = _sliced_list
    _object_type(schema, "LineItem").fields["taxLines"].resolve = _sliced_list
    from shopvisma.sandbox.shopify.metafields import install_metafield_resolvers  # late: they import paginate
    from shopvisma.sandbox.shopify.transactions import install_transaction_resolvers

    install_transaction_resolvers(schema)
    install_metafield_resolvers(schema)


def _object_type(schema: GraphQLSchema, name: str) -> GraphQLObjectType:
    found = schema.type_map[name]
    assert isinstance(found, GraphQLObjectType), name
    return found


def coerce_variables(
    schema: GraphQLSchema, operation: OperationDefinitionNode, raw: dict[str, Any]
) -> tuple[Any, list[GraphQLError]]:
    """The coerced variables (a dict in graphql-core 3.2, a VariableValues in 3.3: passed on as is)."""
    result = get_variable_values(schema, operation.variable_definitions or [], raw or {})
    if isinstance(result, list):
        return {}, result
    return result, []


_UNDEFINED_FIELD = re.compile(r"^Cannot query field '(?P<field>[^']+)' on type '(?P<type>[^']+)'\.")
_UNKNOWN_ARG = re.compile(r"^Unknown argument '(?P<arg>[^']+)' on field '(?P<type>[^.']+)\.(?P<field>[^']+)'\.")
_REQUIRED_VAR = re.compile(r"^Variable '\$(?P<var>[^']+)' of required type '(?P<type>[^']+)' was not provided\.")


def graphql_error_json(error: GraphQLError) -> dict[str, Any]:
    """graphql-core's error in the wording and `extensions.code` of Shopify's graphql-ruby."""
    message = error.message
    extensions: dict[str, Any] = dict(error.extensions or {})
    if m := _UNDEFINED_FIELD.match(message):
        message = f"Field '{m['field']}' doesn't exist on type '{m['type']}'"
        extensions = {"code": "undefinedField", "typeName": m["type"], "fieldName": m["field"]}
    elif m := _UNKNOWN_ARG.match(message):
        message = f"Field '{m['field']}' doesn't accept argument '{m['arg']}'"
        extensions = {"code": "argumentNotAccepted", "name": m["field"], "typeName": "Field", "argumentName": m["arg"]}
    elif m := _REQUIRED_VAR.match(message):
        message = f"Variable ${m['var']} of type {m['type']} was provided invalid value"
        extensions = {
            "code": "INVALID_VARIABLE",
            "value": None,
            "problems": [{"path": [], "explanation": "Expected value to not be null"}],
        }
    out: dict[str, Any] = {"message": message}
    if error.locations:
        out["locations"] = [{"line": loc.line, "column": loc.column} for loc in error.locations]
    if error.path:
        out["path"] = list(error.path)
    if extensions:
        out["extensions"] = extensions
    return out
