"""The checkpoint: what the last passes did, kept in the state dir (checkpoint.json).

The checkpoint is an optimisation and a progress report, not the source of truth:
documents are found in Visma by their reference (`YourReference` = order name), so a
lost checkpoint costs time, never a duplicate. That is why it can stay bounded (old
transfers are forgotten) and why a corrupt one is refused loudly instead of reset:
a silent reset with no go-live date would re-read the shop's whole history.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from shopvisma.errors import ConfigError
from shopvisma.state.files import atomic_write
from shopvisma.timefmt import as_utc, iso_z, parse_iso, utc_now

VERSION = 1
RECENT_MAX = 500
RECENT_DAYS = 30


@dataclass
class Checkpoint:
    """What the last passes did. Keyed by Shopify order name (e.g. "#1001")."""

    bookmark: str | None = None  # updated_at to resume from; never later than a run's start
    # When the pass that set the bookmark started (so before its search ran): the next pass
    # re-reads from min(bookmark, searched_at - [sync] search_lag_seconds) (engine/selection.py).
    # None in a file written before it existed: the next pass falls back to overlap_minutes.
    searched_at: str | None = None
    pending: dict[str, dict[str, Any]] = field(
        default_factory=dict
    )  # {id, updated_at, reason, field, attempts, first_seen, last_tried}
    intents: dict[str, dict[str, Any]] = field(default_factory=dict)  # {kind, started_at, order_id}: create in flight
    recent: dict[str, dict[str, Any]] = field(default_factory=dict)  # {document_id, kind, at}: bounded
    refunds_done: dict[str, dict[str, Any]] = field(
        default_factory=dict
    )  # refund id → {order_name, document_id, at}: bounded
    edited: dict[str, dict[str, Any]] = field(
        default_factory=dict
    )  # order changed after transfer → {was, now, at}: bounded
    last_run: dict[str, Any] | None = None
    visma_grant: dict[str, Any] | None = None  # {rotated_at}
    # [payouts] (engine/payouts.py): {bookmark, done: {payout id: {voucher_id, ..., at}} (bounded),
    # pending / intents: {payout id: {...}}, last: the last payout booked}. Absent until used.
    payouts: dict[str, Any] | None = None
    # [shopify] write_back (engine/writeback.py): order name → {id, tag, add, remove, metafield,
    # document_id, attempts, first_seen, last_tried, error, pass}: Shopify writes still to do
    # (bounded: 500 / 30 days by first_seen). Absent until used. What was written is kept as
    # `written_back` (the tag) in the order's `recent` (or, for visma-failed, `pending`) entry.
    write_back: dict[str, dict[str, Any]] | None = None
    extra: dict[str, Any] = field(default_factory=dict, repr=False)  # unknown v1 keys, kept on rewrite


_DICT_FIELDS = ("pending", "intents", "recent", "refunds_done", "edited")
_OPTIONAL_DICT_FIELDS = ("last_run", "visma_grant", "payouts", "write_back")
_PAYOUT_MAPS = ("done", "pending", "intents")


def advance_bookmark(cp: Checkpoint, newest_seen: datetime | str | None, run_started: datetime | str) -> str | None:
    """Move the bookmark forward to the newest updated_at seen, capped at the run's start:
    an order updated during the pass, with an updated_at Shopify stamps before ours, must
    still be read next time. Never moves backwards. Records the run's start as `searched_at`
    with it (one save, so a crash never pairs a new searched_at with an old bookmark): the
    search began after it, so what it could not see yet was updated after it, less the lag."""
    started = as_utc(run_started)
    cp.searched_at = iso_z(started)
    if newest_seen is None:
        return cp.bookmark
    candidate = min(as_utc(newest_seen), started)
    if cp.bookmark is not None:  # monotonic, but a bookmark from a skewed clock is pulled back
        candidate = max(candidate, min(parse_iso(cp.bookmark), started))
    cp.bookmark = iso_z(candidate)
    return cp.bookmark


def record_intent(cp: Checkpoint, order_name: str, kind: str, order_id: str, now: datetime | None = None) -> None:
    """Written (and saved) before a create, so a crash leaves a marker: look it up first."""
    cp.intents[order_name] = {"kind": kind, "started_at": iso_z(now or utc_now()), "order_id": order_id}


def record_transfer(cp: Checkpoint, order_name: str, document_id: str, kind: str, at: datetime | None = None) -> None:
    """The order is in Visma: forget its intent and pending entry, remember it briefly."""
    was = cp.recent.get(order_name) or {}
    cp.recent[order_name] = {"document_id": document_id, "kind": kind, "at": iso_z(at or utc_now())}
    if was.get("written_back") and was.get("document_id") == document_id:  # same document: tagged already
        cp.recent[order_name]["written_back"] = was["written_back"]
    cp.intents.pop(order_name, None)
    cp.pending.pop(order_name, None)


def record_pending(
    cp: Checkpoint,
    order_name: str,
    order_id: str,
    updated_at: str | None,
    reason: str,
    field_name: str = "",
    now: datetime | None = None,
) -> dict[str, Any]:
    """The order could not be transferred: keep why, and count attempts so `status` can
    name the ones that keep failing (first_seen survives retries)."""
    stamp = iso_z(now or utc_now())
    entry = cp.pending.get(order_name) or {"first_seen": stamp, "attempts": 0}
    entry.update(
        id=order_id,
        updated_at=updated_at,
        reason=reason,
        field=field_name,
        attempts=int(entry.get("attempts", 0)) + 1,
        last_tried=stamp,
    )
    cp.pending[order_name] = entry
    return entry


def record_refund(
    cp: Checkpoint, refund_id: str, order_name: str, document_id: str, at: datetime | None = None
) -> None:
    """The refund is credited in Visma: remembered (bounded) so it is not credited twice."""
    cp.refunds_done[refund_id] = {"order_name": order_name, "document_id": document_id, "at": iso_z(at or utc_now())}


_CANONICAL = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def prune(cp: Checkpoint, now: datetime | None = None) -> None:
    """Bound the history maps (500 entries / 30 days) so the file never grows with the shop."""
    cutoff = (now or utc_now()) - timedelta(days=RECENT_DAYS)
    cut = iso_z(cutoff)
    for name in ("recent", "refunds_done", "edited"):
        entries: dict[str, dict[str, Any]] = getattr(cp, name)
        dated: list[tuple[Any, str, dict[str, Any]]] = []
        for key, value in entries.items():
            at = value.get("at")
            if isinstance(at, str) and _CANONICAL.fullmatch(at):  # our own iso_z(): sorts as text (fast;
                if at >= cut:  # this runs on every save)
                    dated.append((at, key, value))
                continue
            try:
                when = iso_z(parse_iso(str(at)))
            except (ValueError, TypeError):
                continue
            if when >= cut:
                dated.append((when, key, value))
        dated.sort(key=lambda item: item[0])
        setattr(cp, name, {key: value for _, key, value in dated[-RECENT_MAX:]})
    if cp.payouts and isinstance(cp.payouts.get("done"), dict):  # found in Visma again if still needed
        done = sorted(
            ((str(v.get("at") or ""), k, v) for k, v in cp.payouts["done"].items() if str(v.get("at") or "") >= cut),
            key=lambda item: item[0],
        )
        cp.payouts["done"] = {key: value for _, key, value in done[-RECENT_MAX:]}
    if cp.write_back:  # a write-back failing for 30 days is given up (the Visma side is done)
        queued = sorted(
            ((str(v.get("first_seen") or ""), k, v) for k, v in cp.write_back.items()),
            key=lambda item: item[0],
        )
        cp.write_back = {key: value for at, key, value in queued[-RECENT_MAX:] if at >= cut} or None


def checkpoint_to_json(cp: Checkpoint) -> dict[str, Any]:
    """The file's content; unknown keys of a newer v1 writer are kept, not dropped."""
    data: dict[str, Any] = dict(cp.extra)
    data.update(
        version=VERSION,
        bookmark=cp.bookmark,
        searched_at=cp.searched_at,
        pending=cp.pending,
        intents=cp.intents,
        recent=cp.recent,
        refunds_done=cp.refunds_done,
        edited=cp.edited,
        last_run=cp.last_run,
        visma_grant=cp.visma_grant,
    )
    if cp.write_back:
        data["write_back"] = cp.write_back
    else:
        data.pop("write_back", None)
    if cp.payouts is not None:
        data["payouts"] = cp.payouts
    else:
        data.pop("payouts", None)
    return data


