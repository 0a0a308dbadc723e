"""Write-back ([shopify] write_back = true): after a chunk's orders are settled, show in
the Shopify admin where each one went in Visma.

What is written, and why in this order:
- a metafield `shopvisma.document` (type json: `{"kind", "id", "number"}`), set first, in
  batches of up to 25 (one `metafieldsSet` per 25 orders);
- then one tag per order (`tagsAdd`): `visma-draft`, `visma-invoice-<InvoiceNumber>`
  (`visma-invoice` while Visma has given no number), `visma-order-<Number>`; so a tag
  that is there implies the metafield is set, and "tag present" is all a later pass
  needs to know that the order is done;
- then `tagsRemove` of what no longer holds: `visma-failed` once the order went through,
  and an earlier document tag (`visma-draft` when the pass sees the order's document as
  an invoice now). Removed after the new tag is on, so the order is never untagged.
A failed order (or one whose refund failed) gets `visma-failed`, and keeps its document
tag if it has one. Refunds never get a tag of their own.

Idempotent: Shopify's tagsAdd/tagsRemove of a tag that is there / not there change
nothing, and metafieldsSet with the same value neither. The engine does not even ask:
an order whose tags (as this pass read them) already hold the right tag, and whose
checkpoint entry does not say the metafield was written with another value, costs no
request. A write moves the order's `updatedAt`, so the next pass reads the order again:
it is in `checkpoint.recent` (the pass skips it before any chunk) and its tags now hold
the tag, so that read causes no second write.

Never blocking: the transfer is done when this runs. Any Shopify error or userError is
logged (a warning) and the write kept in `checkpoint.write_back` (bounded) for a later
pass; ACCESS_DENIED (the app lacks `write_orders`) is logged once per pass with the
hint, and the pass writes nothing more to Shopify (no exit 77: the transfer succeeded).
Nothing here raises.
"""

from __future__ import annotations

import json
import logging
import re
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol, cast

from shopvisma.errors import AuthError, ShopvismaError, UnavailableError
from shopvisma.timefmt import iso_z, parse_iso, utc_now

if TYPE_CHECKING:
    from shopvisma.config.settings import Settings
    from shopvisma.engine.outcomes import OrderOutcome
    from shopvisma.engine.sync_pass import Services
    from shopvisma.shopify.order import Order
    from shopvisma.state.checkpoint import Checkpoint

log = logging.getLogger("shopvisma.engine.writeback")

NAMESPACE = "shopvisma"
KEY = "document"
FAILED_TAG = "visma-failed"
# Our document tags: visma-draft, visma-invoice[-N], visma-order[-N] (replaced when the kind changes).
_DOCUMENT_TAG = re.compile(r"^visma-(draft|invoice|order)(-.+)?$", re.IGNORECASE)
MAX_BACKLOG = 500  # write-backs kept for later passes; the oldest are dropped beyond it
MAX_ATTEMPTS = 20  # failed tries (not counting "scope missing") before a write-back is given up
BACKLOG_DAYS = 30  # same horizon as checkpoint.recent: older write-backs are given up
SCOPE_HINT = (
    "give the Shopify app the `write_orders` access scope (Dev Dashboard / app settings), "
    "then run `shopvisma login shopify` if the token changes; or set [shopify] write_back = false. "
    "The orders themselves are in Visma: only the Shopify tags wait"
)


class _GraphQL(Protocol):
    """What write-back needs of the Shopify client: ShopifyClient.execute (waits on the cost bucket)."""

    def execute(
        self, document: str, variables: dict[str, Any], *, expected_cost: float | None = None
    ) -> dict[str, Any]: ...


@dataclass
class Write:
    """One order's pending Shopify change: the metafield (None: leave it), tags to add and remove."""

    name: str
    order_id: str
    add: list[str] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)
    metafield: dict[str, Any] | None = None

    def as_entry(self) -> dict[str, Any]:
        return {"id": self.order_id, "add": self.add, "remove": self.remove, "metafield": self.metafield}

    @classmethod
    def from_entry(cls, name: str, entry: dict[str, Any]) -> Write:
        return cls(
            name,
            str(entry.get("id") or ""),
            [str(t) for t in entry.get("add") or []],
            [str(t) for t in entry.get("remove") or []],
            entry.get("metafield") if isinstance(entry.get("metafield"), dict) else None,
        )


@dataclass
class WriteBackReport:
    """What one call did (tests, and a pass that wants to count it)."""

    written: list[str] = field(default_factory=list)
    deferred: list[str] = field(default_factory=list)
    planned: list[Write] = field(default_factory=list)
    denied: bool = False
    mutations: int = 0


