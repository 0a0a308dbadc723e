"""The write-back mutations (`tagsAdd`, `tagsRemove`, `metafieldsSet`), access scopes and mutation faults.

Behaviour, and where it comes from:
- Tags: each `tags` item may itself be a comma-separated list (Shopify's documented
  input); tags are trimmed, empty ones dropped, compared case-insensitively (the first
  spelling stays), stored sorted case-insensitively. `tagsRemove` also matches
  case-insensitively. An unknown order is a userError `{field: ["id"], message:
  "Order does not exist"}`. A malformed id is a top-level error.
- metafieldsSet: the rules in metafields.py. It is atomic: one bad input and nothing is
  written (`metafields: []`, or null for the 25-input limit).
- A write that changes something moves the order's `updatedAt` (at least 1 s later), as
  Shopify's writes do, so `updated_at:>` polling sees the order again. A write that changes
  nothing (tags already there, same metafield value) leaves it alone. The research notes
  are silent on metafields; this is the sandbox's choice.
- Scopes: the order mutations need `write_orders`, reading orders needs `read_orders`
  (implied by `write_orders`). A token without it gets Shopify's top-level ACCESS_DENIED
  error with `data: {field: null}`.
- Cost: a flat 10 per mutation field (bulk.operation_cost), as for bulkOperationRunQuery.
"""

from __future__ import annotations

import functools
import re
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from graphql import GraphQLError, GraphQLInterfaceType, GraphQLSchema, OperationDefinitionNode, parse

from shopvisma.sandbox.shopify import metafields as mf

if TYPE_CHECKING:
    from shopvisma.sandbox.shopify.server import ShopifySandbox

SCOPES_DOCS = "https://shopify.dev/api/usage/access-scopes"
MAX_TAG_LENGTH = 255
_GID = re.compile(r"^gid://shopify/(?P<type>[A-Za-z]+)/(?P<id>[^/?#\s]+)$")


# ----------------------------------------------------------------- scopes
def require(info: Any, scope: str, field: str) -> None:
    """Raise Shopify's ACCESS_DENIED unless the request's token holds `scope` (a write scope implies its read)."""
    scopes = (info.context or {}).get("scopes")
    if scopes is None or scope in scopes:
        return
    if scope.startswith("read_") and f"write_{scope[5:]}" in scopes:
        return
    required = f"`{scope}` access scope."
    raise GraphQLError(
        f"Access denied for {field} field. Required access: {required}",
        extensions={"code": "ACCESS_DENIED", "documentation": SCOPES_DOCS, "requiredAccess": required},
    )


def _guarded(resolve: Any, scope: str, field: str) -> Any:
    def guarded(root: Any, info: Any, **args: Any) -> Any:
        require(info, scope, field)
        return resolve(root, info, **args)

    return guarded


# ----------------------------------------------------------------- helpers
def _gid_type(value: str) -> str:
    m = _GID.match(value or "")
    if m is None:
        raise GraphQLError(
            f"Invalid global id '{value}'",
            extensions={"code": "argumentLiteralsIncompatible", "typeName": "CoercionError"},
        )
    return m["type"]


