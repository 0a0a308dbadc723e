"""Shopify's bulk query operations (`bulkOperationRunQuery`, `currentBulkOperation`) for the sandbox.

Split from shopify.py so the HTTP/bucket code stays small. A bulk query is checked with
Shopify's rules (captured messages, see docs/sandbox-shopify.md), then executed at once
against a snapshot of the orders and written as JSONL to a temporary file. The clock only
decides what the operation *reports* (CREATED/RUNNING until `bulk_seconds` have passed,
then COMPLETED or FAILED), so a test can step through the states with an injected clock
and still get a deterministic file. The file is served without a Shopify token, as the
real signed storage URL is.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import IO, TYPE_CHECKING, Any, cast

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLObjectType,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    build_schema,
    execute_sync,
    get_named_type,
)
from graphql.execution.values import get_argument_values

from shopvisma.sandbox.shopify.bulk_rules import (
    ROOT_NOT_EMULATED,
    _fields,
    _fragments,
    _is_connection,
    _node_type,
    _root_field,
    _sub,
    check_bulk_query,
)
from shopvisma.sandbox.shopify.cost import query_cost
from shopvisma.sandbox.shopify.graphql import encode_cursor, install_resolvers, resolve_orders

if TYPE_CHECKING:
    from http.server import BaseHTTPRequestHandler

    from shopvisma.sandbox.shopify.server import ShopifySandbox

SCHEMA_PATH = Path(__file__).with_name("schema.graphql")
MUTATION_COST = 10  # flat, whatever the payload selects (2025-01 capture: requested 10, actual 10)
CHUNK = 250  # orders executed per graphql-core pass, so memory stays bounded by a chunk
RESULT_PATH = "/bulk-results/"
IN_PROGRESS = "A bulk query operation for this app and shop is already in progress: {gid}."

_BULK_SCHEMA_LOCK = threading.Lock()
_BULK_SCHEMA: GraphQLSchema | None = None


# ----------------------------------------------------------------- state
@dataclass
class BulkOperation:
    """One bulk query; its status is derived from the clock, the result file is final from the start."""

    seq: int
    query: str
    created: float
    ready: float  # created + bulk_seconds: the instant it completes (or fails)
    failed: bool
    path: Path | None = None
    object_count: int = 0
    root_count: int = 0
    size: int = 0

    @property
    def gid(self) -> str:
        return f"gid://shopify/BulkOperation/{self.seq}"

    def running(self, now: float) -> bool:
        return now < self.ready


@dataclass
class BulkState:
    """The shop's bulk operations, newest last; `fail_next` counts injected "bulk_failed" faults."""

    seconds: float = 0.0
    operations: list[BulkOperation] = field(default_factory=list)
    fail_next: int = 0
    _dir: tempfile.TemporaryDirectory[str] | None = None

    def latest(self) -> BulkOperation | None:
        return self.operations[-1] if self.operations else None

    def directory(self) -> Path:
        if self._dir is None:
            self._dir = tempfile.TemporaryDirectory(prefix="shopify-bulk-")
        return Path(self._dir.name)

    def close(self) -> None:
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None