@dataclass
class _PassState:
    """Per pass (per Shopify client: commands build one per run): the backlog is retried once,
    and a missing scope is reported once and stops further writes."""

    backlog_tried: bool = False
    denied: bool = False


_STATES: weakref.WeakKeyDictionary[Any, _PassState] = weakref.WeakKeyDictionary()


def _pass_state(client: Any) -> _PassState:
    try:
        return _STATES.setdefault(client, _PassState())
    except TypeError:  # a client that cannot be weakly referenced: state per call
        return _PassState()


# ------------------------------------------------------------------------ planning (pure)


def document_tag(kind: str, number: str) -> str:
    """The tag for a document: a draft has no number yet; a comma would split the tag in Shopify."""
    number = str(number or "").strip().replace(",", "")
    if kind == "draft":
        return "visma-draft"
    return f"visma-{kind}-{number}" if number else f"visma-{kind}"


def metafield_value(outcome: OrderOutcome) -> dict[str, Any]:
    return {"kind": outcome.kind, "id": outcome.document_id or None, "number": outcome.document_number or None}


def _fingerprint(value: dict[str, Any]) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def plan_writes(settled: Iterable[tuple[Order, OrderOutcome]], checkpoint: Checkpoint) -> list[Write]:
    """What each settled order needs in Shopify, judged from its tags as this pass read them.
    Refund outcomes ("#1001 refund 1") only decide `visma-failed`; the document tag and the
    metafield come from the order's own outcome, and only when it is in Visma."""
    groups: dict[str, tuple[Order, list[OrderOutcome]]] = {}
    for order, outcome in settled:
        groups.setdefault(order.name, (order, []))[1].append(outcome)
    writes: list[Write] = []
    for name, (order, outcomes) in groups.items():
        have = {str(t).strip().lower() for t in order.tags or []}
        own = next((o for o in outcomes if o.name == name), None)
        failed = any(o.status == "failed" for o in outcomes)
        write = Write(name, order.id)
        if own is not None and own.status in ("created", "exists", "would-create") and own.kind:
            tag = document_tag(own.kind, own.document_number)
            value = metafield_value(own)
            known = ((checkpoint.recent.get(name) or {}).get("write_back")) if own.status != "would-create" else None
            if tag.lower() not in have or (known is not None and known != _fingerprint(value)):
                write.metafield = value
            if tag.lower() not in have:
                write.add.append(tag)
            write.remove += [t for t in order.tags or [] if _DOCUMENT_TAG.match(t) and t.lower() != tag.lower()]
        if failed and FAILED_TAG not in have:
            write.add.append(FAILED_TAG)
        if not failed:
            write.remove += [t for t in order.tags or [] if t.lower() == FAILED_TAG]
        if write.add or write.remove or write.metafield is not None:
            writes.append(write)
    return writes


# ------------------------------------------------------------------------ the call from the pass


def write_back(
    settings: Settings,
    services: Services,
    checkpoint: Checkpoint,
    settled: list[tuple[Order, OrderOutcome]],
    *,
    dry_run: bool = False,
) -> WriteBackReport:
    """Tag the chunk's settled orders in Shopify and retry earlier write-backs (once per pass).
    Called at the end of each chunk; `settled=[]` retries only the backlog (a pass with no
    chunk). Never raises: the transfer it reports on is already done."""
    report = WriteBackReport()
    if not settings.shopify.write_back:
        return report
    try:
        report.planned = plan_writes(settled, checkpoint)
        if dry_run:
            _show(report.planned, settled)
            return report
        _run(services, checkpoint, settled, report)
    except Exception:  # noqa: BLE001 - a bug here must not cost the pass its transfers
        log.warning("Shopify write-back failed unexpectedly; the next pass retries", exc_info=True)
    return report


def _show(writes: list[Write], settled: list[tuple[Order, OrderOutcome]]) -> None:
    """Dry-run: no request; what would be written goes on the order's outcome and in the log."""
    outcomes: dict[str, OrderOutcome] = {}
    for order, outcome in settled:
        if outcome.name == order.name or order.name not in outcomes:
            outcomes[order.name] = outcome
    for w in writes:
        shown = {"add": w.add, "remove": w.remove, "metafield": w.metafield}
        outcomes[w.name].write_back = {k: v for k, v in shown.items() if v}
        log.info("dry-run: would write back %s: %s", w.name, outcomes[w.name].write_back)


