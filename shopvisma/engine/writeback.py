"""[shopify] write_back: tag each order in Shopify with where it went in Visma.

After a chunk settled, each order of it that is in Visma gets the tag of its document
(`visma-invoice-1042`, `visma-order-17`, `visma-draft` for a draft, which has no number)
and the JSON metafield `shopvisma.document` ({kind, id, number}); an order that failed
gets `visma-failed`, removed (with any other tag of ours that no longer says where the
order is) once it goes through.

- Idempotent: what was written is remembered in the checkpoint (`written_back` in the
  order's `recent` entry, or in its `pending` entry for `visma-failed`), and a tag the
  order already carries is not sent again, so a second pass sends nothing.
- Never blocking the transfer: a Shopify error (userErrors, HTTP trouble, a token without
  `write_orders`) is queued in `checkpoint.write_back` (order name → what is still to
  write, attempts, first_seen, last_tried, error), logged once, retried by the next
  passes (flush_write_back) and shown by `status`. It never fails the pass. An error that
  is not about one order (auth, Shopify unavailable) stops the write-back for the rest of
  the pass: every other order is tried by a later pass, one request per pass at most.
- Rate-limit aware: each mutation goes through ShopifyClient.execute with
  `expected_cost=MUTATION_COST`, which waits for the leaky bucket to hold it.
"""

from __future__ import annotations

import json
import logging
import re
from typing import TYPE_CHECKING, Any, Protocol, cast

from shopvisma.config.settings import Settings
from shopvisma.errors import AuthError, ShopvismaError, UnavailableError
from shopvisma.state.checkpoint import Checkpoint
from shopvisma.timefmt import iso_z, utc_now

if TYPE_CHECKING:
    from shopvisma.engine.outcomes import PassResult
    from shopvisma.engine.sync_pass import Services
    from shopvisma.shopify.order import Order

log = logging.getLogger("shopvisma.engine.writeback")

NAMESPACE = "shopvisma"
KEY = "document"
FAILED_TAG = "visma-failed"
WRITTEN = "written_back"  # in a recent / pending entry: the tag (and metafield) written for that state
# Our tags, and only ours: a stale one (visma-failed, visma-draft once booked) is removed.
OURS = re.compile(r"^visma-(?:draft|failed|order(?:-\S+)?|invoice(?:-\S+)?)$", re.IGNORECASE)
# PassResult.tally keys (not in `counts`): orders still queued, new errors this pass, a stop.
QUEUED, NEW_ERRORS, STOPPED = "write-back-queued", "write-back-new-errors", "write-back-stopped"


class _Mutating(Protocol):
    def execute(
        self, document: str, variables: dict[str, Any], *, expected_cost: float | None = None
    ) -> dict[str, Any]: ...


