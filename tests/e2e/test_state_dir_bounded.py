"""A year of cron passes leaves a state dir under 10 MB (issue 15), from what real passes write.

tests/unit/state/test_disk_bound.py drives the logger, the run log and the checkpoint with
invented records. Here the records are the product's own: real `sync --json` passes against
the sandboxes (a busy one that transfers orders, then idle ones, at `[sync] log_level =
"debug"`, the most a pass logs) are measured file by file; then their log records and run
records are replayed through the same handlers for 10,000 passes (a busy pass every 100th),
and the checkpoint's history is filled to its cap with the real pass's own entries. Replaying
costs a second or two; 10,000 real passes would take an hour. 10,000 passes are ~35 days of
a 5-minute cron; the bound that holds for any number is asserted from the files' caps.

The per-pass figures printed are the ones docs/scheduling.md ("Disk use") states.
"""

from __future__ import annotations

import io
import json
import logging
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shopvisma.console import LOG_BACKUPS, LOG_MAX_BYTES, Console
from shopvisma.state.checkpoint import RECENT_MAX, load_checkpoint, save_checkpoint
from shopvisma.state.files import state_paths
from shopvisma.state.runlog import RUN_LOG_MAX_BYTES, append_run_log, last_runs
from support.sandboxes import paid

PASSES = 10_000
BUSY_EVERY = 100  # one pass in a hundred transfers orders; the rest are idle (a 5-minute cron)
STATE_DIR_BOUND = 10_000_000
_RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (?P<level>[A-Z]+) (?P<name>[\w.]+): (?P<msg>.*)$")


@pytest.fixture(autouse=True)
def _close_log_handlers() -> Iterator[None]:
    """The CLI and the replay attach handlers to the process-wide "shopvisma" logger."""
    yield
    logger = logging.getLogger("shopvisma")
    logger.propagate = True
    for h in list(logger.handlers):
        logger.removeHandler(h)
        h.close()


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _pass(world: Any) -> dict[str, int]:
    """One real pass; the bytes it added to the log and the run log."""
    paths = state_paths(world.state_dir)
    before = {"log": _size(paths.log), "runs": _size(paths.run_log)}
    code, doc = world.sync_json()
    assert code == 0, doc
    return {k: _size(p) - before[k] for k, p in (("log", paths.log), ("runs", paths.run_log))}


def _records(text: str) -> list[tuple[str, int, str]]:
    """(logger name, level, message) of each record in a slice of shopvisma.log."""
    out: list[tuple[str, int, str]] = []
    for line in text.splitlines():
        m = _RECORD.match(line)
        if m:
            out.append((m["name"], logging.getLevelNamesMapping()[m["level"]], m["msg"]))
        elif out:  # a traceback's continuation lines belong to the record before
            name, level, msg = out[-1]
            out[-1] = (name, level, f"{msg}\n{line}")
    return out


def _tail(path: Path, offset: int) -> str:
    with open(path, encoding="utf-8") as fh:
        fh.seek(offset)
        return fh.read()


