"""The state dir stays bounded however long cron runs `sync` (issue 15).

No real sync: the logger, the run log and the checkpoint are driven directly with 10,000
passes' worth of records, each pass writing more than a real one does (a DEBUG log, a
failed order now and then, a busy shop's transfers), on a fake clock five minutes apart.
Every bounded file is asserted to have *reached* its bound, so the figures hold for any
number of passes after that: they are what docs/scheduling.md ("Disk use") states.
"""

from __future__ import annotations

import io
import logging
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shopvisma.console import LOG_BACKUPS, LOG_MAX_BYTES, Console
from shopvisma.state import observations
from shopvisma.state.checkpoint import (
    RECENT_MAX,
    Checkpoint,
    record_pending,
    record_refund,
    record_transfer,
    save_checkpoint,
)
from shopvisma.state.files import state_paths
from shopvisma.state.runlog import RUN_LOG_MAX_BYTES, append_run_log, last_runs
from shopvisma.state.secrets import TokenFile
from shopvisma.timefmt import iso_z

PASSES = 10_000
STATE_DIR_BOUND = 10_000_000  # the figure for the whole state dir
T0 = datetime(2026, 1, 1, tzinfo=UTC)
EVERY = timedelta(minutes=5)
log = logging.getLogger("shopvisma.engine.sync_pass")


@pytest.fixture(autouse=True)
def _close_log_handlers() -> Iterator[None]:
    """setup_logging attaches to the process-wide "shopvisma" logger: leave it as found."""
    yield
    logger = logging.getLogger("shopvisma")
    for h in list(logger.handlers):
        logger.removeHandler(h)
        h.close()


def _flush() -> None:
    for h in logging.getLogger("shopvisma").handlers:
        h.flush()


def _log_passes(state_dir: Path, passes: int = PASSES) -> None:
    """What `sync` logs at DEBUG (`[sync] log_level = "debug"`), more than an idle pass
    (~600 bytes: request lines, a token rotation) and every 100th pass a warning and a
    traceback. Few, long records: the bytes are what count, and logging costs per record."""
    Console(stderr=io.StringIO()).setup_logging(state_dir, level="debug")
    path = "customerinvoicedrafts?$filter=YourReference%20eq%20%27%231001%27&$pagesize=1000"
    for n in range(passes):
        log.debug("Shopify POST graphql -> 200 (pass %d); Shopify POST graphql -> 200; cost 12 of 1000 (100/s)", n)
        log.debug("Visma GET /%s -> 200; GET /%s -> 200; GET /%s -> 200 (pass %d)", path, path, path, n)
        log.info("Visma tokens rotated (pass %d)", n)
        if n % 100 == 0:
            log.warning("#%d: Visma's total is 0.01 off the prediction; aiming the rows at it", 1000 + n)
            try:
                raise RuntimeError(f"an injected bug in pass {n}")
            except RuntimeError:
                log.exception("internal error")
    log.info("the last pass ends")
    _flush()


def _run_records(state_dir: Path, passes: int = PASSES) -> None:
    """One runs.jsonl line per pass, shaped as state/run_record.py writes it."""
    for n in range(passes):
        append_run_log(
            state_dir,
            {
                "time": iso_z(T0 + n * EVERY),
                "duration_s": 0.412,
                "exit_code": 1 if n % 10 == 0 else 0,
                "counts": {"created": 3, "exists": 12, "failed": 1 if n % 10 == 0 else 0, "refunded": 0},
                "requests": {"shopify": 2, "visma": 9, "visma_writes": 3},
                "failed": [f"#{1000 + n}"] if n % 10 == 0 else [],
                "pass": n,
            },
        )


def _checkpoint_passes(state_dir: Path, passes: int = PASSES) -> Checkpoint:
    """A busy shop: three transfers a pass, a refund every 10th, an edit every 50th, and 30
    orders that keep failing. Saved (which prunes) every 100th pass, so the test stays fast;
    pruning is idempotent, so the file is the same as with a save per pass."""
    cp = Checkpoint(bookmark=iso_z(T0))
    path = state_paths(state_dir).checkpoint
    for n in range(passes):
        now = T0 + n * EVERY
        for k in range(3):
            record_transfer(cp, f"#{10_000 + 3 * n + k}", str(uuid.UUID(int=3 * n + k)), "invoice", at=now)
        if n % 10 == 0:
            record_refund(cp, f"gid://shopify/Refund/{n}", f"#{10_000 + 3 * n}", str(uuid.UUID(int=n)), at=now)
        if n % 50 == 0:
            cp.edited[f"#{10_000 + 3 * n}"] = {"was": "100.00", "now": "90.00", "at": iso_z(now)}
        record_pending(cp, f"#{n % 30}", f"gid://shopify/Order/{n % 30}", iso_z(now), "no e-mail", "email", now=now)
        cp.bookmark = iso_z(now)
        if n % 100 == 99:
            save_checkpoint(path, cp, now=now)
    return cp


def _sizes(state_dir: Path) -> dict[str, int]:
    return {p.name: p.stat().st_size for p in state_dir.iterdir() if p.is_file()}


