"""Checkpoint (atomic, versioned, bounded, loud when corrupt), run lock, run log."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from shopvisma.errors import ConfigError, ExitCode, LockedError
from shopvisma.state.checkpoint import (
    RECENT_MAX,
    Checkpoint,
    advance_bookmark,
    load_checkpoint,
    record_intent,
    record_pending,
    record_refund,
    record_transfer,
    save_checkpoint,
)
from shopvisma.state.files import state_paths
from shopvisma.state.lock import RunLock, lock_state
from shopvisma.state.runlog import append_run_log, last_runs

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=timezone.utc)


def test_state_paths(tmp_path: Path) -> None:
    p = state_paths(tmp_path)
    assert (p.checkpoint.name, p.tokens.name, p.secrets.name, p.lock.name, p.run_log.name, p.log.name) == (
        "checkpoint.json",
        "tokens.json",
        "secrets.json",
        "sync.lock",
        "runs.jsonl",
        "shopvisma.log",
    )
    assert all(x.parent == tmp_path for x in (p.checkpoint, p.tokens, p.lock))


def test_missing_checkpoint_is_fresh(tmp_path: Path) -> None:
    cp = load_checkpoint(tmp_path / "checkpoint.json")
    assert cp == Checkpoint()
    assert not (tmp_path / "checkpoint.json").exists()


def test_roundtrip_versioned_and_private(tmp_path: Path) -> None:
    path = tmp_path / "s" / "checkpoint.json"
    cp = Checkpoint()
    advance_bookmark(cp, "2026-03-01T11:00:00Z", T0)
    record_intent(cp, "#1002", "invoice-draft", "gid://shopify/Order/2", now=T0)
    record_pending(cp, "#1003", "gid://shopify/Order/3", "2026-03-01T10:00:00Z", "no e-mail", "email", now=T0)
    record_pending(
        cp,
        "#1003",
        "gid://shopify/Order/3",
        "2026-03-01T10:00:00Z",
        "no e-mail",
        "email",
        now=T0 + timedelta(minutes=5),
    )
    record_transfer(cp, "#1001", "doc-1", "invoice-draft", at=T0)
    record_refund(cp, "gid://shopify/Refund/9", "#1001", "credit-1", at=T0)
    cp.last_run = {"outcome": "ok", "created": 1}
    cp.visma_grant = {"rotated_at": "2026-03-01T12:00:00Z"}
    save_checkpoint(path, cp, now=T0)
    data = json.loads(path.read_text())
    assert data["version"] == 1
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = load_checkpoint(path)
    assert again == cp
    assert again.pending["#1003"]["attempts"] == 2
    assert again.pending["#1003"]["first_seen"] == "2026-03-01T12:00:00Z"
    assert again.pending["#1003"]["last_tried"] == "2026-03-01T12:05:00Z"
    assert again.intents["#1002"]["order_id"] == "gid://shopify/Order/2"
    record_transfer(again, "#1002", "doc-2", "invoice-draft", at=T0)
    assert "#1002" not in again.intents
    record_transfer(again, "#1003", "doc-3", "invoice-draft", at=T0)
    assert "#1003" not in again.pending
    assert [p.name for p in path.parent.iterdir()] == ["checkpoint.json"]


def test_bookmark_never_passes_run_start_and_never_goes_back() -> None:
    cp = Checkpoint()
    assert advance_bookmark(cp, None, T0) is None
    assert advance_bookmark(cp, T0 + timedelta(minutes=3), T0) == "2026-03-01T12:00:00Z"
    assert advance_bookmark(cp, "2026-03-01T10:00:00Z", T0 + timedelta(hours=1)) == "2026-03-01T12:00:00Z"
    assert advance_bookmark(cp, "2026-03-01T14:00:00+02:00", T0 + timedelta(hours=1)) == "2026-03-01T12:00:00Z"
    assert advance_bookmark(cp, "2026-03-01T12:30:00Z", T0 + timedelta(hours=1)) == "2026-03-01T12:30:00Z"
    started = datetime(2026, 3, 1, 12, 40, 0, 900000, tzinfo=timezone.utc)
    assert advance_bookmark(cp, "2026-03-02T00:00:00Z", started) == "2026-03-01T12:40:00Z"
    skewed = Checkpoint(bookmark="2030-01-01T00:00:00Z")  # written by a clock in the future
    assert advance_bookmark(skewed, "2026-03-01T10:00:00Z", T0) == "2026-03-01T12:00:00Z"


def test_history_is_bounded(tmp_path: Path) -> None:
    cp = Checkpoint()
    for i in range(RECENT_MAX + 300):
        record_transfer(cp, f"#{i}", f"doc-{i}", "invoice-draft", at=T0 - timedelta(minutes=i))
        record_refund(cp, f"r{i}", f"#{i}", f"credit-{i}", at=T0 - timedelta(minutes=i))
    record_transfer(cp, "#old", "doc-old", "invoice-draft", at=T0 - timedelta(days=31))
    path = tmp_path / "checkpoint.json"
    save_checkpoint(path, cp, now=T0)
    loaded = load_checkpoint(path)
    assert len(loaded.recent) == RECENT_MAX and len(loaded.refunds_done) == RECENT_MAX
    assert "#0" in loaded.recent and f"#{RECENT_MAX}" not in loaded.recent and "#old" not in loaded.recent
    size = path.stat().st_size
    for i in range(2000, 4000):
        record_transfer(loaded, f"#{i}", f"doc-{i}", "invoice-draft", at=T0)
    save_checkpoint(path, loaded, now=T0)
    assert path.stat().st_size < size * 1.2


@pytest.mark.parametrize(
    "content, what",
    [
        ("", "not valid JSON"),
        ('{"version": 1, "bookmark": "2026-03-01T1', "not valid JSON"),
        ("[]", "not a JSON object"),
        ('{"version": 2}', "unknown version"),
        ('{"bookmark": null}', "unknown version"),
        ('{"version": 1, "pending": []}', "pending"),
        ('{"version": 1, "bookmark": "soon"}', "bookmark"),
        ('{"version": 1, "last_run": 5}', "last_run"),
        (b"\xff\xfe", "not valid JSON"),
    ],
)
def test_corrupt_checkpoint_is_loud(tmp_path: Path, content: str | bytes, what: str) -> None:
    path = tmp_path / "checkpoint.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    before = path.read_bytes()
    with pytest.raises(ConfigError) as info:
        load_checkpoint(path)
    err = info.value
    assert err.exit_code == ExitCode.CONFIG
    assert str(path) in str(err) and what in str(err)
    assert "shopvisma sync" in err.hint and "mv" in err.hint
    assert path.read_bytes() == before  # never a silent reset


def test_truncated_checkpoint_from_a_real_write_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.json"
    cp = Checkpoint()
    record_transfer(cp, "#1", "doc", "invoice-draft", at=T0)
    save_checkpoint(path, cp, now=T0)
    data = path.read_bytes()
    for cut in (1, len(data) // 2, len(data) - 3):
        path.write_bytes(data[:cut])
        with pytest.raises(ConfigError):
            load_checkpoint(path)


def test_unknown_v1_keys_survive_a_rewrite(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.json"
    path.write_text('{"version": 1, "future_field": {"a": 1}}')
    save_checkpoint(path, load_checkpoint(path))
    assert json.loads(path.read_text())["future_field"] == {"a": 1}


def test_killed_mid_write_leaves_old_or_new(tmp_path: Path) -> None:
    """SIGKILL a process that rewrites the checkpoint in a loop; the file stays readable."""
    path = tmp_path / "checkpoint.json"
    code = textwrap.dedent(f"""
        import sys
        from shopvisma.state.checkpoint import Checkpoint, record_transfer, save_checkpoint
        cp = Checkpoint()
        for i in range(400):
            record_transfer(cp, f"#{{i}}", "d" * 200, "invoice-draft")
        save_checkpoint({str(path)!r}, cp)
        print("ready", flush=True)
        while True:
            record_transfer(cp, "#x", "d", "order")
            save_checkpoint({str(path)!r}, cp)
    """)
    for _ in range(3):
        proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert len(load_checkpoint(path).recent) >= 400


# ---------------------------------------------------------------- lock


def test_second_lock_fails_at_once_naming_the_holder(tmp_path: Path) -> None:
    assert lock_state(tmp_path)["held"] is False
    with RunLock(tmp_path) as held:
        assert held.held
        state = lock_state(tmp_path)
        assert state["held"] is True and state["pid"] == os.getpid() and state["since"]
        with pytest.raises(LockedError) as info:
            with RunLock(tmp_path):
                pass
        assert info.value.exit_code == ExitCode.TEMPFAIL
        assert f"another shopvisma sync is running (pid {os.getpid()} since " in str(info.value)
    assert lock_state(tmp_path)["held"] is False
    with RunLock(tmp_path):
        pass


def test_lock_state_creates_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    assert lock_state(missing) == {"held": False, "pid": None, "since": None}
    assert not missing.exists()


def test_lock_of_a_killed_process_does_not_block(tmp_path: Path) -> None:
    code = textwrap.dedent(f"""
        import time
        from shopvisma.state.lock import RunLock
        lock = RunLock({str(tmp_path)!r})
        lock.acquire()
        print("locked", flush=True)
        time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        with pytest.raises(LockedError, match=f"pid {proc.pid} since"):
            RunLock(tmp_path).acquire()
        assert lock_state(tmp_path)["pid"] == proc.pid
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert lock_state(tmp_path)["held"] is False
    with RunLock(tmp_path):
        assert lock_state(tmp_path)["pid"] == os.getpid()


