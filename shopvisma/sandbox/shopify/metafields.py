"""Order metafields in the sandbox: the `metafieldsSet` input rules and the `Order.metafield(s)` readers.

Stored on the order as `order["metafields"]`, a list of `Metafield` dicts (the storage
convention for a connection). Rules and messages follow Shopify's documentation of
`MetafieldsSetInput` and, where it is silent, the live-capture-based shopify-draft-proxy
(airhorns/shopify-draft-proxy): "Exceeded the maximum metafields input limit of 25."
(LESS_THAN_OR_EQUAL_TO), "Namespace is too short (minimum is 3 characters)" (TOO_SHORT),
"Type can't be blank" (BLANK), "Value is invalid JSON." (INVALID_VALUE) ... Messages
marked "sandbox" below are unconfirmed wording.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from graphql import GraphQLObjectType, GraphQLSchema

MAX_INPUTS = 25
APP_NAMESPACE = "app--3000001"  # the app-reserved namespace used when `namespace` is omitted
_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
_COLOR = re.compile(r"^#[0-9A-Fa-f]{6}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?$")
_URL = re.compile(r"^(https?://[^\s/$.?#][^\s]*|mailto:[^\s]+|sms:[^\s]+|tel:[^\s]+)$")
RESERVED_NAMESPACES = ("shopify_standard", "protected", "shopify-l10n-fields")


def canonical_namespace(namespace: str | None) -> str:
    if namespace is None:
        return APP_NAMESPACE
    if namespace.startswith("$app:"):
        return f"{APP_NAMESPACE}--{namespace[5:]}"
    return namespace


def _is_int(value: str) -> bool:
    return re.fullmatch(r"[+-]?\d+", value) is not None and abs(int(value)) <= 9007199254740991


def _is_decimal(value: str) -> bool:
    try:
        return re.fullmatch(r"[+-]?\d+(\.\d+)?", value) is not None and Decimal(value).is_finite()
    except InvalidOperation:
        return False


def _is_json(value: str) -> bool:
    try:
        json.loads(value)
    except ValueError:
        return False
    return True


def _is_list(value: str, item_ok: Any) -> bool:
    try:
        items = json.loads(value)
    except ValueError:
        return False
    return isinstance(items, list) and all(isinstance(i, str) and item_ok(i) for i in items)


def _is_date_time(value: str) -> bool:
    if not _DATE_TIME.match(value):
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _is_date(value: str) -> bool:
    try:
        return bool(_DATE.match(value)) and datetime.strptime(value, "%Y-%m-%d") is not None
    except ValueError:
        return False


# type -> (value check, message when it fails)
TYPES: dict[str, tuple[Any, str]] = {
    "single_line_text_field": (lambda v: "\n" not in v and "\r" not in v, "Value must be a single line text string."),
    "multi_line_text_field": (lambda v: True, ""),
    "json": (_is_json, "Value is invalid JSON."),
    "rich_text_field": (_is_json, "Value is invalid JSON."),
    "boolean": (lambda v: v in ("true", "false"), "Value must be true or false."),
    "number_integer": (_is_int, "Value must be an integer."),
    "number_decimal": (_is_decimal, "Value must be a decimal."),  # sandbox wording
    "date": (_is_date, "Value must be in YYYY-MM-DD format."),  # sandbox wording
    "date_time": (_is_date_time, "Value must be in YYYY-MM-DDTHH:MM:SS format."),
    "color": (lambda v: bool(_COLOR.match(v)), "Value must be a hex color code."),
    "url": (lambda v: bool(_URL.match(v)), "Value must be a valid URL."),  # sandbox wording
    "list.single_line_text_field": (lambda v: _is_list(v, lambda i: "\n" not in i), "Value is invalid JSON."),
    "list.number_integer": (
        lambda v: _is_json(v) and isinstance(json.loads(v), list) and all(type(i) is int for i in json.loads(v)),
        "Value is invalid JSON.",
    ),
    "list.date": (lambda v: _is_list(v, _is_date), "Value is invalid JSON."),
}


def user_error(field: list[str] | None, message: str, code: str | None) -> dict[str, Any]:
    return {"field": field, "message": message, "code": code, "elementIndex": None}


def input_errors(index: int, given: dict[str, Any], owner_exists: bool) -> list[dict[str, Any]]:
    """The first problem of one MetafieldsSetInput (Shopify reports one per input)."""
    path = ["metafields", str(index)]
    namespace = canonical_namespace(given.get("namespace"))
    key = str(given.get("key") or "")
    type_ = given.get("type")
    value = str(given.get("value") or "")
    checks: list[tuple[bool, list[str], str, str | None]] = [
        (not owner_exists, [*path, "ownerId"], "Owner does not exist.", None),  # sandbox wording
        (len(namespace) < 3, [*path, "namespace"], "Namespace is too short (minimum is 3 characters)", "TOO_SHORT"),
        (len(key) < 2, [*path, "key"], "Key is too short (minimum is 2 characters)", "TOO_SHORT"),
        (len(namespace) > 255, [*path, "namespace"], "Namespace is too long (maximum is 255 characters)", "TOO_LONG"),
        (len(key) > 64, [*path, "key"], "Key is too long (maximum is 64 characters)", "TOO_LONG"),
        (
            not _NAME.match(namespace),
            [*path, "namespace"],
            "Namespace contains one or more invalid characters.",  # sandbox wording
            "INVALID_VALUE",
        ),
        (not _NAME.match(key), [*path, "key"], "Key contains one or more invalid characters.", "INVALID_VALUE"),
        (
            namespace in RESERVED_NAMESPACES,
            [*path, "namespace"],
            f"Namespace {namespace} is a reserved namespace",
            None,
        ),
        (not type_, [*path, "type"], "Type can't be blank", "BLANK"),
        (
            bool(type_) and type_ not in TYPES,
            [*path, "type"],
            f"Type '{type_}' is not a supported metafield type.",  # sandbox wording
            "INVALID_TYPE",
        ),
    ]
    for failed, field, message, code in checks:
        if failed:
            return [user_error(field, message, code)]
    check, message = TYPES[str(type_)]
    if not check(value):
        return [user_error([*path, "value"], message, "INVALID_VALUE")]
    return []


def digest(metafield: dict[str, Any]) -> str:
    """An opaque `compareDigest`: changes whenever the value or type does (Shopify's is opaque too)."""
    raw = json.dumps([metafield["namespace"], metafield["key"], metafield["type"], metafield["value"]])
    return hashlib.sha256(raw.encode()).hexdigest()


def find(order: dict[str, Any], namespace: str | None, key: str) -> dict[str, Any] | None:
    ns = canonical_namespace(namespace)
    return next((m for m in order.get("metafields") or [] if m["namespace"] == ns and m["key"] == key), None)


def resolve_metafield(obj: Any, info: Any, key: str, namespace: str | None = None) -> dict[str, Any] | None:
    return find(obj, namespace, key) if isinstance(obj, dict) else None


def resolve_metafields(obj: Any, info: Any, **args: Any) -> dict[str, Any]:
    """`Order.metafields(namespace:, keys:)`: keys are "namespace.key", as Shopify documents."""
    from shopvisma.sandbox.shopify.graphql import paginate  # late: graphql.py installs this module

    items = list(obj.get("metafields") or []) if isinstance(obj, dict) else []
    if args.get("namespace") is not None:
        items = [m for m in items if m["namespace"] == canonical_namespace(args["namespace"])]
    if args.get("keys") is not None:
        wanted = set(args["keys"])
        items = [m for m in items if f"{m['namespace']}.{m['key']}" in wanted]
    if args.get("reverse"):
        items.reverse()
    return paginate(
        items,
        [m["id"] for m in items],
        first=args.get("first"),
        after=args.get("after"),
        last=args.get("last"),
        before=args.get("before"),
    )


def resolve_json_value(obj: Any, info: Any) -> Any:
    """`jsonValue`: the value as JSON by type. Decimals stay strings: a float would lose cents."""
    type_, value = obj["type"], obj["value"]
    if type_ in ("json", "rich_text_field") or type_.startswith("list."):
        return json.loads(value)
    if type_ == "boolean":
        return value == "true"
    if type_ == "number_integer":
        return int(value)
    return value


def install_metafield_resolvers(schema: GraphQLSchema) -> None:
    order, metafield = schema.type_map["Order"], schema.type_map["Metafield"]
    assert isinstance(order, GraphQLObjectType) and isinstance(metafield, GraphQLObjectType)
    order.fields["metafield"].resolve = resolve_metafield
    order.fields["metafields"].resolve = resolve_metafields
    metafield.fields["jsonValue"].resolve = resolve_json_value
