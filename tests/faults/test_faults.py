"""The fault-injection suite of issue 5, through real `shopvisma sync` processes.

Every case starts `python -m shopvisma sync --json` as a subprocess against the two
loopback sandboxes and breaks it for real: SIGKILL at the instant a write is committed
on the Visma side (the sandbox's `on_commit` hook runs after the save and before the
answer is sent), SIGKILL in the middle of a checkpoint write (a small bootstrap wraps
`os.open`/`os.write`/`os.replace` *in the child* and kills it from inside the write),
SIGKILL at random moments, two processes at once, 2-second access tokens with rotating
refresh tokens, a revoked grant, a forced crash. After each case the shop is synced
again and the Visma side is checked: every order exactly once, no duplicate customer or
article, a readable checkpoint. Every output a case produced (stdout, stderr, the log,
the run log, the checkpoint) is grepped for every secret the case used.

Each case prints one `FAULT-MATRIX {json}` line (pytest -s) with its measured counts;
docs/reliability.md quotes them.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from support.sandboxes import paid

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")

RUN_TIMEOUT = 60


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def doc(self) -> dict[str, Any]:
        return json.loads(self.stdout)


def _dead(pid: int) -> bool:
    """True once `pid` is gone or a zombie: SIGKILL is delivered, no more user code runs."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True
    except OSError:
        return False


