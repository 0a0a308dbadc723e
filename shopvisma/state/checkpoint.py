"""The state dir: checkpoint, run log, and the atomic write they share (the run lock: lock.py).

The checkpoint is an optimisation and a progress report, not the source of truth:
documents are found in Visma by their reference (`YourReference` = order name), so a
lost checkpoint costs time, never a duplicate. That is why it can stay bounded (old
transfers are forgotten) and why a corrupt one is refused loudly instead of reset:
a silent reset with no go-live date would re-read the shop's whole history.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from shopvisma.errors import ConfigError

VERSION = 1
RECENT_MAX = 500
RECENT_DAYS = 30
RUN_LOG_MAX_BYTES = 1_000_000


@dataclass(frozen=True)
class StatePaths:
    checkpoint: Path
    tokens: Path
    secrets: Path
    lock: Path
    lock_info: Path
    run_log: Path
    log: Path


def state_paths(state_dir: Path) -> StatePaths:
    d = Path(state_dir)
    return StatePaths(
        checkpoint=d / "checkpoint.json",
        tokens=d / "tokens.json",
        secrets=d / "secrets.json",
        lock=d / "sync.lock",
        lock_info=d / "sync.lock.info",
        run_log=d / "runs.jsonl",
        log=d / "shopvisma.log",
    )


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # e.g. Windows: directories cannot be opened; rename is still atomic there
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write `data` so a reader sees the old or the new file, never a torn one, even after
    a power cut: temp file in the same folder (created with `mode`, never wider), fsync,
    rename over, fsync the folder so the rename itself is durable."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.urandom(6).hex()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), mode)
    try:
        try:
            os.fchmod(fd, mode)  # the umask may have narrowed it; never widens past `mode`
        except (AttributeError, OSError):
            pass
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


# ---------------------------------------------------------------- time helpers


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def iso(value: datetime | str) -> str:
    """UTC, whole seconds, `Z`: the form Shopify's search syntax and our files use."""
    dt = parse_iso(value) if isinstance(value, str) else value
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(value: str) -> datetime:
    dt = datetime.fromisoformat(value.strip())
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


# ---------------------------------------------------------------- checkpoint


@dataclass
class Checkpoint:
    """What the last passes did. Keyed by Shopify order name (e.g. "#1001")."""

    bookmark: str | None = None  # updated_at to resume from; never later than a run's start
    pending: dict[str, dict[str, Any]] = field(default_factory=dict)  # {id, updated_at, reason, field, attempts, first_seen, last_tried}
    intents: dict[str, dict[str, Any]] = field(default_factory=dict)  # {kind, started_at, order_id}: create in flight
    recent: dict[str, dict[str, Any]] = field(default_factory=dict)  # {document_id, kind, at}: bounded
    refunds_done: dict[str, dict[str, Any]] = field(default_factory=dict)  # refund id → {order_name, document_id, at}: bounded
    edited: dict[str, dict[str, Any]] = field(default_factory=dict)  # order changed after transfer → {was, now, at}: bounded
    last_run: dict[str, Any] | None = None
    visma_grant: dict[str, Any] | None = None  # {rotated_at}
    extra: dict[str, Any] = field(default_factory=dict, repr=False)  # unknown v1 keys, kept on rewrite


_DICT_FIELDS = ("pending", "intents", "recent", "refunds_done", "edited")
_OPTIONAL_DICT_FIELDS = ("last_run", "visma_grant")


def advance_bookmark(cp: Checkpoint, newest_seen: datetime | str | None, run_started: datetime | str) -> str | None:
    """Move the bookmark forward to the newest updated_at seen, capped at the run's start:
    an order updated during the pass, with an updated_at Shopify stamps before ours, must
    still be read next time. Never moves backwards."""
    if newest_seen is None:
        return cp.bookmark
    started = _as_dt(run_started)
    candidate = min(_as_dt(newest_seen), started)
    if cp.bookmark is not None:  # monotonic, but a bookmark from a skewed clock is pulled back
        candidate = max(candidate, min(parse_iso(cp.bookmark), started))
    cp.bookmark = iso(candidate)
    return cp.bookmark


def _as_dt(value: datetime | str) -> datetime:
    dt = parse_iso(value) if isinstance(value, str) else value
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def record_intent(cp: Checkpoint, order_name: str, kind: str, order_id: str, now: datetime | None = None) -> None:
    """Written (and saved) before a create, so a crash leaves a marker: look it up first."""
    cp.intents[order_name] = {"kind": kind, "started_at": iso(now or utc_now()), "order_id": order_id}


def clear_intent(cp: Checkpoint, order_name: str) -> None:
    cp.intents.pop(order_name, None)


def record_transfer(cp: Checkpoint, order_name: str, document_id: str, kind: str,
                    at: datetime | None = None) -> None:
    """The order is in Visma: forget its intent and pending entry, remember it briefly."""
    cp.recent[order_name] = {"document_id": document_id, "kind": kind, "at": iso(at or utc_now())}
    cp.intents.pop(order_name, None)
    cp.pending.pop(order_name, None)