def _run(
    services: Services, checkpoint: Checkpoint, settled: list[tuple[Order, OrderOutcome]], report: WriteBackReport
) -> None:
    state = _pass_state(services.shopify)
    backlog = checkpoint.write_back or {}
    before = json.dumps(backlog, sort_keys=True)
    chunk_names = {order.name for order, _ in settled}
    for name in chunk_names & set(backlog):
        del backlog[name]  # this pass read the order's tags: its plan supersedes the older one
    writes = list(report.planned)
    if not state.backlog_tried:
        state.backlog_tried = True
        writes += [Write.from_entry(name, entry) for name, entry in backlog.items() if name not in chunk_names]
    writes = [w for w in writes if w.order_id]
    if state.denied:
        for w in writes:
            _defer(backlog, w, "Shopify denied the write (missing write_orders scope)", count=False)
        report.deferred = [w.name for w in writes]
    elif writes:
        _Writer(cast(_GraphQL, services.shopify), checkpoint, backlog, state, report).run(writes)
    _bound(backlog)
    checkpoint.write_back = backlog or None
    if json.dumps(backlog, sort_keys=True) != before or report.written:
        services.save_checkpoint(checkpoint)


def _defer(backlog: dict[str, dict[str, Any]], w: Write, error: str, *, count: bool = True) -> None:
    """Keep the write for a later pass; `count=False`: it was not tried (scope missing, Shopify gone)."""
    now = iso_z(utc_now())
    entry = backlog.get(w.name) or {"first_seen": now, "attempts": 0}
    entry.update(w.as_entry(), error=error, last_tried=now)
    entry["attempts"] = int(entry.get("attempts") or 0) + (1 if count else 0)
    backlog[w.name] = entry


def _bound(backlog: dict[str, dict[str, Any]]) -> None:
    """The backlog stays small: too many attempts, too old, or too many entries are given up (logged)."""
    cut = iso_z(utc_now() - timedelta(days=BACKLOG_DAYS))
    for name, entry in list(backlog.items()):
        try:
            old = iso_z(parse_iso(str(entry.get("first_seen")))) < cut
        except (TypeError, ValueError):
            old = True
        if old or int(entry.get("attempts") or 0) >= MAX_ATTEMPTS:
            log.warning("Shopify write-back for %s given up: %s", name, entry.get("error"))
            del backlog[name]
    if len(backlog) > MAX_BACKLOG:
        for name in sorted(backlog, key=lambda n: str(backlog[n].get("first_seen")))[: len(backlog) - MAX_BACKLOG]:
            log.warning("Shopify write-back for %s given up (backlog full)", name)
            del backlog[name]


class _Stop(Exception):
    """Shopify cannot take more writes this pass (scope missing, or unavailable)."""


