"""What a finished (or aborted) pass leaves behind: `last_run` in the checkpoint and a
line in the run log.

Kept in state/ so that the checkpoint is only ever changed by the state and engine
layers; the `sync` command calls this once per pass, after the pass itself.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shopvisma.state.checkpoint import Checkpoint, save_checkpoint
from shopvisma.state.files import state_paths
from shopvisma.state.runlog import append_run_log
from shopvisma.timefmt import iso_z, utc_now

if TYPE_CHECKING:
    from shopvisma.engine.outcomes import PassResult
    from shopvisma.errors import ShopvismaError


def record_run(
    state_dir: Path, checkpoint: Checkpoint, result: PassResult | None, error: ShopvismaError | None, started: float
) -> None:
    """Exactly one of `result` (the pass ended) or `error` (it was cut short); `started` is
    a time.monotonic() reading, so the duration survives a wall-clock jump."""
    record: dict[str, Any] = {
        "time": iso_z(utc_now()),
        "duration_s": round(time.monotonic() - started, 3),
    }
    if result is not None:
        record.update(
            exit_code=int(result.exit_code),
            counts=result.counts,
            requests={
                "shopify": result.shopify_requests,
                "visma": result.visma_requests,
                "visma_writes": result.visma_writes,
            },
            failed=[o.name for o in result.outcomes if o.status == "failed"],
        )
    else:
        assert error is not None
        record.update(exit_code=int(error.exit_code), error=error.message)
    checkpoint.last_run = record
    save_checkpoint(state_paths(state_dir).checkpoint, checkpoint)
    append_run_log(state_dir, record)
