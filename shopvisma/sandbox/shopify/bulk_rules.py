"""Shopify's rules for the query a bulk operation runs, for the sandbox (shopify_bulk.py).

Apart from the operation's state and JSONL writing because these are the part to compare
with Shopify when it changes: each message is the one captured from a real store
(docs/sandbox-shopify.md, "Bulk operations").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    get_named_type,
    get_nullable_type,
    is_list_type,
    parse,
    validate,
)

from shopvisma.sandbox.shopify.graphql import coerce_variables, graphql_error_json

MAX_CONNECTIONS = 5
MAX_CONNECTION_DEPTH = 2
EMPTY_QUERY = "Invalid bulk query: syntax error, unexpected end of file"
NOT_QUERY = "Invalid operation type. Only `query` operations are supported."
NO_CONNECTION = "Bulk queries must contain at least one connection."
ONE_ROOT = "Bulk queries must contain exactly one top-level field."
TOO_DEEP = f"Bulk queries cannot contain connections with a nesting depth greater than {MAX_CONNECTION_DEPTH}."
TOO_MANY = f"Bulk queries cannot contain more than {MAX_CONNECTIONS} connections."
IN_LIST = "Queries that contain a connection field within a list field are not currently supported."
NODES = (
    "All connection fields in a bulk query must select their contents using 'edges' > 'node', e.g: "
    "'{first} {{ edges {{ node {{'. Selecting via 'nodes' is not supported. Invalid connection fields: '{names}'."
)
PARENT_ID = (
    "The parent 'node' field for a nested connection must select the 'id' field without an alias and must be "
    "of 'ID' return type. Connection fields without 'id': {names}."
)
ROOT_NOT_EMULATED = "The sandbox only emulates bulk queries over `orders`, not over '{name}'."


def _fields(
    selection_sets: Iterable[SelectionSetNode | None], fragments: dict[str, FragmentDefinitionNode]
) -> dict[str, list[FieldNode]]:
    """Fields by response key, through fragments (the subset has no interfaces, so no type conditions matter)."""
    out: dict[str, list[FieldNode]] = {}

    def visit(selection_set: SelectionSetNode | None) -> None:
        for sel in selection_set.selections if selection_set else ():
            if isinstance(sel, FieldNode):
                out.setdefault(sel.alias.value if sel.alias else sel.name.value, []).append(sel)
            elif isinstance(sel, InlineFragmentNode):
                visit(sel.selection_set)
            elif isinstance(sel, FragmentSpreadNode) and sel.name.value in fragments:
                visit(fragments[sel.name.value].selection_set)

    for selection_set in selection_sets:
        visit(selection_set)
    return out


def _sets(nodes: list[FieldNode]) -> list[SelectionSetNode | None]:
    return [n.selection_set for n in nodes]


def _sub(nodes: list[FieldNode], fragments: dict[str, FragmentDefinitionNode]) -> dict[str, list[FieldNode]]:
    return _fields(_sets(nodes), fragments)


def _is_connection(type_: Any) -> bool:
    return isinstance(type_, GraphQLObjectType) and type_.name.endswith("Connection") and "edges" in type_.fields


def _node_type(conn: GraphQLObjectType) -> GraphQLObjectType:
    node_type = get_named_type(conn.fields["nodes"].type)
    assert isinstance(node_type, GraphQLObjectType)
    return node_type


@dataclass
class _Shape:
    """What Shopify's bulk rules look at in a query."""

    connections: int = 0
    depth: int = 0
    in_list: bool = False
    via_nodes: list[str] = field(default_factory=list)
    no_parent_id: list[str] = field(default_factory=list)


