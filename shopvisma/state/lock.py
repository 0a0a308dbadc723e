"""The run lock: one sync at a time per state folder (exit 75 for the loser).

Apart from the checkpoint because it is the one piece that must work across processes, and
because it is on every cron pass's path: it imports nothing heavy (see _try_lock).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from shopvisma.errors import LockedError
from shopvisma.state.files import atomic_write, state_paths
from shopvisma.timefmt import iso_z, utc_now


def _read_lock_info(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


_TEMP = re.compile(r"^\.[\w.-]+\.[0-9a-f]{12}\.tmp$")


def _sweep_temp_files(state_dir: Path) -> None:
    """Temp files of a run killed mid-write (atomic_write's); only the lock holder writes,
    so any left when the lock is taken are orphans."""
    try:
        for entry in state_dir.iterdir():
            if _TEMP.match(entry.name):
                entry.unlink(missing_ok=True)
    except OSError:
        pass


class _Busy(Exception):
    """Another process holds the lock."""


def _try_lock(path: Path) -> Callable[[], None]:
    """Take the OS lock without waiting and return its release; _Busy when it is held.

    POSIX: flock(2) on the lock file, the call filelock itself makes there, written out
    because importing filelock 4.x costs ~10 ms, 7 % of an idle cron pass (issue #7).
    The kernel drops the lock when the holder dies, so a SIGKILLed run never leaves a
    stale lock; O_NOFOLLOW refuses a planted symlink. Elsewhere (Windows): filelock.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        from filelock import FileLock, Timeout

        lock = FileLock(str(path), timeout=0)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            raise _Busy from None
        return lock.release
    fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise _Busy from None
    except BaseException:
        os.close(fd)
        raise

    def release() -> None:
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    return release


class RunLock:
    """One sync at a time: the second cron run exits 75 at once instead of queueing.

    An OS advisory lock (_try_lock): the kernel drops it when the holder dies, so a
    SIGKILLed run never leaves a stale lock. The sidecar file only says who holds it.
    """

    def __init__(self, state_dir: Path) -> None:
        self.paths = state_paths(state_dir)
        self._release: Callable[[], None] | None = None

    def acquire(self) -> None:
        self.paths.lock.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            release = _try_lock(self.paths.lock)
        except _Busy:
            info = _read_lock_info(self.paths.lock_info)
            who = f"pid {info.get('pid', 'unknown')} since {info.get('started_at', 'unknown')}"
            raise LockedError(
                f"another shopvisma sync is running ({who}); this run did nothing",
                hint="the next cron run will try again",
            ) from None
        self._release = release
        _sweep_temp_files(self.paths.lock.parent)
        info = {"pid": os.getpid(), "started_at": iso_z(utc_now())}
        try:
            atomic_write(self.paths.lock_info, json.dumps(info).encode(), mode=0o644)
        except OSError:
            pass  # the sidecar is informational; the lock itself is held

    def release(self) -> None:
        if self._release is None:
            return
        try:
            self.paths.lock_info.unlink(missing_ok=True)
        except OSError:
            pass
        self._release()
        self._release = None

    @property
    def held(self) -> bool:
        return self._release is not None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def lock_state(state_dir: Path) -> dict[str, Any]:
    """Whether a sync holds the lock, and who; probes for an instant, creates nothing."""
    paths = state_paths(state_dir)
    if not paths.lock.exists():
        return {"held": False, "pid": None, "since": None}
    try:
        release = _try_lock(paths.lock)
    except _Busy:
        info = _read_lock_info(paths.lock_info)
        return {"held": True, "pid": info.get("pid"), "since": info.get("started_at")}
    except OSError:
        return {"held": False, "pid": None, "since": None, "error": "lock file not readable"}
    release()
    return {"held": False, "pid": None, "since": None}