def _now(root: ShopifySandbox) -> str:
    return datetime.fromtimestamp(int(root.clock()), tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def split_tags(tags: list[str]) -> list[str]:
    return [part.strip() for tag in tags for part in tag.split(",") if part.strip()]


def merge_tags(existing: list[str], incoming: list[str]) -> list[str]:
    """Case-insensitive union; the spelling seen first is kept; sorted case-insensitively."""
    seen: dict[str, str] = {}
    for tag in [*existing, *incoming]:
        seen.setdefault(tag.lower(), tag)
    return sorted(seen.values(), key=lambda t: (t.lower(), t))


# ----------------------------------------------------------------- tags
def _tags(root: ShopifySandbox, info: Any, field: str, id: str, tags: list[str]) -> dict[str, Any]:  # noqa: A002
    require(info, "write_orders", field)
    kind = _gid_type(id)
    order = root.orders.get(id) if kind == "Order" else None
    if order is None:
        return {"node": None, "userErrors": [{"field": ["id"], "message": f"{kind} does not exist"}]}
    incoming = split_tags(tags)
    if any(len(t) > MAX_TAG_LENGTH for t in incoming):
        message = f"Tags cannot be longer than {MAX_TAG_LENGTH} characters"
        return {"node": None, "userErrors": [{"field": ["tags"], "message": message}]}
    if field == "tagsAdd":
        new = merge_tags(order.get("tags") or [], incoming)
    else:
        gone = {t.lower() for t in incoming}
        new = merge_tags([t for t in order.get("tags") or [] if t.lower() not in gone], [])
    if new != order.get("tags"):
        order = root.update_order(id, tags=new)
    return {"node": order, "userErrors": []}


def resolve_tags_add(root: ShopifySandbox, info: Any, id: str, tags: list[str]) -> dict[str, Any]:  # noqa: A002
    return _tags(root, info, "tagsAdd", id, tags)


def resolve_tags_remove(root: ShopifySandbox, info: Any, id: str, tags: list[str]) -> dict[str, Any]:  # noqa: A002
    return _tags(root, info, "tagsRemove", id, tags)


# ----------------------------------------------------------------- metafields
def resolve_metafields_set(root: ShopifySandbox, info: Any, metafields: list[dict[str, Any]]) -> dict[str, Any]:
    require(info, "write_orders", "metafieldsSet")
    if not metafields:
        return {
            "metafields": [],
            "userErrors": [mf.user_error(None, "At least one metafield input is required.", "BLANK")],
        }
    if len(metafields) > mf.MAX_INPUTS:
        message = f"Exceeded the maximum metafields input limit of {mf.MAX_INPUTS}."
        return {"metafields": None, "userErrors": [mf.user_error(["metafields"], message, "LESS_THAN_OR_EQUAL_TO")]}
    errors: list[dict[str, Any]] = []
    for i, given in enumerate(metafields):
        owner = root.orders.get(given["ownerId"]) if _GID.match(given["ownerId"] or "") else None
        problems = mf.input_errors(i, given, owner is not None)
        if not problems and owner is not None and given.get("compareDigest") is not None:
            existing = mf.find(owner, given.get("namespace"), given["key"])
            if existing is None or mf.digest(existing) != given["compareDigest"]:
                problems = [
                    mf.user_error(
                        ["metafields", str(i)],
                        "The resource has been updated since it was loaded. Try again with an updated "
                        "`compareDigest` value.",
                        "STALE_OBJECT",
                    )
                ]
        errors += problems
    if errors:
        return {"metafields": [], "userErrors": errors}
    now = _now(root)
    changed: set[str] = set()
    keys: list[tuple[str, str, str]] = []
    for given in metafields:
        order = root.orders[given["ownerId"]]
        namespace = mf.canonical_namespace(given.get("namespace"))
        keys.append((order["id"], namespace, given["key"]))
        existing = mf.find(order, namespace, given["key"])
        if existing is not None and (existing["value"], existing["type"]) == (given["value"], given["type"]):
            continue
        if existing is None:
            root.metafield_seq += 1
            existing = {
                "id": f"gid://shopify/Metafield/{30000000000 + root.metafield_seq}",
                "legacyResourceId": str(30000000000 + root.metafield_seq),
                "namespace": namespace,
                "key": given["key"],
                "ownerType": "ORDER",
                "createdAt": now,
            }
            order.setdefault("metafields", []).append(existing)
        existing.update(value=given["value"], type=given["type"], updatedAt=now)
        existing["compareDigest"] = mf.digest(existing)
        changed.add(order["id"])
    for gid in sorted(changed):
        root.update_order(gid)  # moves updatedAt only
    out = [mf.find(root.orders[gid], ns, key) for gid, ns, key in keys]
    return {"metafields": out, "userErrors": []}


# ----------------------------------------------------------------- install
def _resolve_node_type(value: Any, info: Any, abstract: Any) -> str | None:
    m = _GID.match((value or {}).get("id") or "")
    return m["type"] if m else None


def install_mutation_resolvers(schema: GraphQLSchema) -> None:
    """The write mutations, `Node` typing, and `read_orders` on the order roots (paged schema only)."""
    query, mutation = schema.query_type, schema.mutation_type
    assert query is not None and mutation is not None
    mutation.fields["tagsAdd"].resolve = resolve_tags_add
    mutation.fields["tagsRemove"].resolve = resolve_tags_remove
    mutation.fields["metafieldsSet"].resolve = resolve_metafields_set
    for name in ("orders", "order"):
        query.fields[name].resolve = _guarded(query.fields[name].resolve, "read_orders", name)
    node = schema.type_map["Node"]
    assert isinstance(node, GraphQLInterfaceType)
    node.resolve_type = _resolve_node_type


# ----------------------------------------------------------------- faults
@functools.lru_cache(maxsize=256)
def operation_type(query: str, operation_name: str | None) -> str | None:
    """ "query" or "mutation" for a request body, None when it does not parse (validation will say why)."""
    try:
        document = parse(query)
    except GraphQLError:
        return None
    ops = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    op = next((o for o in ops if o.name and o.name.value == operation_name), ops[0] if ops else None)
    return op.operation.value if op is not None else None


def take_fault(sandbox: ShopifySandbox, kinds: tuple[str, ...], body: Any) -> str | None:
    """The next injected fault of `kinds` this request consumes: any request takes the
    general queue's head; only a mutation takes the head of the mutation-only queue."""
    with sandbox.lock:
        if sandbox.faults and sandbox.faults[0] in kinds:
            return sandbox.faults.pop(0)
        if not (sandbox.mutation_faults and sandbox.mutation_faults[0] in kinds and isinstance(body, dict)):
            return None
        query = body.get("query")
        name = body.get("operationName")
        if isinstance(query, str) and operation_type(query, name if isinstance(name, str) else None) == "mutation":
            return sandbox.mutation_faults.pop(0)
    return None
