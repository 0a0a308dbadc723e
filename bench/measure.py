"""Measuring one `shopvisma sync` subprocess and reading the sandboxes' request logs.

Why both wait4 and VmHWM: `os.wait4(pid)` returns the rusage of exactly that child
(ru_maxrss, kB on Linux), unlike RUSAGE_CHILDREN which is the max over every child the
benchmark ever reaped (the import baseline, earlier passes). Polling
/proc/<pid>/status VmHWM is the cross-check the issue asks for; it can only miss the
last few milliseconds, so the reported peak is the larger of the two.
"""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SYNC_ARGS = ["-m", "shopvisma", "sync", "--json"]


@dataclass
class Proc:
    """One finished subprocess: wall time, exit code, peak RSS, its JSON document."""

    wall_s: float
    exit_code: int
    rss_wait4_kb: int
    rss_vmhwm_kb: int
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


def run_measured(args: list[str], env: dict[str, str], *, timeout: float = 3600) -> Proc:
    """Run `python <args>`, polling VmHWM every 20 ms, reaping with wait4 for exact rusage."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.monotonic()
        proc = subprocess.Popen([sys.executable, *args], env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        peak = [0]
        done = threading.Event()

        def poll() -> None:
            while not done.is_set():
                value = _vmhwm_kb(proc.pid)
                if value is not None:
                    peak[0] = max(peak[0], value)
                done.wait(0.02)

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        deadline = started + timeout
        status, usage = 0, None
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                proc.kill()
                _, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.005)
        wall = time.monotonic() - started
        done.set()
        poller.join()
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: tell Popen
        out.seek(0)
        err.seek(0)
        text = out.read().decode("utf-8", "replace")
        tail = err.read().decode("utf-8", "replace")[-2000:]
    try:
        doc = json.loads(text) if text.strip() else None
    except ValueError:
        doc = None
    cpu = (usage.ru_utime + usage.ru_stime) if usage else 0.0
    return Proc(wall, proc.returncode, int(usage.ru_maxrss) if usage else 0, peak[0], doc, tail, cpu)


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
        endpoint = (path[len("/v2"):].strip("/").split("/", 1)[0] or "").lower()
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
    return {key: (len(value) if isinstance(value, (dict, list)) else 1, len(json.dumps(value)))
            for key, value in data.items()}
