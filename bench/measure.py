"""Measuring one `shopvisma sync` subprocess and reading the sandboxes' request logs.

Why a launcher: on Linux a child's `ru_maxrss` (wait4, RUSAGE_CHILDREN, RUSAGE_SELF) is
at least the resident size of the process it was forked from, because the old address
space's high-water mark is carried over the exec. Spawned straight from this benchmark
(which holds both sandboxes and every generated order), the sync process "peaked" at the
benchmark's own size: 115 MB at 2,000 orders, 345 MB at 10,000, while its VmHWM was
~40 MB (measured 2026-11-25, bench/results.md). So every measured command is started by a
tiny launcher (`python -S`, ~9 MB): it forks, execs the command, reaps it with wait4 and
reports that child's exact rusage and its fork-to-reap wall time. /proc/<pid>/status VmHWM
of the command is still polled as a cross-check.
"""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SYNC_ARGS = ["-m", "shopvisma", "sync", "--json"]

# argv: report-file, then the python arguments of the command to measure.
LAUNCHER = """
import json, os, sys, time
report, args = sys.argv[1], sys.argv[2:]
started = time.monotonic()
pid = os.fork()
if pid == 0:
    try:
        os.execv(sys.executable, [sys.executable, *args])
    finally:
        os._exit(127)
with open(report + ".pid", "w") as fh:
    fh.write(str(pid))
_, status, ru = os.wait4(pid, 0)
wall = time.monotonic() - started
with open(report, "w") as fh:
    json.dump({"wall": wall, "maxrss_kb": ru.ru_maxrss, "cpu": ru.ru_utime + ru.ru_stime,
               "code": os.waitstatus_to_exitcode(status)}, fh)
sys.exit(0)
"""


@dataclass
class Proc:
    """One finished subprocess: wall time, exit code, peak RSS, its JSON document."""

    wall_s: float
    exit_code: int
    rss_wait4_kb: int  # exact: the launcher's wait4 of the command
    rss_vmhwm_kb: int  # polled every 20 ms: a lower bound, the cross-check
    doc: dict[str, Any] | None
    stderr_tail: str
    cpu_s: float = 0.0

    @property
    def peak_rss_mb(self) -> float:
        return max(self.rss_wait4_kb, self.rss_vmhwm_kb) / 1024


def _vmhwm_kb(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text())
    except (OSError, ValueError):
        return None


def run_measured(args: list[str], env: dict[str, str], *, timeout: float = 3600) -> Proc:
    """Run `python <args>` through the launcher; its report gives exact wall, CPU and peak RSS."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        proc = subprocess.Popen(
            [sys.executable, "-S", "-c", LAUNCHER, str(report), *args],
            env=env,
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        peak = [0]
        done = threading.Event()

        def poll() -> None:
            pid = None
            while not done.is_set():
                pid = pid or _read_pid(report.with_name("report.json.pid"))
                value = _vmhwm_kb(pid) if pid else None
                if value is not None:
                    peak[0] = max(peak[0], value)
                done.wait(0.02)

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        done.set()
        poller.join()
        try:
            rep = json.loads(report.read_text())
        except (OSError, ValueError):
            rep = {"wall": float(timeout), "maxrss_kb": 0, "cpu": 0.0, "code": -9}
        out.seek(0)
        err.seek(0)
        text = out.read().decode("utf-8", "replace")
        tail = err.read().decode("utf-8", "replace")[-2000:]
    try:
        doc = json.loads(text) if text.strip() else None
    except ValueError:
        doc = None
    return Proc(rep["wall"], rep["code"], int(rep["maxrss_kb"]), peak[0], doc, tail, rep["cpu"])


def run_sync(env: dict[str, str]) -> Proc:
    return run_measured(SYNC_ARGS, env)


def longest_run(flags: list[bool]) -> int:
    best = cur = 0
    for flag in flags:
        cur = cur + 1 if flag else 0
        best = max(best, cur)
    return best


@dataclass
class VismaLog:
    """What the Visma sandbox saw in one pass."""

    api: int = 0  # /v2 requests, all answers
    token: int = 0  # identity server (token refresh) requests
    rate_limited: int = 0  # 429 answers
    max_consecutive_429: int = 0
    accepted: collections.Counter[str] = field(default_factory=collections.Counter)  # endpoint -> non-429
    by_call: collections.Counter[str] = field(default_factory=collections.Counter)  # "POST customers" -> n
    writes: int = 0


def visma_log(entries: list[tuple[str, str, int]]) -> VismaLog:
    log = VismaLog()
    flags: list[bool] = []
    for method, path, status in entries:
        if path.startswith("/identity/"):
            log.token += 1
            continue
        if not path.startswith("/v2"):
            continue
        endpoint = (path[len("/v2") :].strip("/").split("/", 1)[0] or "").lower()
        log.api += 1
        limited = status == 429
        flags.append(limited)
        if limited:
            log.rate_limited += 1
            continue
        log.accepted[endpoint] += 1
        suffix = "/{id}" if path.rstrip("/").count("/") > 2 else ""
        log.by_call[f"{method} {endpoint}{suffix}"] += 1
        if method in ("POST", "PUT", "DELETE") and 200 <= status < 300:
            log.writes += 1
    log.max_consecutive_429 = longest_run(flags)
    return log


@dataclass
class ShopifyLog:
    """What the Shopify sandbox saw in one pass (GraphQL requests; token calls are apart)."""

    requests: int = 0
    throttled: int = 0  # THROTTLED answers (and HTTP 429, which the sandbox does not send)
    max_consecutive_throttled: int = 0
    cost: float = 0.0  # actualQueryCost summed: what the bucket really paid
    requested: float = 0.0  # requestedQueryCost of accepted queries (what had to be available)
    by_operation: collections.Counter[str] = field(default_factory=collections.Counter)
    page_sizes: list[int] = field(default_factory=list)
    downloads: int = 0  # GETs of a bulk operation's result file (not GraphQL, no cost)


def shopify_log(entries: list[dict[str, Any]]) -> ShopifyLog:
    log = ShopifyLog()
    flags: list[bool] = []
    for rec in entries:
        log.requests += 1
        limited = bool(rec.get("throttled")) or rec.get("status") == 429
        flags.append(limited)
        if limited:
            log.throttled += 1
            continue
        log.cost += float(rec.get("cost") or 0)
        op = rec.get("operation") or "?"
        log.by_operation[op] += 1
        first = (rec.get("variables") or {}).get("first")
        if op == "Orders" and isinstance(first, int):
            log.page_sizes.append(first)
    log.max_consecutive_throttled = longest_run(flags)
    return log


def file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def checkpoint_parts(path: Path) -> dict[str, tuple[int, int]]:
    """Top-level key -> (entries, JSON bytes): which part of the checkpoint grows."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {
        key: (len(value) if isinstance(value, (dict, list)) else 1, len(json.dumps(value)))
        for key, value in data.items()
    }