def test_10000_passes_of_real_records_stay_under_10_mb(world: Any, tmp_path: Path) -> None:
    world.write_config(sync='log_level = "debug"')
    paths = state_paths(world.state_dir)
    for o in paid(20, seed=15):
        world.shop.add_order(o)
    busy = _pass(world)
    busy_log = _tail(paths.log, 0)
    busy_run = paths.run_log.read_text(encoding="utf-8")
    idle = [_pass(world) for _ in range(2)]
    idle_at = _size(paths.log)
    idle.append(_pass(world))
    idle_log = _tail(paths.log, idle_at)  # the last idle pass's records
    idle_run = paths.run_log.read_text(encoding="utf-8").splitlines()[-1]
    per_entry = len(json.dumps(load_checkpoint(paths.checkpoint).recent)) / 20
    world.write_config()  # the default level: an idle pass writes nothing to the log
    at_info = _pass(world)
    for o in paid(20, seed=16):
        world.shop.add_order(o)
    busy_at_info = _pass(world)
    print(
        f"\nper pass: busy (20 orders) log {busy['log']} B at DEBUG, {busy_at_info['log']} B at INFO, run log "
        f"{busy['runs']} B; idle at DEBUG log {[p['log'] for p in idle]} B, run log {[p['runs'] for p in idle]} B; "
        f"idle at INFO log {at_info['log']} B; checkpoint {per_entry:.0f} B per order in `recent`"
    )
    assert at_info["log"] == 0
    # docs/scheduling.md ("Disk use") states these per-pass figures: keep it in step if they move.
    assert 0 < idle[-1]["log"] < 150, "an idle pass at DEBUG: ~90 bytes (one line per request)"
    assert idle[-1]["runs"] < 250, "a run record: ~140 bytes"
    assert per_entry < 250, "the checkpoint: ~150 bytes per order transferred in the last 30 days"

    # Replay 10,000 passes into a copy of this state dir: the real checkpoint, tokens, observations.
    state = tmp_path / "year"
    shutil.copytree(world.state_dir, state, ignore=shutil.ignore_patterns("sync.lock*"))
    for name in ("shopvisma.log", "runs.jsonl"):
        (state / name).unlink()
    Console(stderr=io.StringIO()).setup_logging(state, level="debug")
    logging.getLogger("shopvisma").propagate = False  # not into caplog: 10,000 passes of records
    busy_records, idle_records = _records(busy_log), _records(idle_log)
    assert idle_records and len(busy_records) > len(idle_records)
    busy_record = json.loads(busy_run.splitlines()[0])
    idle_record = json.loads(idle_run)
    for n in range(PASSES):
        busy_pass = n % BUSY_EVERY == 0
        for name, level, msg in busy_records if busy_pass else idle_records:
            logging.getLogger(name).log(level, "%s", msg)
        append_run_log(state, {**(busy_record if busy_pass else idle_record), "pass": n})
    logging.getLogger("shopvisma").info("the last pass ends")
    for h in logging.getLogger("shopvisma").handlers:
        h.flush()

    # The checkpoint's history at its cap, entry for entry like the real pass's.
    cp_path = state / "checkpoint.json"
    cp = load_checkpoint(cp_path)
    template = list(cp.recent.values())
    cp.recent = {f"#{100_000 + i}": dict(template[i % len(template)]) for i in range(RECENT_MAX)}
    save_checkpoint(cp_path, cp, now=None)

    sizes = {p.name: p.stat().st_size for p in state.iterdir() if p.is_file()}
    total = sum(sizes.values())
    print(f"state dir after {PASSES} passes: {sizes}, total {total / 1e6:.2f} MB")

    # 10,000 passes are ~35 days of a 5-minute cron: the log has rotated but not yet filled its
    # backups (tests/unit/state/test_disk_bound.py drives every file to its bound).
    logs = sorted(n for n in sizes if n.startswith("shopvisma.log"))
    assert "shopvisma.log.1" in logs and len(logs) <= LOG_BACKUPS + 1, logs
    assert all(sizes[n] <= LOG_MAX_BYTES + 8_000 for n in logs), sizes  # one record (a busy pass's) past it at most
    assert (state / "shopvisma.log").read_text(encoding="utf-8").rstrip().endswith("the last pass ends")
    assert sizes["runs.jsonl"] <= RUN_LOG_MAX_BYTES and sizes["runs.jsonl.1"] <= RUN_LOG_MAX_BYTES
    assert not (state / "runs.jsonl.2").exists()
    assert [r["pass"] for r in last_runs(state, 2)] == [PASSES - 2, PASSES - 1]
    assert len(load_checkpoint(cp_path).recent) == RECENT_MAX
    assert sizes["checkpoint.json"] < 250_000  # docs/scheduling.md: ~250 kB with every map full
    assert total < STATE_DIR_BOUND
    # And for any number of passes: every log at its bound, the checkpoint's maps full.
    others = sum(v for k, v in sizes.items() if not k.startswith(("shopvisma.log", "runs.jsonl", "checkpoint")))
    worst = (LOG_BACKUPS + 1) * (LOG_MAX_BYTES + 8_000) + 2 * RUN_LOG_MAX_BYTES + 250_000 + others
    assert worst < STATE_DIR_BOUND, worst