def _kill_and_confirm(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while not _dead(pid) and time.monotonic() < deadline:
        time.sleep(0.001)


@dataclass
class Rig:
    """Both sandboxes (with random secrets), a config and a state dir, and a way to run
    the real CLI as a subprocess. Everything a run prints is kept for the leak grep."""

    shop: Any
    visma: Any
    tmp: Path
    config: Path
    state_dir: Path
    env: dict[str, str]
    outputs: list[tuple[str, str]] = field(default_factory=list)
    runs: int = 0
    kills: int = 0
    proc: subprocess.Popen[str] | None = None

    def command(self, *args: str, shim: Path | None = None) -> list[str]:
        head = [sys.executable, str(shim)] if shim else [sys.executable, "-m", "shopvisma"]
        return [*head, *args]

    def start(self, *args: str, env: dict[str, str] | None = None, shim: Path | None = None) -> subprocess.Popen[str]:
        self.runs += 1
        proc = subprocess.Popen(
            self.command(*args, shim=shim),
            env=env or self.env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
        )
        self.proc = proc
        return proc

    def finish(self, proc: subprocess.Popen[str], label: str, t0: float) -> Run:
        out, err = proc.communicate(timeout=RUN_TIMEOUT)
        self.outputs += [(f"{label} stdout", out), (f"{label} stderr", err)]
        return Run(proc.returncode, out, err, time.monotonic() - t0)

    def run(self, *args: str, env: dict[str, str] | None = None, shim: Path | None = None) -> Run:
        t0 = time.monotonic()
        proc = self.start(*args, env=env, shim=shim)
        return self.finish(proc, " ".join(args), t0)

    def sync(self, *extra: str, **kw: Any) -> Run:
        return self.run("sync", "--json", *extra, **kw)

    def kill_on_commit(self, method: str, prefix: str, nth: int) -> dict[str, int]:
        """SIGKILL the running client right after its `nth` matching write is saved."""
        seen = {"commits": 0, "killed": 0}

        def hook(m: str, path: str, body: dict[str, Any]) -> None:
            if m == method and path.startswith(prefix):
                seen["commits"] += 1
                if seen["commits"] == nth and self.proc is not None:
                    seen["killed"] += 1  # before the kill: the test thread wakes the moment it dies
                    self.kills += 1
                    _kill_and_confirm(self.proc.pid)

        self.visma.on_commit = hook
        return seen

    def add_orders(self, orders: list[dict[str, Any]], *, new: bool = False) -> list[str]:
        """`new`: the orders arrive now (updatedAt = the sandbox's now), as a real new order
        would after a pass; the seed's January dates would sit behind the bookmark."""
        for o in orders:
            self.shop.add_order(o)
            if new:
                self.shop.update_order(o["id"])
        return [o["name"] for o in orders]

    def set_workflow(self, workflow: str) -> None:
        text = self.config.read_text(encoding="utf-8")
        self.config.write_text(text.replace('workflow = "invoice-draft"', f'workflow = "{workflow}"'), encoding="utf-8")

    def secrets_used(self) -> set[str]:
        found = {
            self.visma.client_secret,
            self.shop.access_token,
            self.shop.client_secret,
            *self.visma.issued_secrets(),
            *self.shop.client_tokens,
        }
        tokens = self.state_dir / "tokens.json"
        if tokens.exists():
            for section in json.loads(tokens.read_text()).values():
                found |= {str(section.get(k)) for k in ("access_token", "refresh_token") if section.get(k)}
        return {s for s in found if s and len(s) >= 8}

    def written_files(self) -> list[tuple[str, str]]:
        """Every file the product writes that is not a secret store by design."""
        out = []
        for p in sorted(self.state_dir.rglob("*")):
            if (
                p.is_file()
                and p.name not in ("tokens.json", "secrets.json")
                and not p.name.startswith((".tokens.json", ".secrets.json"))
            ):
                out.append((str(p.relative_to(self.state_dir)), p.read_text(encoding="utf-8", errors="replace")))
        return out


def make_rig(tmp_path: Path, *, ttl: float = 3600.0) -> Rig:
    from shopvisma.sandbox.harness import sandbox_env, write_sandbox_config
    from shopvisma.sandbox.shopify.server import ShopifySandbox
    from shopvisma.sandbox.visma.server import VismaSandbox

    shop = ShopifySandbox(
        access_token="shpat_" + secrets.token_hex(16), client_secret="shss-" + secrets.token_urlsafe(18)
    ).start()
    visma = VismaSandbox(client_secret="vcs-" + secrets.token_urlsafe(18), access_token_ttl=ttl).start()
    config = write_sandbox_config(tmp_path / "config.toml", shop, visma)
    state_dir = tmp_path / "state"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOPVISMA_")}
    env.update(sandbox_env(shop, visma, state_dir, config))
    env["PYTHONUNBUFFERED"] = "1"
    return Rig(shop, visma, tmp_path, config, state_dir, env)


def leaks(rig: Rig) -> list[str]:
    found = []
    texts = rig.outputs + rig.written_files()
    for secret in rig.secrets_used():
        for label, text in texts:
            if secret in text:
                found.append(f"{secret[:6]}… in {label}")
    return found


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = make_rig(tmp_path)
    try:
        yield r
        assert not leaks(r), "a secret leaked into an output"
    finally:
        r.visma.release()
        r.shop.stop()
        r.visma.stop()


@dataclass
class Tally:
    duplicates: int
    missing: int
    duplicate_customers: int
    duplicate_articles: int


def visma_tally(rig: Rig, names: list[str]) -> Tally:
    """Exactly-once check on the Visma side, by reference, e-mail+currency and number."""
    docs = [*rig.visma.drafts.values(), *rig.visma.orders.values(), *rig.visma.invoices.values()]
    refs = Counter((d.get("YourReference") or "").strip() for d in docs)
    custs = Counter(
        ((c.get("EmailAddress") or "").strip().lower(), c.get("CurrencyCode") or "SEK")
        for c in rig.visma.customers.values()
    )
    arts = Counter((a.get("Number") or "").lower() for a in rig.visma.articles.values())
    return Tally(
        duplicates=sum(n - 1 for n in refs.values() if n > 1),
        missing=sum(1 for name in names if refs[name] == 0),
        duplicate_customers=sum(n - 1 for n in custs.values() if n > 1),
        duplicate_articles=sum(n - 1 for n in arts.values() if n > 1),
    )


def assert_converged(rig: Rig, names: list[str]) -> Tally:
    """Sync once more after the fault: exit 0, every order exactly once, a readable
    checkpoint with no intent left, and a further pass that writes nothing."""
    from shopvisma.state.checkpoint import load_checkpoint

    after = rig.sync()
    assert after.code == 0, after.stderr
    tally = visma_tally(rig, names)
    assert tally == Tally(0, 0, 0, 0), tally
    cp = load_checkpoint(rig.state_dir / "checkpoint.json")
    assert not cp.intents and not cp.pending
    writes = rig.visma.writes()
    again = rig.sync()
    assert again.code == 0 and again.doc["requests"]["visma_writes"] == 0
    assert rig.visma.writes() == writes
    return tally


def matrix(case: str, rig: Rig, *, faults: int, tally: Tally | None, **extra: Any) -> None:
    row = {
        "case": case,
        "faults": faults,
        "runs": rig.runs,
        "duplicates": (tally.duplicates + tally.duplicate_customers + tally.duplicate_articles) if tally else 0,
        "missing": tally.missing if tally else 0,
        **extra,
    }
    print("FAULT-MATRIX " + json.dumps(row, sort_keys=True))


# --------------------------------------------------------------------------- SIGKILL after each kind of write

KILL_POINTS = [
    ("customer", "invoice-draft", "/v2/customers", 1),
    ("customer", "invoice-draft", "/v2/customers", 3),
    ("article", "invoice-draft", "/v2/articles", 1),
    ("article", "invoice-draft", "/v2/articles", 4),
    ("draft", "invoice-draft", "/v2/customerinvoicedrafts", 1),
    ("draft", "invoice-draft", "/v2/customerinvoicedrafts", 4),
    ("order", "order", "/v2/orders", 1),
    ("order", "order", "/v2/orders", 4),
]


@pytest.mark.slow
@pytest.mark.parametrize("kind,workflow,prefix,nth", KILL_POINTS, ids=[f"{k}-{n}" for k, _, _, n in KILL_POINTS])
def test_sigkill_right_after_a_write_commits(rig: Rig, kind: str, workflow: str, prefix: str, nth: int) -> None:
    rig.set_workflow(workflow)
    names = rig.add_orders(paid(6, seed=2))
    seen = rig.kill_on_commit("POST", prefix, nth)
    killed = rig.sync()
    assert killed.code == -signal.SIGKILL and seen["killed"] == 1, (killed.code, seen, killed.stderr)
    rig.visma.on_commit = None
    tally = assert_converged(rig, names)
    matrix(f"sigkill after {kind} #{nth} commits", rig, faults=1, tally=tally)


@pytest.mark.slow
def test_sigkill_after_a_credit_draft_commits(rig: Rig) -> None:
    from shopvisma.sandbox.seed.orders import make_refund

    order = paid(1, seed=2)[0]
    rig.add_orders([order])
    assert rig.sync().code == 0
    rig.shop.add_refund(order["id"], make_refund(order, {order["lineItems"][0]["id"]: 1}))
    rig.sync()
    credits = [d for d in [*rig.visma.drafts.values(), *rig.visma.invoices.values()] if d.get("IsCreditInvoice")]
    assert len(credits) == 1, "the refund became no credit draft"
    second = paid(2, seed=5)[1]
    rig.add_orders([second])
    rig.shop.add_refund(second["id"], make_refund(second, {second["lineItems"][0]["id"]: 1}))
    rig.kill_on_commit("POST", "/v2/customerinvoicedrafts", 2)  # the order's draft, then its credit draft
    assert rig.sync().code == -signal.SIGKILL
    rig.visma.on_commit = None
    assert rig.sync().code == 0
    credits = Counter(d.get("YourReference") for d in rig.visma.drafts.values() if d.get("IsCreditInvoice"))
    assert all(n == 1 for n in credits.values()), credits


# --------------------------------------------------------------------------- SIGKILL inside a checkpoint write

SHIM = textwrap.dedent('''\
    """Run shopvisma, but SIGKILL this very process at one point of its Nth checkpoint write."""
    import os, runpy, signal, sys

    N, MODE = int(os.environ["FAULT_AT"]), os.environ["FAULT_MODE"]
    _open, _write, _replace = os.open, os.write, os.replace
    state = {"n": 0, "fd": None, "tmp": None}

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    def fault_open(path, flags, *args, **kw):
        fd = _open(path, flags, *args, **kw)
        name = os.path.basename(os.fspath(path))
        if name.startswith(".checkpoint.json.") and name.endswith(".tmp"):
            state["n"] += 1
            if state["n"] == N:
                state["fd"], state["tmp"] = fd, os.fspath(path)
        return fd

    def fault_write(fd, data):
        if fd == state["fd"] and MODE == "mid-write":
            _write(fd, bytes(data)[: max(1, len(data) // 2)])
            os.fsync(fd)
            die()
        return _write(fd, data)

    def fault_replace(src, dst, *args, **kw):
        hit = state["tmp"] is not None and os.fspath(src) == state["tmp"]
        if hit and MODE == "before-rename":
            die()
        result = _replace(src, dst, *args, **kw)
        if hit and MODE == "after-rename":
            die()
        return result

    os.open, os.write, os.replace = fault_open, fault_write, fault_replace
    sys.argv = ["shopvisma", *sys.argv[1:]]
    runpy.run_module("shopvisma", run_name="__main__", alter_sys=True)
''')

CHECKPOINT_POINTS = [("mid-write", 1), ("mid-write", 3), ("before-rename", 2), ("after-rename", 1), ("after-rename", 4)]


@pytest.mark.slow
@pytest.mark.parametrize("mode,nth", CHECKPOINT_POINTS, ids=[f"{m}-{n}" for m, n in CHECKPOINT_POINTS])
def test_sigkill_inside_a_checkpoint_write(rig: Rig, mode: str, nth: int) -> None:
    from shopvisma.state.checkpoint import load_checkpoint

    shim = rig.tmp / "fault_shim.py"
    shim.write_text(SHIM, encoding="utf-8")
    names = rig.add_orders(paid(5, seed=3))
    env = {**rig.env, "FAULT_AT": str(nth), "FAULT_MODE": mode}
    killed = rig.sync(env=env, shim=shim)
    assert killed.code == -signal.SIGKILL, killed.stderr
    rig.kills += 1
    torn = list(rig.state_dir.glob(".checkpoint.json.*.tmp"))
    if mode != "after-rename":
        assert torn, "the kill should have left the temp file behind"
    load_checkpoint(rig.state_dir / "checkpoint.json")  # old or new, never torn
    tally = assert_converged(rig, names)
    matrix(
        f"sigkill in checkpoint write ({mode}) #{nth}",
        rig,
        faults=1,
        tally=tally,
        stale_temp_files=len(list(rig.state_dir.glob(".checkpoint.json.*.tmp"))),
    )


@pytest.mark.slow
def test_sigkill_at_random_moments(rig: Rig) -> None:
    """N runs, each killed after a random delay; then one clean run must converge."""
    rng = random.Random(int(os.environ.get("FAULT_SEED", "5")))
    names = rig.add_orders(paid(40, seed=7))
    rig.visma.latency = 0.08  # ~3 s passes with 8 orders in flight, so random kills land all over them
    rig.shop.restore_rate = 10_000.0  # else later runs spend the window waiting for Shopify's bucket
    kills, finished, progress = 0, 0, []
    for _ in range(10):
        t0 = time.monotonic()
        proc = rig.start("sync", "--json")
        time.sleep(rng.uniform(0.15, 1.2))
        if proc.poll() is None:
            _kill_and_confirm(proc.pid)
            kills += 1
        else:
            finished += 1
        run = rig.finish(proc, "random-kill sync", t0)
        assert run.code in (-signal.SIGKILL, 0, 1), run.stderr
        from shopvisma.state.checkpoint import load_checkpoint

        load_checkpoint(rig.state_dir / "checkpoint.json")  # never torn, whenever the kill came
        progress.append(len(rig.visma.drafts))
    rig.kills += kills
    rig.visma.latency = 0.0
    all_names = sorted({o["name"] for o in rig.shop.orders.values()})
    assert all_names == sorted(names)
    tally = assert_converged(rig, all_names)
    assert len(set(progress)) > 2, f"the kills all landed at one point: {progress}"
    matrix(
        "sigkill at random moments",
        rig,
        faults=kills,
        tally=tally,
        finished_before_kill=finished,
        drafts_after_each_run=progress,
        orders=len(all_names),
        stale_temp_files=len(list(rig.state_dir.glob(".*.tmp"))),
    )


# --------------------------------------------------------------------------- corrupt checkpoint


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["truncated", "empty", "garbage", "wrong-version"])
def test_corrupt_checkpoint_exits_78_with_recovery_and_posts_nothing(rig: Rig, damage: str) -> None:
    names = rig.add_orders(paid(4, seed=4))
    assert rig.sync().code == 0
    cp = rig.state_dir / "checkpoint.json"
    text = cp.read_text(encoding="utf-8")
    cp.write_text(
        {
            "truncated": text[: len(text) // 2],
            "empty": "",
            "garbage": "\x00\x01{not json",
            "wrong-version": text.replace('"version":1', '"version":99'),
        }[damage],
        encoding="utf-8",
    )
    rig.add_orders(paid(6, seed=4)[4:], new=True)
    writes, shop_requests = rig.visma.writes(), len(rig.shop.requests)
    refused = rig.sync()
    assert refused.code == 78, refused.stderr
    assert f"mv '{cp}' '{cp}.bad'" in refused.stderr
    assert refused.doc["exit_code"] == 78 and "shopvisma sync" in refused.doc["hint"]
    assert rig.visma.writes() == writes and len(rig.shop.requests) == shop_requests, "it went on regardless"
    os.replace(cp, cp.with_name("checkpoint.json.bad"))  # the recovery command, as printed
    tally = assert_converged(rig, [*names, *[o["name"] for o in paid(6, seed=4)[4:]]])
    matrix(f"corrupt checkpoint ({damage})", rig, faults=1, tally=tally)


# --------------------------------------------------------------------------- overlap and stale lock


@pytest.mark.slow
def test_two_syncs_at_once_one_runs_the_other_exits_75(rig: Rig) -> None:
    names = rig.add_orders(paid(3, seed=9))
    rig.visma.inject_fault("GET", "/v2/customerinvoicedrafts", "hang")
    t0 = time.monotonic()
    procs = [rig.start("sync", "--json"), rig.start("sync", "--json")]
    assert rig.visma.hanging.wait(20), "neither run reached Visma"
    deadline = time.monotonic() + 20
    while all(p.poll() is None for p in procs) and time.monotonic() < deadline:
        time.sleep(0.02)
    loser = next(p for p in procs if p.poll() is not None)
    winner = next(p for p in procs if p is not loser)
    lost = rig.finish(loser, "overlapping sync", t0)
    assert lost.code == 75, lost.stderr
    assert "another shopvisma sync is running" in lost.stderr
    assert winner.poll() is None, "the winner is still held by the sandbox"
    rig.visma.release()
    won = rig.finish(winner, "holding sync", t0)
    assert won.code == 0, won.stderr
    tally = visma_tally(rig, names)
    assert tally == Tally(0, 0, 0, 0)
    matrix("two syncs at once", rig, faults=1, tally=tally, loser_seconds=round(lost.seconds, 2))


@pytest.mark.slow
def test_stale_lock_of_a_killed_run_does_not_block(rig: Rig) -> None:
    names = rig.add_orders(paid(3, seed=10))
    rig.visma.inject_fault("GET", "/v2/customerinvoicedrafts", "hang")
    t0 = time.monotonic()
    proc = rig.start("sync", "--json")
    assert rig.visma.hanging.wait(20)
    assert json.loads((rig.state_dir / "sync.lock.info").read_text())["pid"] == proc.pid
    _kill_and_confirm(proc.pid)
    rig.finish(proc, "killed lock holder", t0)
    rig.kills += 1
    rig.visma.release()
    assert (rig.state_dir / "sync.lock").exists() and (rig.state_dir / "sync.lock.info").exists()
    status = rig.run("status", "--json")
    assert status.code == 0 and status.doc["lock"]["held"] is False
    tally = assert_converged(rig, names)
    matrix("stale lock after sigkill", rig, faults=1, tally=tally)


# --------------------------------------------------------------------------- tokens


@pytest.mark.slow
def test_short_access_tokens_and_rotation_over_many_passes(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, ttl=2)
    try:
        env = {k: v for k, v in rig.env.items() if k != "SHOPVISMA_SHOPIFY_TOKEN"}
        stored = rig.run("login", "shopify", "--token", rig.shop.access_token, env=env)
        assert stored.code == 0, stored.stderr
        names = rig.add_orders(paid(10, seed=11))
        rig.visma.latency = 0.3  # the first pass (8 orders in flight) outlives its 2-second access token
        first = rig.sync(env=env)
        assert first.code == 0, first.stderr
        assert first.seconds > 2.5, f"pass took only {first.seconds:.1f} s"
        rig.visma.latency = 0.0
        extra = paid(16, seed=11)[10:]
        for i in range(3):
            time.sleep(2.1)  # the access token on disk is dead: the pass must rotate
            names += rig.add_orders(extra[i * 2 : i * 2 + 2], new=True)
            run = rig.sync(env=env)
            assert run.code == 0, run.stderr
        refreshes = sum(1 for m, p, s in rig.visma.requests if p == "/identity/connect/token" and s == 200)
        assert refreshes >= 5, refreshes
        assert rig.visma.grant_refusals() == 0, "a voided refresh token was sent again"
        for name in ("tokens.json", "secrets.json"):
            assert (rig.state_dir / name).stat().st_mode & 0o777 == 0o600, name
        assert not leaks(rig)
        tally = assert_converged(rig, names)
        matrix(
            "2 s access tokens, rotating refresh tokens",
            rig,
            faults=refreshes,
            tally=tally,
            refreshes=refreshes,
            grant_refusals=rig.visma.grant_refusals(),
        )
    finally:
        rig.shop.stop()
        rig.visma.stop()


@pytest.mark.slow
def test_revoked_grant_exits_77_with_login_hint(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, ttl=2)
    try:
        rig.add_orders(paid(2, seed=12))
        assert rig.sync().code == 0
        rig.visma.revoke_grant()
        time.sleep(2.1)
        rig.add_orders(paid(4, seed=12)[2:], new=True)
        writes = rig.visma.writes()
        run = rig.sync()
        assert run.code == 77, run.stderr
        assert "run: shopvisma login visma" in run.stderr
        assert run.doc["hint"] == "run: shopvisma login visma"
        assert rig.visma.writes() == writes
        assert (rig.state_dir / "tokens.json").stat().st_mode & 0o777 == 0o600
        assert not leaks(rig)
        matrix("revoked Visma grant", rig, faults=1, tally=None, exit_code=run.code)
    finally:
        rig.shop.stop()
        rig.visma.stop()


@pytest.mark.slow
@pytest.mark.parametrize("how", ["injected-401", "wrong-token"])
def test_shopify_401_exits_77_with_login_hint(rig: Rig, how: str) -> None:
    rig.add_orders(paid(2, seed=13))
    env = dict(rig.env)
    if how == "injected-401":
        rig.shop.inject_fault("401")
    else:
        env["SHOPVISMA_SHOPIFY_TOKEN"] = "shpat_" + secrets.token_hex(16)
        rig.outputs.append(("wrong token", ""))
    run = rig.sync(env=env)
    assert run.code == 77, run.stderr
    assert "run: shopvisma login shopify" in run.stderr
    assert run.doc["hint"] == "run: shopvisma login shopify"
    assert rig.visma.writes() == 0
    if how == "wrong-token":
        assert env["SHOPVISMA_SHOPIFY_TOKEN"] not in run.stdout + run.stderr
    matrix(f"Shopify 401 ({how})", rig, faults=1, tally=None, exit_code=run.code)


# --------------------------------------------------------------------------- secrets: -v, client credentials, a crash

BUG_SHIM = textwrap.dedent('''\
    """Run shopvisma with a bug in it: the first Visma document lookup raises (exit 70)."""
    import runpy, sys
    import shopvisma.engine.records

    def bug(*args, **kwargs):
        raise RuntimeError("an injected bug")

    shopvisma.engine.records.VismaRecords.lookup_documents = bug
    sys.argv = ["shopvisma", *sys.argv[1:]]
    runpy.run_module("shopvisma", run_name="__main__")
''')


def bug_shim(rig: Rig) -> Path:
    """A bug, not a fault of Visma's: anything Visma answers must end in 69, 77, 78 or 1."""
    shim = rig.tmp / "bug_shim.py"
    shim.write_text(BUG_SHIM, encoding="utf-8")
    return shim


@pytest.mark.slow
def test_no_secret_in_any_output_with_verbose_client_credentials_and_a_crash(rig: Rig) -> None:
    env = {k: v for k, v in rig.env.items() if k != "SHOPVISMA_SHOPIFY_TOKEN"}
    env["SHOPVISMA_SHOPIFY_CLIENT_ID"] = rig.shop.client_id
    env["SHOPVISMA_SHOPIFY_CLIENT_SECRET"] = rig.shop.client_secret
    names = rig.add_orders(paid(3, seed=14))
    assert rig.run("-v", "sync", "--json", env=env).code == 0
    rig.add_orders(paid(5, seed=14)[3:], new=True)
    crash = rig.run("-v", "sync", "--json", env=env, shim=bug_shim(rig))
    assert crash.code == 70, crash.stderr
    assert "internal error" in crash.stderr and crash.doc["exit_code"] == 70
    log = (rig.state_dir / "shopvisma.log").read_text(encoding="utf-8")
    assert "Traceback" in log
    quiet_crash = rig.run("sync", "--json", env=env, shim=bug_shim(rig))
    assert quiet_crash.code == 70 and "Traceback" not in quiet_crash.stderr
    rig.run("-v", "status", "--json", env=env)
    rig.run("dry-run", "--json", env=env)
    used = rig.secrets_used()
    assert rig.shop.client_secret in used and any(t.startswith("sbx-rt-") for t in used)
    found = leaks(rig)
    assert not found, found
    matrix(
        "secrets grep (-v, client credentials, crash)",
        rig,
        faults=1,
        tally=visma_tally(rig, names[:3]),
        secrets_checked=len(used),
        outputs_checked=len(rig.outputs) + len(rig.written_files()),
    )


@pytest.mark.slow
def test_every_output_of_a_faulty_series_is_secret_free(rig: Rig) -> None:
    """One rig through a kill, a hang-up after commit and a 500 after commit: grep all of it."""
    names = rig.add_orders(paid(6, seed=15))
    rig.kill_on_commit("POST", "/v2/customerinvoicedrafts", 2)
    assert rig.run("-v", "sync", "--json").code == -signal.SIGKILL
    rig.visma.on_commit = None
    rig.visma.inject_fault("POST", "/v2/customers", "timeout-after-commit")
    rig.visma.inject_fault("POST", "/v2/customerinvoicedrafts", "500-after-commit")
    rig.run("-v", "sync", "--json")
    tally = assert_converged(rig, names)
    found = leaks(rig)
    assert not found, found
    matrix("mixed faults + secrets grep", rig, faults=3, tally=tally)


@pytest.mark.slow
def test_crash_traceback_stays_in_the_log_file_with_verbose(rig: Rig) -> None:
    rig.add_orders(paid(2, seed=16))
    crash = rig.run("-v", "sync", "--json", shim=bug_shim(rig))
    assert crash.code == 70
    assert "Traceback" in (rig.state_dir / "shopvisma.log").read_text(encoding="utf-8")
    assert "Traceback" not in crash.stderr


@pytest.mark.slow
def test_a_list_answer_of_the_wrong_shape_is_unavailable_not_empty(rig: Rig) -> None:
    """Read as "no documents", a malformed lookup answer would create a second document."""
    names = rig.add_orders(paid(2, seed=16))
    rig.visma.inject_fault("GET", "/v2/customerinvoicedrafts", "garbage")
    run = rig.sync()
    assert run.code == 69, run.stderr
    assert rig.visma.writes() == 0 and "Traceback" not in run.stderr
    assert_converged(rig, names)