class _Writer:
    """Sends the writes: metafields in batches, then each order's tags."""

    def __init__(
        self,
        shopify: _GraphQL,
        checkpoint: Checkpoint,
        backlog: dict[str, dict[str, Any]],
        state: _PassState,
        report: WriteBackReport,
    ) -> None:
        self.shopify = shopify
        self.checkpoint = checkpoint
        self.backlog = backlog
        self.state = state
        self.report = report

    def run(self, writes: list[Write]) -> None:
        from shopvisma.shopify.writeback import METAFIELDS_PER_CALL

        todo = list(writes)
        try:
            with_metafield = [w for w in todo if w.metafield is not None]
            failed: set[str] = set()
            for i in range(0, len(with_metafield), METAFIELDS_PER_CALL):
                failed |= self._metafields(with_metafield[i : i + METAFIELDS_PER_CALL])
            todo = [w for w in todo if w.name not in failed]
            while todo:
                self._tags(todo[0])
                todo.pop(0)
        except _Stop as stop:
            for w in todo:
                _defer(self.backlog, w, str(stop), count=False)
                self.report.deferred.append(w.name)

    def _execute(self, document: str, variables: dict[str, Any]) -> dict[str, Any]:
        """One mutation through the client (it waits for the cost bucket and retries throttling)."""
        from shopvisma.shopify.writeback import MUTATION_COST

        self.report.mutations += 1
        try:
            return self.shopify.execute(document, variables, expected_cost=MUTATION_COST)
        except AuthError:
            self.state.denied = self.report.denied = True
            log.warning(
                "Shopify denied the write-back (the app lacks the write_orders access scope?); "
                "the orders are in Visma, their tags wait. What to do: %s",
                SCOPE_HINT,
            )
            raise _Stop("Shopify denied the write (missing write_orders scope)") from None
        except UnavailableError as exc:
            log.warning("Shopify write-back postponed: %s", exc.message)
            raise _Stop(f"Shopify unavailable: {exc.message}") from None

    def _fail(self, w: Write, error: str) -> None:
        log.warning("Shopify write-back for %s failed (retried next pass): %s", w.name, error)
        _defer(self.backlog, w, error)
        self.report.deferred.append(w.name)

    def _metafields(self, batch: list[Write]) -> set[str]:
        """Set the batch's metafields; returns the names that failed. metafieldsSet is atomic:
        the inputs Shopify names in its userErrors are taken out and the rest sent once more."""
        from shopvisma.shopify.writeback import METAFIELDS_SET

        for retry in (False, True):
            inputs = [
                {
                    "ownerId": w.order_id,
                    "namespace": NAMESPACE,
                    "key": KEY,
                    "type": "json",
                    "value": json.dumps(w.metafield, sort_keys=True, separators=(",", ":")),
                }
                for w in batch
            ]
            try:
                data = self._execute(METAFIELDS_SET, {"metafields": inputs})
            except ShopvismaError as exc:
                if isinstance(exc, AuthError | UnavailableError):
                    raise
                for w in batch:
                    self._fail(w, f"metafieldsSet: {exc.message}")
                return {w.name for w in batch}
            payload = data.get("metafieldsSet")
            errors = list((payload or {}).get("userErrors") or [])
            if payload is not None and not errors:
                return set()
            bad = {i for i in (_element_index(e) for e in errors) if i is not None and 0 <= i < len(batch)}
            message = "; ".join(str(e.get("message")) for e in errors) or "metafieldsSet returned nothing"
            if retry or not bad or len(bad) != len({_element_index(e) for e in errors}):
                for w in batch:  # unattributed errors: none of the batch was written
                    self._fail(w, f"metafieldsSet: {message}")
                return {w.name for w in batch}
            for i in sorted(bad):
                mine = "; ".join(str(e.get("message")) for e in errors if _element_index(e) == i)
                self._fail(batch[i], f"metafieldsSet: {mine}")
            failed = {batch[i].name for i in bad}
            batch = [w for i, w in enumerate(batch) if i not in bad]
            if not batch:
                return failed
            more = self._metafields_once(batch)
            return failed | more
        return set()  # unreachable: the loop returns

    def _metafields_once(self, batch: list[Write]) -> set[str]:
        """The second send of a batch whose bad inputs were taken out: any error fails it whole."""
        from shopvisma.shopify.writeback import METAFIELDS_SET

        inputs = [
            {
                "ownerId": w.order_id,
                "namespace": NAMESPACE,
                "key": KEY,
                "type": "json",
                "value": json.dumps(w.metafield, sort_keys=True, separators=(",", ":")),
            }
            for w in batch
        ]
        try:
            data = self._execute(METAFIELDS_SET, {"metafields": inputs})
        except ShopvismaError as exc:
            if isinstance(exc, AuthError | UnavailableError):
                raise
            data = {"metafieldsSet": {"userErrors": [{"message": exc.message}]}}
        payload = data.get("metafieldsSet")
        errors = list((payload or {}).get("userErrors") or [])
        if payload is not None and not errors:
            return set()
        message = "; ".join(str(e.get("message")) for e in errors) or "metafieldsSet returned nothing"
        for w in batch:
            self._fail(w, f"metafieldsSet: {message}")
        return {w.name for w in batch}

    def _tags(self, w: Write) -> None:
        from shopvisma.shopify.writeback import TAGS_ADD, TAGS_REMOVE

        for document, field_name, tags in ((TAGS_ADD, "tagsAdd", w.add), (TAGS_REMOVE, "tagsRemove", w.remove)):
            if not tags:
                continue
            try:
                data = self._execute(document, {"id": w.order_id, "tags": tags})
            except ShopvismaError as exc:
                if isinstance(exc, AuthError | UnavailableError):
                    raise
                self._fail(w, f"{field_name}: {exc.message}")
                return
            payload = data.get(field_name)
            errors = list((payload or {}).get("userErrors") or [])
            if payload is None or errors:
                message = "; ".join(str(e.get("message")) for e in errors) or f"{field_name} returned nothing"
                self._fail(w, f"{field_name}: {message}")
                return
        self.backlog.pop(w.name, None)
        self.report.written.append(w.name)
        done = self.checkpoint.recent.get(w.name)
        if done is not None and w.metafield is not None:
            done["write_back"] = _fingerprint(w.metafield)  # what the metafield holds now


def _element_index(error: dict[str, Any]) -> int | None:
    """Which input a metafieldsSet userError is about: `elementIndex`, else the index in `field`."""
    index = error.get("elementIndex")
    if isinstance(index, int):
        return index
    path = error.get("field") or []
    if len(path) >= 2 and path[0] == "metafields" and str(path[1]).isdigit():
        return int(path[1])
    return None
