"""Shopify's calculated query cost, computed from the document (requested) and from the result (actual).

Rules (https://shopify.dev/docs/apps/build/apis/graphql-admin/rate-limits, plus what a live
2025-01 capture shows; details in docs/sandbox-shopify.md):
- scalars and enums cost 0, an object costs 1;
- a connection costs 2 + first (or last) x the cost of one node's selection; `pageInfo`
  and the edges/nodes wrappers are part of those 2;
- a plain list of objects (even one with a `first` argument, like `Order.refunds`) costs its
  selection once;
- the money value objects `MoneyBag`, `MoneyV2` and `TaxLine` cost 0: a live `orderCreate`
  capture asks for 12 MoneyBags and tax lines on 10 nodes and is charged 27 in all.
`actualQueryCost` applies the same rules to what was returned: real node counts, null objects 0.
"""

from __future__ import annotations

from typing import Any, cast

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    get_named_type,
    get_nullable_type,
    is_list_type,
)
from graphql.execution.values import get_argument_values

FREE_TYPES = frozenset({"MoneyBag", "MoneyV2", "TaxLine", "PageInfo"})
_ABSENT: Any = object()


class _Costing:
    def __init__(self, schema: GraphQLSchema, fragments: dict[str, FragmentDefinitionNode], variables: dict) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables

    def fields(self, selection_set: SelectionSetNode | None) -> list[FieldNode]:
        out: list[FieldNode] = []
        for sel in selection_set.selections if selection_set else ():
            if isinstance(sel, FieldNode):
                out.append(sel)
            elif isinstance(sel, InlineFragmentNode):
                out.extend(self.fields(sel.selection_set))
            elif isinstance(sel, FragmentSpreadNode) and sel.name.value in self.fragments:
                out.extend(self.fields(self.fragments[sel.name.value].selection_set))
        return out

    def selection(self, selection_set: SelectionSetNode | None, parent: GraphQLObjectType, value: Any) -> int:
        """Cost of the object fields under one object; value is _ABSENT for the static estimate."""
        total = 0
        for node in self.fields(selection_set):
            name = node.name.value
            if name.startswith("__") or name not in parent.fields:
                continue
            fdef = parent.fields[name]
            named = get_named_type(fdef.type)
            if not isinstance(named, GraphQLObjectType):
                continue
            key = node.alias.value if node.alias else name
            sub = _ABSENT if value is _ABSENT else (value or {}).get(key)
            if named.name.endswith("Connection"):
                total += self.connection(node, fdef, named, sub)
            elif is_list_type(get_nullable_type(fdef.type)):
                if sub is _ABSENT:
                    total += self.obj(node.selection_set, named, _ABSENT)
                else:
                    total += max((self.obj(node.selection_set, named, item) for item in sub or []), default=0)
            elif sub is _ABSENT or sub is not None:
                total += self.obj(node.selection_set, named, sub)
        return total

    def obj(self, selection_set: SelectionSetNode | None, type_: GraphQLObjectType, value: Any) -> int:
        return (0 if type_.name in FREE_TYPES else 1) + self.selection(selection_set, type_, value)

    def connection(self, node: FieldNode, fdef: Any, conn: GraphQLObjectType, value: Any) -> int:
        node_type = get_named_type(conn.fields["nodes"].type)
        edge_type = get_named_type(conn.fields["edges"].type)
        assert isinstance(node_type, GraphQLObjectType) and isinstance(edge_type, GraphQLObjectType)
        node_sels: list[tuple[str, SelectionSetNode | None, str | None]] = []  # (key, sel, edge node key)
        for f in self.fields(node.selection_set):
            key = f.alias.value if f.alias else f.name.value
            if f.name.value == "nodes":
                node_sels.append((key, f.selection_set, None))
            elif f.name.value == "edges":
                for ef in self.fields(f.selection_set):
                    if ef.name.value == "node":
                        node_sels.append((key, ef.selection_set, ef.alias.value if ef.alias else "node"))
        if value is _ABSENT:
            try:
                args = get_argument_values(fdef, node, cast(Any, self.variables))  # dict or VariableValues by version
            except Exception:  # noqa: BLE001 - bad arguments are reported by execution, not here
                args = {}
            size = args.get("first") or args.get("last") or 0
            per_node = max((self.obj(sel, node_type, _ABSENT) for _, sel, _ in node_sels), default=1)
            return 2 + int(size) * per_node
        if value is None:
            return 0
        count = 0
        total = 0
        for key, sel, edge_node_key in node_sels:
            items = value.get(key) or []
            if edge_node_key is not None:
                items = [(e or {}).get(edge_node_key) for e in items]
            count = max(count, len(items))
            total = max(total, sum(self.obj(sel, node_type, item) for item in items))
        return 2 + max(total, count)


def query_cost(
    schema: GraphQLSchema,
    operation: OperationDefinitionNode,
    fragments: dict[str, FragmentDefinitionNode],
    variables: dict[str, Any],
    data: Any = _ABSENT,
) -> int:
    """Requested cost (data omitted) or actual cost (data = the response's `data`)."""
    root = schema.query_type
    assert root is not None
    costing = _Costing(schema, fragments, variables)
    if data is None:
        return 0
    return costing.selection(operation.selection_set, root, data)