# ---------------------------------------------------------------- run log


def test_run_log_appends_and_reads_back(tmp_path: Path) -> None:
    assert last_runs(tmp_path, 5) == []
    for i in range(5):
        append_run_log(tmp_path, {"n": i, "at": T0, "outcome": "ok"})
    runs = last_runs(tmp_path, 3)
    assert [r["n"] for r in runs] == [2, 3, 4]
    assert runs[-1]["at"] == str(T0)
    with open(state_paths(tmp_path).run_log, "a") as fh:
        fh.write('{"n": 99, "trunc')  # a line torn by a crash
    assert last_runs(tmp_path, 1)[-1]["n"] == 4


def test_run_log_rotates(tmp_path: Path) -> None:
    pad = "x" * 1000
    for i in range(2500):
        append_run_log(tmp_path, {"n": i, "pad": pad})
    log = state_paths(tmp_path).run_log
    rotated = log.with_name("runs.jsonl.1")
    assert rotated.exists()
    assert log.stat().st_size <= 1_000_000 and rotated.stat().st_size <= 1_000_000
    runs = last_runs(tmp_path, 1200)
    assert [r["n"] for r in runs] == list(range(2500 - 1200, 2500))


def test_lock_sweeps_temp_files_left_by_a_killed_write(tmp_path: Path) -> None:
    from shopvisma.state.lock import RunLock

    orphan = tmp_path / ".checkpoint.json.0123456789ab.tmp"
    orphan.write_text("{half")
    keep = tmp_path / "notes.tmp"
    keep.write_text("mine")
    with RunLock(tmp_path):
        pass
    assert not orphan.exists() and keep.exists()


def test_prune_reads_any_iso_form_and_keeps_the_newest() -> None:
    """Entries we wrote compare as text (fast path, on every save); any other ISO form is
    parsed, so a hand-edited or older checkpoint is pruned by the same clock."""
    from shopvisma.state.checkpoint import prune

    cp = Checkpoint()
    cp.recent = {
        "#canonical": {"at": "2026-02-28T12:00:00Z"},
        "#offset": {"at": "2026-02-28T13:00:00+01:00"},  # the same instant as #canonical
        "#old-offset": {"at": "2026-01-01T00:00:00+00:00"},
        "#unreadable": {"at": "yesterday"},
    }
    prune(cp, now=T0)
    assert set(cp.recent) == {"#canonical", "#offset"}