def _iso(t: float) -> str:
    return datetime.fromtimestamp(int(t), tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def view(op: BulkOperation, now: float, origin: str, *, just_created: bool = False) -> dict[str, Any]:
    """The `BulkOperation` object as Shopify would report it at `now`.

    The mutation's own payload always says CREATED with zero counts (as captured); a
    later poll before `ready` says RUNNING with counts growing in proportion to elapsed
    time, because Shopify documents objectCount as a running count.
    """
    out: dict[str, Any] = {
        "id": op.gid,
        "type": "QUERY",
        "query": op.query,
        "createdAt": _iso(op.created),
        "completedAt": None,
        "status": "CREATED",
        "errorCode": None,
        "objectCount": "0",
        "rootObjectCount": "0",
        "fileSize": None,
        "url": None,
        "partialDataUrl": None,
    }
    if just_created:
        return out
    if op.running(now):
        if now > op.created:  # a poll in the same instant still sees CREATED, as captured
            share = (now - op.created) / (op.ready - op.created)
            out.update(
                status="RUNNING",
                objectCount=str(int(op.object_count * share)),
                rootObjectCount=str(int(op.root_count * share)),
            )
    elif op.failed:
        out.update(status="FAILED", errorCode="INTERNAL_SERVER_ERROR")
    else:
        out.update(
            status="COMPLETED",
            completedAt=_iso(op.ready),
            objectCount=str(op.object_count),
            rootObjectCount=str(op.root_count),
            fileSize=str(op.size),
            url=f"{origin}{RESULT_PATH}{op.seq}.jsonl",
        )
    return out


# ----------------------------------------------------------------- resolvers
def resolve_run_query(root: ShopifySandbox, info: Any, query: str) -> dict[str, Any]:
    """`bulkOperationRunQuery`: check, refuse a second concurrent query, run and store the JSONL."""
    errors, document = check_bulk_query(root.schema, query)
    if not errors and document is not None and (name := _root_field(document)[1][0].name.value) != "orders":
        errors = [ROOT_NOT_EMULATED.format(name=name)]
    if errors:
        return {"bulkOperation": None, "userErrors": [_user_error(m) for m in errors]}
    assert document is not None
    state: BulkState = root.bulk
    now = root.clock()
    latest = state.latest()
    if latest is not None and latest.running(now):
        return {
            "bulkOperation": None,
            "userErrors": [
                {"field": None, "message": IN_PROGRESS.format(gid=latest.gid), "code": "OPERATION_IN_PROGRESS"}
            ],
        }
    failed = state.fail_next > 0
    if failed:
        state.fail_next -= 1
    op = BulkOperation(
        seq=len(state.operations) + 1, query=query, created=now, ready=now + state.seconds, failed=failed
    )
    if not failed:
        write_results(root, document, op, state.directory() / f"{op.seq}.jsonl", now)
    state.operations.append(op)
    return {"bulkOperation": view(op, now, root.origin, just_created=True), "userErrors": []}


def resolve_current(root: ShopifySandbox, info: Any, type: str = "QUERY") -> dict[str, Any] | None:  # noqa: A002
    """`currentBulkOperation`: the newest query operation; bulk mutations are not modelled, so null."""
    op = root.bulk.latest()
    if type != "QUERY" or op is None:
        return None
    return view(op, root.clock(), root.origin)


def install_bulk_resolvers(schema: GraphQLSchema) -> None:
    assert schema.query_type is not None and schema.mutation_type is not None
    schema.query_type.fields["currentBulkOperation"].resolve = resolve_current
    schema.mutation_type.fields["bulkOperationRunQuery"].resolve = resolve_run_query


def operation_cost(
    schema: GraphQLSchema,
    operation: OperationDefinitionNode,
    fragments: dict[str, FragmentDefinitionNode],
    variables: dict[str, Any],
    *data: Any,
) -> int:
    """query_cost for queries; a flat MUTATION_COST per mutation field, as Shopify charged in 2025-01.

    The captured bulkOperationRunQuery selected every BulkOperation field plus userErrors
    and was charged 10 requested and 10 actual, so the payload selection is not added.
    """
    if operation.operation == OperationType.MUTATION:
        roots = [
            k
            for k, nodes in _fields([operation.selection_set], fragments).items()
            if not nodes[0].name.value.startswith("__")
        ]
        return MUTATION_COST * len(roots)
    return query_cost(schema, operation, fragments, variables, *data)


def _user_error(message: str) -> dict[str, Any]:
    return {"field": ["query"], "message": message, "code": "INVALID"}


# ----------------------------------------------------------------- execution
def _all_of_list(obj: Any, info: Any, **args: Any) -> dict[str, Any]:
    """A nested connection with every item: bulk queries ignore paging arguments."""
    value = obj.get(info.field_name) if isinstance(obj, dict) else None
    if isinstance(value, dict):  # stored in connection shape already
        value = value.get("nodes") or [edge["node"] for edge in value.get("edges") or []]
    items = list(value or [])
    if args.get("reverse"):
        items.reverse()
    return _connection(items)


def _connection(items: list[Any]) -> dict[str, Any]:
    return {
        "edges": [{"cursor": encode_cursor(i), "node": item} for i, item in enumerate(items)],
        "nodes": items,
        "pageInfo": {"hasNextPage": False, "hasPreviousPage": False, "startCursor": None, "endCursor": None},
    }


def load_bulk_schema() -> GraphQLSchema:
    """The same SDL with paging-free connections and a root `orders` that serves the current chunk.

    A second schema object, because the normal resolvers must keep rejecting a missing
    `first` outside bulk queries.
    """
    global _BULK_SCHEMA
    with _BULK_SCHEMA_LOCK:
        if _BULK_SCHEMA is None:
            schema = build_schema(SCHEMA_PATH.read_text(encoding="utf-8"))
            install_resolvers(schema)
            for type_ in schema.type_map.values():
                if isinstance(type_, GraphQLObjectType) and not type_.name.startswith("__"):
                    for fdef in type_.fields.values():
                        if _is_connection(get_named_type(fdef.type)):
                            fdef.resolve = _all_of_list
            assert schema.query_type is not None
            schema.query_type.fields["orders"].resolve = lambda root, info, **args: _connection(info.context["chunk"])
            _BULK_SCHEMA = schema
        return _BULK_SCHEMA


def _root_chunks(sandbox: ShopifySandbox, args: dict[str, Any], now: float) -> Iterable[list[dict]]:
    """The root connection's orders in served order, CHUNK at a time, through the `orders` resolver itself.

    Reusing resolve_orders (search filter, sortKey, reverse, keyset cursors) keeps a bulk
    read and a paged read of the same arguments identical by construction.
    """
    info = SimpleNamespace(context={"now": datetime.fromtimestamp(now, tz=timezone.utc)})
    filters = {k: args[k] for k in ("query", "sortKey", "reverse") if args.get(k) is not None}
    after = None
    while True:
        page = resolve_orders(sandbox, info, first=CHUNK, after=after, **filters)
        if page["nodes"]:
            yield page["nodes"]
        if not page["pageInfo"]["hasNextPage"]:
            return
        after = page["pageInfo"]["endCursor"]


@dataclass
class _Writer:
    out: IO[bytes]
    objects: int = 0
    roots: int = 0
    size: int = 0

    def line(self, record: dict[str, Any], *, root: bool) -> None:
        # Shopify writes compact JSON with "/" escaped ("gid:\/\/shopify\/..."): a captured
        # 2-line file of 249 bytes only adds up that way.
        data = (json.dumps(record, separators=(",", ":"), ensure_ascii=False).replace("/", "\\/") + "\n").encode()
        self.out.write(data)
        self.objects += 1
        self.roots += root
        self.size += len(data)


def _project(
    value: dict[str, Any],
    nodes: list[FieldNode],
    type_: GraphQLObjectType,
    fragments: dict[str, FragmentDefinitionNode],
    deferred: list[tuple[Any, list[FieldNode], Any]],
) -> dict[str, Any]:
    """One object's fields inline, its connections moved to `deferred` (they become lines of their own)."""
    out: dict[str, Any] = {}
    for key, fnodes in _sub(nodes, fragments).items():
        if key not in value:  # skipped by @skip/@include
            continue
        sub = value[key]
        fdef = type_.fields.get(fnodes[0].name.value)
        named = get_named_type(fdef.type) if fdef else None
        if sub is None or not isinstance(named, GraphQLObjectType):
            out[key] = sub
        elif _is_connection(named):
            deferred.append((sub, fnodes, named))
        elif isinstance(sub, list):
            out[key] = [None if item is None else _project(item, fnodes, named, fragments, deferred) for item in sub]
        else:
            out[key] = _project(sub, fnodes, named, fragments, deferred)
    return out


def _emit_connection(
    value: dict[str, Any],
    nodes: list[FieldNode],
    conn: GraphQLObjectType,
    parent: str | None,
    fragments: dict[str, FragmentDefinitionNode],
    writer: _Writer,
) -> None:
    """Each node as a line (children right after their parent); cursors and pageInfo are dropped."""
    node_type = _node_type(conn)
    for ekey, enodes in _sub(nodes, fragments).items():
        if enodes[0].name.value != "edges":
            continue
        for nkey, nnodes in _sub(enodes, fragments).items():
            if nnodes[0].name.value != "node":
                continue
            for edge in value.get(ekey) or []:
                node = edge[nkey]
                deferred: list[tuple[Any, list[FieldNode], Any]] = []
                record = _project(node, nnodes, node_type, fragments, deferred)
                if parent is not None:
                    record["__parentId"] = parent
                writer.line(record, root=parent is None)
                for sub, snodes, sconn in deferred:
                    _emit_connection(sub, snodes, sconn, node.get("id"), fragments, writer)


def write_results(sandbox: ShopifySandbox, document: DocumentNode, op: BulkOperation, path: Path, now: float) -> None:
    """Execute a checked bulk query over all matching orders into `path` (JSONL), filling op's counts."""
    schema = load_bulk_schema()
    fragments = _fragments(document)
    root = schema.query_type
    assert root is not None
    key, fnodes = _root_field(document)
    fdef = root.fields[fnodes[0].name.value]
    conn = get_named_type(fdef.type)
    assert isinstance(conn, GraphQLObjectType)
    args = get_argument_values(fdef, fnodes[0], cast(Any, {}))  # dict or VariableValues by graphql-core version
    context = {"now": datetime.fromtimestamp(now, tz=timezone.utc), "chunk": []}
    with path.open("wb") as out:
        writer = _Writer(out)
        for chunk in _root_chunks(sandbox, args, now):
            context["chunk"] = chunk
            result = execute_sync(schema, document, root_value=sandbox, context_value=context, variable_values={})
            if result.errors:  # a sandbox data bug, not an emulated failure: make it loud
                raise GraphQLError("bulk query execution failed: " + "; ".join(e.message for e in result.errors))
            assert result.data is not None
            _emit_connection(result.data[key], fnodes, conn, None, fragments, writer)
    op.path, op.object_count, op.root_count, op.size = path, writer.objects, writer.roots, writer.size


# ----------------------------------------------------------------- download
def serve_result(sandbox: ShopifySandbox, handler: BaseHTTPRequestHandler, path: str) -> None:
    """GET {origin}/bulk-results/<n>.jsonl: no token (a signed storage URL on Shopify), streamed from disk."""
    name = path[len(RESULT_PATH) :]
    seq = int(name[:-6]) if name.endswith(".jsonl") and name[:-6].isdigit() else 0
    with sandbox.lock:
        ops = sandbox.bulk.operations
        op = ops[seq - 1] if 0 < seq <= len(ops) else None
        ready = (
            op is not None
            and not op.running(sandbox.clock())
            and not op.failed
            and op.path is not None
            and op.path.exists()
        )  # gone after stop()
        sandbox.bulk_downloads.append(
            {"id": op.gid if op else None, "status": 200 if ready else 404, "bytes": op.size if ready and op else 0}
        )
    if not ready or op is None or op.path is None:
        body = b"Not Found"
        handler.send_response(404)
        handler.send_header("Content-Type", "text/plain")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)
        return
    handler.send_response(200)
    handler.send_header("Content-Type", "application/jsonl")
    handler.send_header("Content-Length", str(op.size))
    handler.send_header("Content-Disposition", f'attachment; filename="bulk-{op.seq}.jsonl"')
    handler.end_headers()
    with op.path.open("rb") as f:
        shutil.copyfileobj(f, handler.wfile, 64 * 1024)