def test_10000_passes_leave_a_state_dir_under_10_mb(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    _log_passes(state_dir)
    _run_records(state_dir)
    cp = _checkpoint_passes(state_dir)
    TokenFile(state_paths(state_dir).tokens).update(
        "visma", {"access_token": "a" * 1200, "refresh_token": "r" * 64, "expires_at": 1.0, "rotated_at": "x"}
    )
    observations.save(state_dir, observations.Observations(vat_rate_scale="percent", by="sync"))
    sizes = _sizes(state_dir)
    print("\nstate dir after", PASSES, "passes:", sizes, "total", sum(sizes.values()))

    # The log reached its bound and rotated: four files of at most ~1 MB, nothing older kept.
    logs = sorted(n for n in sizes if n.startswith("shopvisma.log"))
    assert logs == ["shopvisma.log", *(f"shopvisma.log.{i}" for i in range(1, LOG_BACKUPS + 1))]
    slack = 4_000  # the size is checked after a write, so a file may end one record (a traceback) past it
    assert all(sizes[n] <= LOG_MAX_BYTES + slack for n in logs), sizes
    assert sum(sizes[n] for n in logs) > LOG_BACKUPS * LOG_MAX_BYTES  # full files, not many small ones
    text = (state_dir / "shopvisma.log").read_text(encoding="utf-8")
    assert text.rstrip().endswith("the last pass ends")  # the newest records are never the ones lost
    oldest = (state_dir / f"shopvisma.log.{LOG_BACKUPS}").read_text(encoding="utf-8")
    assert "(pass 0)" not in oldest and "DEBUG" in oldest

    # runs.jsonl rotated once to runs.jsonl.1; `status` still reads the latest passes.
    assert sizes["runs.jsonl"] <= RUN_LOG_MAX_BYTES and sizes["runs.jsonl.1"] <= RUN_LOG_MAX_BYTES
    assert sizes["runs.jsonl"] + sizes["runs.jsonl.1"] > RUN_LOG_MAX_BYTES
    assert not (state_dir / "runs.jsonl.2").exists()
    assert [r["pass"] for r in last_runs(state_dir, 3)] == [PASSES - 3, PASSES - 2, PASSES - 1]

    # The checkpoint's history maps hit their cap; pending is one entry per waiting order.
    assert len(cp.recent) == RECENT_MAX and len(cp.refunds_done) <= RECENT_MAX and len(cp.pending) == 30
    assert sizes["checkpoint.json"] < 250_000

    assert sum(sizes.values()) < STATE_DIR_BOUND


@pytest.mark.parametrize(
    ("verbose", "level", "debug_in_file"),
    [(False, None, False), (False, "info", False), (True, None, True), (False, "debug", True), (True, "info", True)],
    ids=["default", "log_level-info", "-v", "log_level-debug", "-v-beats-info"],
)
def test_the_file_is_info_unless_v_or_log_level_debug(
    tmp_path: Path, verbose: bool, level: str | None, debug_in_file: bool
) -> None:
    stderr = io.StringIO()
    Console(verbose=verbose, stderr=stderr).setup_logging(tmp_path, level=level)
    log.debug("Visma GET /customers -> 200")
    log.info("bulk operation 1 completed: 3 objects")
    _flush()
    text = (tmp_path / "shopvisma.log").read_text(encoding="utf-8")
    assert " INFO shopvisma.engine.sync_pass: bulk operation 1 completed" in text
    assert (" DEBUG " in text) is debug_in_file
    assert "DEBUG" not in stderr.getvalue()  # -v on stderr stays at INFO: cron may mail it


def test_an_idle_pass_at_info_writes_no_log_file(tmp_path: Path) -> None:
    Console().setup_logging(tmp_path)
    log.debug("Shopify POST graphql -> 200")
    _flush()
    assert not (tmp_path / "shopvisma.log").exists()


def test_a_read_only_command_flushes_only_records_at_the_file_level(tmp_path: Path) -> None:
    Console().setup_logging(tmp_path, persist=False)
    log.debug("Visma GET /customers -> 200")
    log.error("the pass could not run")
    _flush()
    text = (tmp_path / "shopvisma.log").read_text(encoding="utf-8")
    assert "the pass could not run" in text and "DEBUG" not in text


def test_logging_handlers_is_imported_only_when_a_log_file_is_full(tmp_path: Path) -> None:
    """An idle pass must not import logging.handlers (tests/test_import_budget.py); a full
    file (here an old, unrotated 1.5 MB log from before the bound) is rolled on the first write."""
    (tmp_path / "shopvisma.log").write_bytes(b"old line\n" * 170_000)
    script = textwrap.dedent(f"""\
        import logging, sys
        from pathlib import Path
        from shopvisma.console import Console
        assert "logging.handlers" not in sys.modules
        Console().setup_logging(Path({str(tmp_path / "fresh")!r}))
        logging.getLogger("shopvisma").info("a small pass")
        assert "logging.handlers" not in sys.modules, "imported for a log that is not full"
        Console().setup_logging(Path({str(tmp_path)!r}))
        logging.getLogger("shopvisma").info("the first line after the upgrade")
        assert "logging.handlers" in sys.modules
        """)
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    assert (tmp_path / "shopvisma.log.1").stat().st_size > LOG_MAX_BYTES  # the old file, kept as .1
    assert (tmp_path / "shopvisma.log").stat().st_size < 1_000
    assert "a small pass" in (tmp_path / "fresh" / "shopvisma.log").read_text(encoding="utf-8")