class _Stop(Exception):
    """A Shopify error that is not about one order: no more write-back in this pass."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def document_tag(kind: str, number: str | None) -> str:
    """`visma-invoice-1042`, `visma-order-17`, `visma-draft` (a draft has no number)."""
    if kind == "draft" or not number:
        return f"visma-{kind or 'draft'}"
    return f"visma-{kind}-{number}"


def _wanted(name: str, checkpoint: Checkpoint) -> tuple[str, dict[str, Any] | None, dict[str, Any]] | None:
    """(tag, metafield value or None, the checkpoint entry that remembers it), or None when
    the order is neither in Visma nor failed. A payment still pending does not make the
    order stuck: its invoice is booked."""
    pending = checkpoint.pending.get(name)
    if pending is not None and not pending.get("payment"):
        return FAILED_TAG, None, pending
    done = checkpoint.recent.get(name)
    if done is None or not done.get("document_id"):
        return None
    kind = str(done.get("kind") or "draft")
    number = str(done["number"]) if done.get("number") else None
    value = {"kind": kind, "id": str(done["document_id"]), "number": number}
    return document_tag(kind, number), value, done


def write_back_chunk(
    orders: list[Order], settings: Settings, services: Services, checkpoint: Checkpoint, result: PassResult
) -> None:
    """After a chunk settled in Visma: queue and send the Shopify tags/metafields of its orders."""
    queue = checkpoint.write_back or {}
    work: dict[str, dict[str, Any]] = {}
    for order in orders:
        wanted = _wanted(order.name, checkpoint)
        if wanted is None:
            continue
        tag, value, memory = wanted
        queued = queue.get(order.name)
        if memory.get(WRITTEN) == tag:
            queue.pop(order.name, None)  # written by an earlier pass: nothing to do
            continue
        have = {t.lower() for t in order.tags}
        entry: dict[str, Any] = {
            "id": order.id,
            "tag": tag,
            "add": [] if tag.lower() in have else [tag],
            # Once through, no other tag of ours stays (visma-failed, visma-draft once booked);
            # a failed order keeps what it had: its tags may still name its document.
            "remove": []
            if value is None
            else sorted(t for t in order.tags if OURS.match(t) and t.lower() != tag.lower()),
            "metafield": value,
            "document_id": value["id"] if value else None,
        }
        if queued and queued.get("tag") == tag and _doc(queued) == _doc(entry):
            entry["metafield"] = queued.get("metafield")  # what is still to set (None: set already)
            entry.update({k: queued[k] for k in ("attempts", "first_seen", "error") if k in queued})
        if not (entry["add"] or entry["remove"] or entry["metafield"]):
            _remember(order.name, entry, checkpoint)
            queue.pop(order.name, None)
            continue
        work[order.name] = entry
    checkpoint.write_back = queue or None
    if work:
        _send(work, services, checkpoint, result)


def flush_write_back(settings: Settings, services: Services, checkpoint: Checkpoint, result: PassResult) -> None:
    """At the end of a pass: retry what earlier passes could not write back."""
    queue = checkpoint.write_back
    if not queue:
        return
    this_pass = result.started_at.isoformat()
    work: dict[str, dict[str, Any]] = {}
    for name, entry in list(queue.items()):
        if entry.get("pass") == this_pass:
            continue  # tried in this pass already (its chunk)
        wanted = _wanted(name, checkpoint)
        if entry.get("tag") == FAILED_TAG:
            stale = wanted is None or wanted[0] != FAILED_TAG  # through since, or no longer selected
        else:  # the order's recent entry may be forgotten (bounded): then the entry still stands
            done = checkpoint.recent.get(name)
            stale = (done is not None and str(done.get("document_id")) != _doc(entry)) or (
                wanted is not None and wanted[0] == FAILED_TAG
            )
        if stale:
            del queue[name]
        elif wanted is not None and wanted[2].get(WRITTEN) == entry.get("tag"):
            del queue[name]
        else:
            work[name] = entry
    checkpoint.write_back = queue or None
    if work and not result.tally[STOPPED]:  # after a stop, the queue waits for the next pass as it is
        _send(work, services, checkpoint, result)
    services.save_checkpoint(checkpoint)


# --------------------------------------------------------------------------- sending


def _doc(entry: dict[str, Any]) -> str | None:
    """The Visma document id an entry is about (None for visma-failed)."""
    doc = entry.get("document_id")
    return str(doc) if doc else None


def _send(work: dict[str, dict[str, Any]], services: Services, checkpoint: Checkpoint, result: PassResult) -> None:
    """Tags one order at a time, metafields 25 to a call; then each entry is either done
    (remembered, off the queue) or queued with its error."""
    from shopvisma.shopify.writeback import METAFIELDS_PER_CALL, METAFIELDS_SET, MUTATION_COST, TAGS_ADD, TAGS_REMOVE

    if result.tally[STOPPED]:  # an earlier chunk of this pass hit auth/unavailable: not one more request
        _settle(work, {}, _stopped_by(result), checkpoint, result)
        return
    shopify = cast(_Mutating, services.shopify)
    errors: dict[str, str] = {}
    stop: str | None = None

    def mutate(document: str, variables: dict[str, Any], field: str) -> list[dict[str, Any]]:
        """The mutation's userErrors; raises _Stop for an error that is not about this order."""
        try:
            data = shopify.execute(document, variables, expected_cost=MUTATION_COST)
        except AuthError as exc:
            scope = "denied" in exc.message  # ACCESS_DENIED / HTTP 403, not a rejected token
            raise _Stop(exc.message + (": write-back needs the `write_orders` access scope" if scope else "")) from None
        except UnavailableError as exc:
            raise _Stop(exc.message) from None
        except ShopvismaError as exc:  # a GraphQL error about this request (e.g. a malformed id)
            return [{"message": exc.message}]
        payload = data.get(field)
        if not isinstance(payload, dict):
            return [{"message": f"Shopify answered no {field} result"}]
        return list(payload.get("userErrors") or [])

    for name, entry in work.items():
        if stop is not None:
            break
        for key, document, field in (("add", TAGS_ADD, "tagsAdd"), ("remove", TAGS_REMOVE, "tagsRemove")):
            if not entry.get(key):
                continue
            try:
                problems = mutate(document, {"id": entry["id"], "tags": entry[key]}, field)
            except _Stop as exc:
                stop = exc.message
                break
            if problems:
                errors.setdefault(name, f"{field}: {_messages(problems)}")
            else:
                entry[key] = []
    batch = [(name, entry) for name, entry in work.items() if entry.get("metafield")]
    for start in range(0, len(batch) if stop is None else 0, METAFIELDS_PER_CALL):
        part = batch[start : start + METAFIELDS_PER_CALL]
        try:
            _set_metafields(
                part, lambda inputs: mutate(METAFIELDS_SET, {"metafields": inputs}, "metafieldsSet"), errors
            )
        except _Stop as exc:
            stop = exc.message
            break
    if stop is not None:
        result.tally[STOPPED] += 1
        result.tally[f"{STOPPED}: {stop}"] = 1  # the reason, for the later chunks of this pass
    _settle(work, errors, stop, checkpoint, result)


