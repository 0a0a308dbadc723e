"""The run log (runs.jsonl): one JSON line per pass, for `status` and for people.

Apart from the checkpoint because it lives differently: it is appended to, never
rewritten (a line torn by a crash is skipped on reading, not a corrupt file), and it is
rotated by size instead of pruned by age.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from shopvisma.state.files import state_paths

RUN_LOG_MAX_BYTES = 1_000_000


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
    """Every readable object line of `path`; a missing file is an empty log."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        return []
    out: list[dict[str, Any]] = []
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
