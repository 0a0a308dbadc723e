"""The state dir's file names and the one durable way to write a file there.

Apart from the checkpoint because everything in the state dir (checkpoint, tokens,
secrets, lock sidecar, observations) is written through `atomic_write`, and the run
lock and the secret store must not load the checkpoint's schema to find their files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class StatePaths:
    """Where each file of one state dir lives; built in one place so no caller spells a name."""

    checkpoint: Path
    tokens: Path
    secrets: Path
    lock: Path
    lock_info: Path
    run_log: Path
    log: Path


def state_paths(state_dir: Path) -> StatePaths:
    """The file names of the state dir `state_dir` (nothing is created)."""
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
    """Make a rename in `directory` durable; best effort where a folder cannot be fsynced."""
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
            view = view[os.write(fd, view) :]
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