def _stopped_by(result: PassResult) -> str:
    prefix = f"{STOPPED}: "
    return next((k[len(prefix) :] for k in result.tally if k.startswith(prefix)), "Shopify write-back stopped")


def _metafield_input(entry: dict[str, Any]) -> dict[str, Any]:
    value = json.dumps(entry["metafield"], sort_keys=True, separators=(",", ":"))
    return {"ownerId": entry["id"], "namespace": NAMESPACE, "key": KEY, "type": "json", "value": value}


def _set_metafields(part: list[tuple[str, dict[str, Any]]], call: Any, errors: dict[str, str]) -> None:
    """metafieldsSet is atomic: one bad input and none is written. The inputs the userErrors
    name are left queued and the others are sent once more."""
    problems = call([_metafield_input(e) for _, e in part])
    if problems:
        bad = {i for i in (_index(p) for p in problems) if i is not None and 0 <= i < len(part)}
        for i, (name, _) in enumerate(part):
            if i in bad or not bad:
                mine = [p for p in problems if _index(p) == i] or problems
                errors.setdefault(name, f"metafieldsSet: {_messages(mine)}")
        rest = [(n, e) for i, (n, e) in enumerate(part) if bad and i not in bad]
        if not rest:
            return
        problems = call([_metafield_input(e) for _, e in rest])
        if problems:
            for name, _ in rest:
                errors.setdefault(name, f"metafieldsSet: {_messages(problems)}")
            return
        part = rest
    for _, entry in part:
        entry["metafield"] = None


def _index(problem: dict[str, Any]) -> int | None:
    """Which input a metafieldsSet userError is about: `elementIndex`, or `field` [metafields, i, ...]."""
    if isinstance(problem.get("elementIndex"), int):
        return int(problem["elementIndex"])
    field = problem.get("field") or []
    if len(field) >= 2 and str(field[1]).isdigit():
        return int(field[1])
    return None


def _messages(problems: list[dict[str, Any]]) -> str:
    return "; ".join(str(p.get("message") or p) for p in problems[:3])


def _settle(
    work: dict[str, dict[str, Any]],
    errors: dict[str, str],
    stop: str | None,
    checkpoint: Checkpoint,
    result: PassResult,
) -> None:
    queue = checkpoint.write_back or {}
    now = iso_z(utc_now())
    new: list[str] = []
    for name, entry in work.items():
        if not (entry.get("add") or entry.get("remove") or entry.get("metafield")):
            _remember(name, entry, checkpoint)
            queue.pop(name, None)
            continue
        error = errors.get(name) or stop or "not written yet"
        if entry.get("error") != error:
            new.append(name)
            if name in errors:
                log.warning("write-back %s: %s (queued; the next sync retries)", name, error)
        entry.update(
            error=error,
            attempts=int(entry.get("attempts", 0)) + 1,
            first_seen=entry.get("first_seen") or now,
            last_tried=now,
        )
        entry["pass"] = result.started_at.isoformat()  # to the microsecond: flush_write_back skips it
        queue[name] = entry
        result.tally[QUEUED] += 1
    if stop is not None and any(name not in errors for name in new) and not result.tally["write-back-stop-logged"]:
        result.tally["write-back-stop-logged"] = 1  # once per pass, and only when it is news to an order
        log.warning("Shopify write-back stopped for this pass: %s (orders queued; the next sync retries)", stop)
    result.tally[NEW_ERRORS] += len(new)
    checkpoint.write_back = queue or None


def _remember(name: str, entry: dict[str, Any], checkpoint: Checkpoint) -> None:
    """Written: keep the tag in the entry of the state it says, so no later pass sends it again."""
    tag = entry.get("tag")
    if tag == FAILED_TAG:
        holder = checkpoint.pending.get(name)
    else:
        holder = checkpoint.recent.get(name)
        if holder is not None and str(holder.get("document_id")) != _doc(entry) and _doc(entry) is not None:
            holder = None
    if holder is not None:
        holder[WRITTEN] = tag
