"""Payout vouchers under real faults, through `python -m shopvisma sync` subprocesses (issue #14):
SIGKILL the instant a voucher is committed in Visma (the sandbox's `on_commit` hook runs after
the save, before the answer), an answer lost after the commit, a refused write, a lost
checkpoint, two runs at once. After each: every PAID payout has exactly one voucher."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from shopvisma.mapping.voucher import payout_id_in
from shopvisma.sandbox.seed.payouts import seed_payouts
from support.sandboxes import paid

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")

PAYOUTS = 'bank_account = "1930"\nclearing_account = "1580"\nfees_account = "6570"'
TIMEOUT = 60


@dataclass
class Rig:
    shop: Any
    visma: Any
    state_dir: Path
    env: dict[str, str]
    proc: subprocess.Popen[str] | None = None

    def start(self) -> subprocess.Popen[str]:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "shopvisma", "sync", "--json"],
            env=self.env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
        )
        return self.proc

    def sync(self) -> tuple[int, str, str]:
        proc = self.start()
        out, err = proc.communicate(timeout=TIMEOUT)
        return proc.returncode, out, err

    def kill_on_commit(self, nth: int) -> dict[str, int]:
        seen = {"commits": 0, "killed": 0}

        def hook(method: str, path: str, body: dict[str, Any]) -> None:
            if method == "POST" and path.startswith("/v2/vouchers"):
                seen["commits"] += 1
                if seen["commits"] == nth and self.proc is not None:
                    seen["killed"] += 1
                    os.kill(self.proc.pid, signal.SIGKILL)
                    deadline = time.monotonic() + 5
                    while self.proc.poll() is None and time.monotonic() < deadline:
                        time.sleep(0.001)

        self.visma.on_commit = hook
        return seen

    def wanted(self) -> set[str]:
        return {
            p["legacyResourceId"]
            for p in self.shop.payouts.payouts.values()
            if p["status"] == "PAID" and p["issuedAt"] >= "2026-01-01"
        }

    def vouchers(self) -> Counter[str]:
        return Counter(payout_id_in(v["VoucherText"]) or "?" for v in self.visma.ledger.vouchers.values())


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    from shopvisma.sandbox.harness import sandbox_env, start_sandboxes, write_sandbox_config

    shop, visma = start_sandboxes([])
    try:
        config = write_sandbox_config(tmp_path / "config.toml", shop, visma, payouts=PAYOUTS)
        seed_payouts(shop.payouts, paid(120, seed=11))
        env = {k: v for k, v in os.environ.items() if not k.startswith("SHOPVISMA_")}
        env.update(sandbox_env(shop, visma, tmp_path / "state", config), PYTHONUNBUFFERED="1")
        yield Rig(shop, visma, tmp_path / "state", env)
    finally:
        visma.on_commit = None
        shop.stop()
        visma.stop()


def converged(rig: Rig) -> None:
    """One more pass: exit 0, every PAID payout exactly once, no intent left; then zero writes."""
    from shopvisma.state.checkpoint import load_checkpoint

    code, out, err = rig.sync()
    assert code == 0, err
    counts = rig.vouchers()
    assert set(counts) == rig.wanted() and all(n == 1 for n in counts.values()), counts
    cp = load_checkpoint(rig.state_dir / "checkpoint.json")
    assert not (cp.payouts or {}).get("intents") and not [
        p for p in (cp.payouts or {}).get("pending", {}).values() if not p.get("waiting")
    ]
    writes = rig.visma.writes()
    code, out, _ = rig.sync()
    assert code == 0 and json.loads(out)["requests"]["visma_writes"] == 0 and rig.visma.writes() == writes


@pytest.mark.parametrize("nth", [1, 3])
def test_sigkill_right_after_a_voucher_commits(rig: Rig, nth: int) -> None:
    assert len(rig.wanted()) > 3
    seen = rig.kill_on_commit(nth)
    code, _, _ = rig.sync()
    assert code == -signal.SIGKILL and seen["killed"] == 1
    rig.visma.on_commit = None
    assert len(rig.visma.ledger.vouchers) == nth  # committed, the answer never read
    converged(rig)


def test_sigkill_then_a_lost_checkpoint(rig: Rig) -> None:
    rig.kill_on_commit(2)
    assert rig.sync()[0] == -signal.SIGKILL
    rig.visma.on_commit = None
    (rig.state_dir / "checkpoint.json").unlink()
    converged(rig)


@pytest.mark.parametrize("kind", ["timeout-after-commit", "500-after-commit"])
def test_an_answer_lost_after_the_commit_is_found_not_reposted(rig: Rig, kind: str) -> None:
    rig.visma.inject_fault("POST", "/vouchers", kind, times=2)
    code, out, err = rig.sync()
    assert code == 0, err
    doc = json.loads(out)
    assert all(p["status"] in ("booked", "waiting") for p in doc["payouts"]), doc["payouts"]
    converged(rig)


def test_a_write_that_was_not_made_is_retried_next_pass(rig: Rig) -> None:
    rig.visma.inject_fault("POST", "/vouchers", "500", times=1)
    code, out, _ = rig.sync()
    assert code == 1
    pending = [p for p in json.loads(out)["payouts"] if p["status"] == "pending"]
    assert len(pending) == 1 and "not made" in pending[0]["reason"]
    converged(rig)


def test_two_syncs_at_once_book_each_payout_once(rig: Rig) -> None:
    first, second = rig.start(), None
    try:
        second = subprocess.Popen(
            [sys.executable, "-m", "shopvisma", "sync", "--json"],
            env=rig.env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
        )
        codes = sorted(p.wait(timeout=TIMEOUT) for p in (first, second))
    finally:
        for p in (first, second):
            if p is not None:
                p.communicate(timeout=TIMEOUT)
    assert codes in ([0, 0], [0, 75]), codes
    converged(rig)