def _walk(
    type_: GraphQLObjectType,
    sets: list[SelectionSetNode | None],
    fragments: dict[str, FragmentDefinitionNode],
    shape: _Shape,
    depth: int,
    in_list: bool,
    parent: str | None,
    parent_has_id: bool,
) -> None:
    """Count connections and note rule breaches below one object (`parent` = the enclosing connection)."""
    for fnodes in _fields(sets, fragments).values():
        name = fnodes[0].name.value
        fdef = type_.fields.get(name)
        named = get_named_type(fdef.type) if fdef else None
        if not isinstance(named, GraphQLObjectType):
            continue
        if not _is_connection(named):
            listed = is_list_type(get_nullable_type(fdef.type))
            _walk(named, _sets(fnodes), fragments, shape, depth, in_list or listed, parent, parent_has_id)
            continue
        shape.connections += 1
        shape.depth = max(shape.depth, depth + 1)
        shape.in_list = shape.in_list or in_list
        if parent is not None and not parent_has_id and parent not in shape.no_parent_id:
            shape.no_parent_id.append(parent)
        inner = _sub(fnodes, fragments)
        if any(n[0].name.value == "nodes" for n in inner.values()) and name not in shape.via_nodes:
            shape.via_nodes.append(name)
        node_type = _node_type(named)
        for enodes in inner.values():
            if enodes[0].name.value == "nodes":
                node_fields = [enodes]
            elif enodes[0].name.value == "edges":
                node_fields = [n for n in _sub(enodes, fragments).values() if n[0].name.value == "node"]
            else:
                continue
            for nnodes in node_fields:
                has_id = any(k == "id" and n[0].name.value == "id" for k, n in _sub(nnodes, fragments).items())
                _walk(node_type, _sets(nnodes), fragments, shape, depth + 1, in_list, name, has_id)


def _fragments(document: DocumentNode) -> dict[str, FragmentDefinitionNode]:
    return {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}


def _root_field(document: DocumentNode) -> tuple[str, list[FieldNode]]:
    """The (response key, field nodes) of a checked bulk query's single top-level field."""
    operation = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
    return next(
        (k, n)
        for k, n in _fields([operation.selection_set], _fragments(document)).items()
        if not n[0].name.value.startswith("__")
    )


def check_bulk_query(schema: GraphQLSchema, query: str) -> tuple[list[str], DocumentNode | None]:
    """Shopify's userError messages for a bulk query (empty when it may run) and the parsed document.

    Schema-generic, so the rules can be tested on any schema. Messages and their order
    follow captured Shopify responses (2025-01 / 2026-04), except ONE_ROOT and the
    non-syntax "Invalid bulk query: ..." details (see docs/sandbox-shopify.md).
    """
    if not query.strip():
        return [EMPTY_QUERY], None
    try:
        document = parse(query)
    except GraphQLError as exc:
        detail = exc.message.removeprefix("Syntax Error: ")
        return [f"Invalid bulk query: syntax error, {detail[:1].lower()}{detail[1:]}"], None
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if len(operations) != 1:
        return ["Invalid bulk query: a bulk query must hold exactly one operation"], None
    operation = operations[0]
    if operation.operation != OperationType.QUERY:
        return [NOT_QUERY], None
    problems = validate(schema, document)
    if not problems:
        problems = coerce_variables(schema, operation, {})[1]
    if problems:
        return [f"Invalid bulk query: {graphql_error_json(e)['message']}" for e in problems], None
    fragments = _fragments(document)
    root = schema.query_type
    assert root is not None
    roots = {
        k: n for k, n in _fields([operation.selection_set], fragments).items() if not n[0].name.value.startswith("__")
    }
    shape = _Shape()
    _walk(root, [operation.selection_set], fragments, shape, 0, False, None, True)
    errors: list[str] = []
    if shape.via_nodes:
        errors.append(NODES.format(first=shape.via_nodes[0], names="', '".join(shape.via_nodes)))
    if shape.depth > MAX_CONNECTION_DEPTH:
        errors.append(TOO_DEEP)
    if shape.connections > MAX_CONNECTIONS:
        errors.append(TOO_MANY)
    if shape.no_parent_id:
        errors.append(PARENT_ID.format(names=", ".join(shape.no_parent_id)))
    if shape.in_list:
        errors.append(IN_LIST)
    if shape.connections == 0 and not errors:
        errors.append(NO_CONNECTION)
    if not errors and len(roots) != 1:
        errors.append(ONE_ROOT)
    return errors, document