def _corrupt(path: Path, what: str) -> ConfigError:
    return ConfigError(
        f"checkpoint {path} is unreadable: {what}",
        hint=(
            f"move it aside (mv '{path}' '{path}.bad') and run `shopvisma sync`: orders already in Visma "
            "are found there by their reference, so nothing is created twice"
        ),
    )


def load_checkpoint(path: Path) -> Checkpoint:
    """The checkpoint at `path` (empty when there is none); a damaged one is a ConfigError
    with a recovery hint, never a silent reset (see the module docstring)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Checkpoint()
    except OSError as exc:
        raise ConfigError(
            f"checkpoint {path} cannot be read: {exc.strerror or exc}", hint="check the state folder's permissions"
        ) from None
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _corrupt(path, f"not valid JSON ({exc}); it may be truncated") from None
    if not isinstance(data, dict):
        raise _corrupt(path, "not a JSON object")
    if data.get("version") != VERSION:
        raise _corrupt(path, f"unknown version {data.get('version')!r} (this shopvisma reads version {VERSION})")
    cp = Checkpoint()
    bookmark = data.get("bookmark")
    if bookmark is not None:
        try:
            cp.bookmark = iso_z(str(bookmark))
        except ValueError:
            raise _corrupt(path, f"bookmark {bookmark!r} is not an ISO date-time") from None
    searched_at = data.get("searched_at")
    if searched_at is not None:
        try:
            cp.searched_at = iso_z(str(searched_at))
        except ValueError:  # only narrows a re-read: without it the pass falls back to the overlap
            cp.searched_at = None
    for name in _DICT_FIELDS:
        value = data.get(name, {})
        if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
            raise _corrupt(path, f"`{name}` is not an object of objects")
        setattr(cp, name, value)
    for name in _OPTIONAL_DICT_FIELDS:
        value = data.get(name)
        if value is not None and not isinstance(value, dict):
            raise _corrupt(path, f"`{name}` is not an object")
        setattr(cp, name, value)
    for name in _PAYOUT_MAPS:
        value = (cp.payouts or {}).get(name, {})
        if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
            raise _corrupt(path, f"`payouts.{name}` is not an object of objects")
    if not all(isinstance(v, dict) for v in (cp.write_back or {}).values()):
        raise _corrupt(path, "`write_back` is not an object of objects")
    known = {"version", "bookmark", "searched_at", *_DICT_FIELDS, *_OPTIONAL_DICT_FIELDS}
    cp.extra = {k: v for k, v in data.items() if k not in known}
    return cp


def save_checkpoint(path: Path, cp: Checkpoint, now: datetime | None = None) -> None:
    """Prune, then write atomically (a crash leaves the old or the new file, never half)."""
    prune(cp, now)
    text = json.dumps(
        checkpoint_to_json(cp), sort_keys=True, ensure_ascii=False, default=str, separators=(",", ":")
    )  # compact: the C encoder, ~3x faster on every pass
    atomic_write(Path(path), (text + "\n").encode("utf-8"), mode=0o600)