def record_pending(cp: Checkpoint, order_name: str, order_id: str, updated_at: str | None, reason: str,
                   field_name: str = "", now: datetime | None = None) -> dict[str, Any]:
    stamp = iso(now or utc_now())
    entry = cp.pending.get(order_name) or {"first_seen": stamp, "attempts": 0}
    entry.update(id=order_id, updated_at=updated_at, reason=reason, field=field_name,
                 attempts=int(entry.get("attempts", 0)) + 1, last_tried=stamp)
    cp.pending[order_name] = entry
    return entry


def record_refund(cp: Checkpoint, refund_id: str, order_name: str, document_id: str,
                  at: datetime | None = None) -> None:
    cp.refunds_done[refund_id] = {"order_name": order_name, "document_id": document_id, "at": iso(at or utc_now())}


_CANONICAL = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def prune(cp: Checkpoint, now: datetime | None = None) -> None:
    """Bound the history maps (500 entries / 30 days) so the file never grows with the shop."""
    cutoff = (now or utc_now()) - timedelta(days=RECENT_DAYS)
    cut = iso(cutoff)
    for name in ("recent", "refunds_done", "edited"):
        entries: dict[str, dict[str, Any]] = getattr(cp, name)
        dated: list[tuple[Any, str, dict[str, Any]]] = []
        for key, value in entries.items():
            at = value.get("at")
            if isinstance(at, str) and _CANONICAL.fullmatch(at):  # our own iso(): sorts as text (fast;
                if at >= cut:                                     # this runs on every save)
                    dated.append((at, key, value))
                continue
            try:
                when = iso(parse_iso(str(at)))
            except (ValueError, TypeError):
                continue
            if when >= cut:
                dated.append((when, key, value))
        dated.sort(key=lambda item: item[0])
        setattr(cp, name, {key: value for _, key, value in dated[-RECENT_MAX:]})


def checkpoint_to_json(cp: Checkpoint) -> dict[str, Any]:
    data: dict[str, Any] = dict(cp.extra)
    data.update(version=VERSION, bookmark=cp.bookmark, pending=cp.pending, intents=cp.intents,
                recent=cp.recent, refunds_done=cp.refunds_done, edited=cp.edited, last_run=cp.last_run, visma_grant=cp.visma_grant)
    return data


def _corrupt(path: Path, what: str) -> ConfigError:
    return ConfigError(
        f"checkpoint {path} is unreadable: {what}",
        hint=(f"move it aside (mv '{path}' '{path}.bad') and run `shopvisma sync`: orders already in Visma "
              "are found there by their reference, so nothing is created twice"),
    )


def load_checkpoint(path: Path) -> Checkpoint:
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Checkpoint()
    except OSError as exc:
        raise ConfigError(f"checkpoint {path} cannot be read: {exc.strerror or exc}",
                          hint="check the state folder's permissions") from None
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
            cp.bookmark = iso(str(bookmark))
        except ValueError:
            raise _corrupt(path, f"bookmark {bookmark!r} is not an ISO date-time") from None
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
    known = {"version", "bookmark", *_DICT_FIELDS, *_OPTIONAL_DICT_FIELDS}
    cp.extra = {k: v for k, v in data.items() if k not in known}
    return cp


def save_checkpoint(path: Path, cp: Checkpoint, now: datetime | None = None) -> None:
    prune(cp, now)
    text = json.dumps(checkpoint_to_json(cp), sort_keys=True, ensure_ascii=False, default=str,
                      separators=(",", ":"))  # compact: the C encoder, ~3x faster on every pass
    atomic_write(Path(path), (text + "\n").encode("utf-8"), mode=0o600)


# ---------------------------------------------------------------- run log


def append_run_log(state_dir: Path, record: dict[str, Any]) -> None:
    """One JSON line per pass; rotated at ~1 MB so years of 5-minute runs stay small."""
    path = state_paths(state_dir).run_log
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    line = (json.dumps(record, ensure_ascii=False, default=str, separators=(",", ":")) + "\n").encode("utf-8")
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        size = 0
    if size and size + len(line) > RUN_LOG_MAX_BYTES:
        os.replace(path, path.with_name(path.name + ".1"))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        return []
    out = []
    for line in lines:
        try:
            item = json.loads(line)
        except ValueError:
            continue  # a line torn by a crash: skip it, keep the rest
        if isinstance(item, dict):
            out.append(item)
    return out


def last_runs(state_dir: Path, n: int = 10) -> list[dict[str, Any]]:
    """The last `n` run records, oldest first (the last element is the latest run)."""
    if n <= 0:
        return []
    path = state_paths(state_dir).run_log
    runs = _read_jsonl(path)
    if len(runs) < n:
        runs = _read_jsonl(path.with_name(path.name + ".1")) + runs
    return runs[-n:]
