"""`make bench`: the real `shopvisma sync` CLI against rate-limited sandboxes (issue 7).

The sandboxes run as threads in this process; the product runs as a subprocess exactly
as cron runs it (config file, secrets from the environment, lock, checkpoint), so the
wall time, RSS and request counts are those of the shipped code path. Scenario sizes
and which limits are scaled are explained in bench/README.md.
"""

from __future__ import annotations

import argparse
import os
import pickle
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from measure import (
    checkpoint_parts,
    file_size,
    run_measured,
    run_sync,
    shopify_log,
    visma_log,
)
from orders import make_orders, previous_order, squeeze
from report import Idle, Limits, Row, latency_text_table, results_md, text_table

from shopvisma.sandbox.harness import sandbox_env, write_sandbox_config
from shopvisma.sandbox.shopify.server import ShopifySandbox
from shopvisma.sandbox.visma.server import VismaSandbox

REAL = Limits(visma_per_minute=600, bucket=1000.0, restore=100.0)
BASELINE = ["-c", "import typer, requests"]
SYNC_CONFIG = "max_wait_seconds = 3600"  # a backfill pass may wait longer than the 300 s default
QUIRKS: list[str] = []  # --quirk: the Visma reading every scenario's sandbox serves
LAST_RUN = Path(tempfile.gettempdir()) / "shopvisma-bench-last.pickle"  # for --render
BURST_START_S, BURST_END_S = 700, 100  # (a)'s orders: placed from 700 s to 100 s before its pass
PAYMENTS = 'accounts = { shopify_payments = "1580", paypal = "1940", "*" = "1930" }'  # as tests/e2e/test_payments.py
_WAIT_LINE = re.compile(r" INFO shopvisma\.\w+: (?P<what>.+): waiting (?P<secs>[\d.]+) s$")


def scaled(k: float) -> Limits:
    return Limits(int(REAL.visma_per_minute * k), REAL.bucket * k, REAL.restore * k)


def say(text: str) -> None:
    print(text, flush=True)


@dataclass
class Stage:
    """A pair of sandboxes, a state dir and the environment a cron job would have."""

    shop: ShopifySandbox
    visma: VismaSandbox
    state_dir: Path
    env: dict[str, str]

    def limit(self, limits: Limits | None) -> None:
        """None lifts both limits (for the unmeasured warm-up); the bucket is full afterwards."""
        self.visma.rate_limit_per_minute = limits.visma_per_minute if limits else None
        self.shop.bucket_size = (limits or REAL).bucket
        self.shop.restore_rate = limits.restore if limits else 1e9

    def wait_full_bucket(self, timeout: float = 30) -> None:
        """Cron passes are minutes apart: start each measured pass with a refilled bucket."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            st = self.shop.throttle_status()
            if st["currentlyAvailable"] >= st["maximumAvailable"] - 1:
                return
            time.sleep(0.2)

    def stop(self) -> None:
        self.shop.stop()
        self.visma.stop()


def open_stage(
    orders: list[dict[str, Any]],
    limits: Limits | None,
    root: Path,
    name: str,
    sync_extra: str = "",
    *,
    latency_s: float = 0.0,
    paid: bool = False,
) -> Stage:
    """`latency_s`: both sandboxes add it to every request (a network round trip); `paid`: the
    booked-and-paid workflow (`workflow = "invoice"` and [payments])."""
    shop = ShopifySandbox(
        orders=orders,
        bucket_size=(limits or REAL).bucket,
        restore_rate=(limits or REAL).restore,
        latency_seconds=latency_s,
    ).start()
    visma = VismaSandbox(
        rate_limit_per_minute=limits.visma_per_minute if limits else None, quirks=QUIRKS, latency_seconds=latency_s
    ).start()
    folder = root / name
    folder.mkdir(parents=True)
    tables = {"sync": SYNC_CONFIG + sync_extra, **({"payments": PAYMENTS} if paid else {})}
    config = write_sandbox_config(folder / "config.toml", shop, visma, **tables)
    if paid:
        config.write_text(config.read_text().replace('workflow = "invoice-draft"', 'workflow = "invoice"'))
    base = {k: v for k, v in os.environ.items() if not k.startswith("SHOPVISMA_")}
    stage = Stage(shop, visma, folder / "state", {**base, **sandbox_env(shop, visma, folder / "state", config)})
    stage.limit(limits)
    return stage


def _waits(log_path: Path, offset: int) -> Counter[str]:
    waits: Counter[str] = Counter()
    try:
        with open(log_path, encoding="utf-8", errors="replace") as fh:
            fh.seek(offset)
            for line in fh:
                m = _WAIT_LINE.search(line.rstrip("\n"))
                if m:
                    waits[m.group("what")] += float(m.group("secs"))
    except OSError:
        pass
    return waits


def measured_pass(stage: Stage, key: str, label: str, limits: Limits) -> Row:
    stage.limit(limits)
    stage.wait_full_bucket()
    v0, s0, d0 = len(stage.visma.requests), len(stage.shop.requests), len(stage.shop.bulk_downloads)
    log_path = stage.state_dir / "shopvisma.log"
    log_offset = file_size(log_path)
    cpu0 = time.process_time()  # this process = the sandboxes' threads (and an idle main thread)
    if limits.scale != 1:  # the client's own pacing scales with the sandbox's limit
        config = Path(stage.env["SHOPVISMA_CONFIG"])
        pace = f"visma_requests_per_minute = {int(590 * limits.scale)}"
        if pace not in config.read_text():
            config.write_text(config.read_text().replace(SYNC_CONFIG, f"{SYNC_CONFIG}\n{pace}"))
    proc = run_sync(stage.env)
    doc = proc.doc or {}
    counts = dict(doc.get("counts") or {})
    handled = {
        o.get("order_id") or o.get("name")
        for o in doc.get("orders") or []
        if o.get("status") in ("created", "failed", "edited")
    }  # not "exists": re-read overlap
    shop = shopify_log(stage.shop.requests[s0:])
    shop.downloads = len(stage.shop.bulk_downloads) - d0
    shop.requests += shop.downloads  # the bulk result file is one more request
    row = Row(
        key,
        label,
        limits,
        orders=len(handled),
        counts=counts,
        visma=visma_log(stage.visma.requests[v0:]),
        shopify=shop,
        wall_s=proc.wall_s,
        cpu_s=proc.cpu_s,
        rss_mb=proc.peak_rss_mb,
        checkpoint_bytes=file_size(stage.state_dir / "checkpoint.json"),
        exit_code=proc.exit_code,
        waits=_waits(log_path, log_offset),
        sandbox_cpu_s=time.process_time() - cpu0,
        checkpoint_parts=checkpoint_parts(stage.state_dir / "checkpoint.json"),
    )
    if proc.exit_code not in (0, 1) or not doc:
        row.note = f"sync exited {proc.exit_code}: {proc.stderr_tail.strip()[-600:]}"
    if counts.get("failed"):
        reasons = Counter(o.get("reason", "")[:90] for o in doc.get("orders") or [] if o.get("status") == "failed")
        row.note += f" failed orders by reason: {dict(reasons.most_common(3))}"
    say(
        f"  {key}) {label}: {row.orders} orders, exit {proc.exit_code}, {row.wall_s:.1f} s "
        f"(floor {row.floor_s:.1f} s), RSS {row.rss_mb:.1f} MB"
    )
    return row


def scenario_steady(n: int, root: Path) -> tuple[Row, Stage]:
    """(a): the customers and articles already exist because a warm-up pass (unmeasured, no
    limits) transferred an earlier order by each customer with the same lines."""
    orders = make_orders(n, seed=11, start=datetime(2026, 2, 1, tzinfo=UTC), end=datetime(2026, 2, 28, tzinfo=UTC))
    earlier = [previous_order(o, timedelta(days=30)) for o in orders]
    stage = open_stage(earlier, None, root, "steady")
    warm = run_sync(stage.env)
    if warm.exit_code != 0:
        raise SystemExit(f"warm-up pass failed ({warm.exit_code}): {warm.stderr_tail}")
    say(
        f"  a) warm-up: {n} earlier orders of the same customers transferred in {warm.wall_s:.1f} s "
        f"({len(stage.visma.customers)} customers, {len(stage.visma.articles)} articles now in Visma)"
    )
    now = datetime.now(UTC)  # the 300 orders come as a burst: placed in the 10 minutes before the pass
    squeeze(orders, now - timedelta(seconds=BURST_START_S), now - timedelta(seconds=BURST_END_S))
    for order in orders:
        stage.shop.add_order(order)
    return measured_pass(stage, "a", "steady state", REAL), stage


def _import_top(env: dict[str, str], n: int = 6) -> list[tuple[str, float]]:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "shopvisma", "sync", "--json"],
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    top: list[tuple[str, float]] = []
    for line in proc.stderr.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and line.startswith("import time:") and not parts[2].startswith("  "):
            try:
                top.append((parts[2].strip(), int(parts[1]) / 1000))
            except ValueError:
                continue
    return sorted(top, key=lambda item: -item[1])[:n]


def scenario_idle(stage: Stage, runs: int = 9) -> tuple[Row, Idle]:
    """(c): right after (a)'s burst, nothing new; interleaved with the import baseline to share noise."""
    idle = Idle([], [], [], [])
    row: Row | None = None
    for _ in range(runs):
        row = measured_pass(stage, "c", "idle pass after a burst", REAL)
        idle.sync_walls.append(row.wall_s)
        idle.shopify_requests.append(row.shopify.requests)
        idle.visma_requests.append(row.visma.api + row.visma.token)
        idle.baseline_walls.append(run_measured(BASELINE, stage.env).wall_s)
    idle.import_top = _import_top(stage.env)
    assert row is not None
    row.wall_s = statistics.median(idle.sync_walls)
    row.note = f"wall is the median of {runs} idle passes"
    say(
        f"  c) idle: median {row.wall_s:.3f} s vs import baseline {statistics.median(idle.baseline_walls):.3f} s "
        f"= {idle.ratio:.2f}x"
    )
    return row, idle


PAGED = "\nbulk_first_import = false"


def scenario_backlog(key: str, label: str, n: int, seed: int, limits: Limits, root: Path, sync_extra: str = "") -> Row:
    end = min(datetime(2026, 10, 31, tzinfo=UTC), datetime.now(UTC) - timedelta(days=2))
    t = time.monotonic()
    orders = make_orders(n, seed=seed, start=datetime(2026, 1, 2, tzinfo=UTC), end=end)
    stage = open_stage(orders, limits, root, f"backlog-{key}", sync_extra)
    say(f"  {key}) {n} orders generated and loaded in {time.monotonic() - t:.1f} s")
    try:
        return measured_pass(stage, key, label, limits)
    finally:
        stage.stop()


@dataclass(frozen=True)
class LatencyRun:
    """(f): one cold pass with `latency_ms` added to every request of both APIs, at the real limits."""

    key: str
    orders: int
    latency_ms: int
    paid: bool  # the booked-and-paid workflow (workflow = "invoice", [payments]); else the demo's drafts
    concurrency: int | None  # [sync] concurrency; None: the build's default (or no such key)

    @property
    def label(self) -> str:
        what = "booked and paid" if self.paid else "cold backlog"
        return f"{what} +{self.latency_ms} ms, {in_flight(self.concurrency)}"


def has_concurrency() -> bool:
    """Whether this build has `[sync] concurrency` (issue 15 item 1): then (f) runs 1 vs the default."""
    from shopvisma.config.settings import SyncSettings

    return "concurrency" in SyncSettings.__dataclass_fields__


def in_flight(concurrency: int | None) -> str:
    if concurrency == 1 or not has_concurrency():
        return "1 at a time"
    if concurrency:
        return f"concurrency {concurrency}"
    from shopvisma.config.settings import SyncSettings

    return f"default concurrency ({SyncSettings.__dataclass_fields__['concurrency'].default})"


def latency_runs(quick: bool, full: bool) -> dict[str, LatencyRun]:
    """--quick: 60 orders at 100 and 250 ms; default: 300 (the issue's own trial size); --full: the
    targets' cold backlog of 2,000 orders at 150 and 250 ms. One request at a time that backlog is
    ~4,700 round trips (~20 min at 250 ms), so it is not the default; the booked-and-paid workflow
    (~4.8 requests per order, twice the drafts') stays at 300 orders in --full (no target names it)."""
    n, latencies = (60, (100, 250)) if quick else (2000, (150, 250)) if full else (300, (100, 250))
    levels: tuple[int | None, ...] = (1, None) if has_concurrency() else (None,)
    specs = [(ms, paid, c) for ms in latencies for paid in (False, True) for c in levels]
    return {
        f"f{i}": LatencyRun(f"f{i}", min(n, 300) if paid else n, ms, paid, c)
        for i, (ms, paid, c) in enumerate(specs, 1)
    }


LATENCY_RUNS: dict[str, LatencyRun] = {}  # set by main() from --quick/--full


def scenario_latency(run: LatencyRun, root: Path) -> Row:
    end = min(datetime(2026, 10, 31, tzinfo=UTC), datetime.now(UTC) - timedelta(days=2))
    orders = make_orders(run.orders, seed=22, start=datetime(2026, 1, 2, tzinfo=UTC), end=end)  # (b)'s orders
    extra = f"\nconcurrency = {run.concurrency}" if run.concurrency is not None and has_concurrency() else ""
    stage = open_stage(orders, REAL, root, f"latency-{run.key}", extra, latency_s=run.latency_ms / 1000, paid=run.paid)
    try:
        refused = _config_refused(Path(stage.env["SHOPVISMA_CONFIG"]))
        if refused:
            row = Row(run.key, run.label, REAL, note=f"skipped: this build refuses the config ({refused})")
            say(f"  {run.key}) {run.label}: {row.note}")
        else:
            row = measured_pass(stage, run.key, run.label, REAL)
        row.latency_ms = run.latency_ms
        row.in_flight = in_flight(run.concurrency)
        row.paid = run.paid
        return row
    finally:
        stage.stop()


def _config_refused(config: Path) -> str:
    """The problem the product finds in the config ('' if none): [payments] may not be built yet."""
    from shopvisma.config.settings import load_settings

    try:
        load_settings(config)
    except Exception as exc:  # noqa: BLE001 - any refusal is reported, not raised
        return " ".join(str(exc).split())[:300]
    return ""


def requested_cost_per_order(variables: dict[str, Any] | None) -> float | None:
    """What Shopify charges up front for one more order node in the product's ORDERS_QUERY."""
    try:
        from graphql import parse
        from graphql.language import OperationDefinitionNode

        from shopvisma.sandbox.shopify.cost import query_cost
        from shopvisma.sandbox.shopify.server import load_schema
        from shopvisma.shopify.queries import ORDERS_QUERY

        op = next(d for d in parse(ORDERS_QUERY).definitions if isinstance(d, OperationDefinitionNode))
        base = {"after": None, "query": "", "lines": 10, **(variables or {})}
        return float(
            query_cost(load_schema(), op, {}, {**base, "first": 2})
            - query_cost(load_schema(), op, {}, {**base, "first": 1})
        )
    except Exception:  # noqa: BLE001 - an explanation helper must not fail the benchmark
        return None


def _child(key: str, pickle_path: Path, args: argparse.Namespace) -> subprocess.Popen[bytes]:
    """(d) and (e) in their own processes: their sandboxes need their own GIL, and they run
    while (b) (which waits on rate limits almost all the time) keeps a core mostly idle."""
    cmd = (
        [
            sys.executable,
            str(Path(__file__).resolve()),
            "--only",
            key,
            "--pickle",
            str(pickle_path),
            "--scale",
            str(args.scale),
        ]
        + (["--full"] if args.full else [])
        + (["--quick"] if args.quick else [])
        + [f"--quirk={q}" for q in args.quirk]
    )
    return subprocess.Popen(cmd)


def _backlog(key: str, sizes: dict[str, int], big: Limits, root: Path) -> Row:
    if key.startswith("f"):
        return scenario_latency(LATENCY_RUNS[key], root)
    if key == "d":
        return scenario_backlog("d", "large backlog", sizes["d"], 33, big, root)
    if key == "e":  # (b) again, same orders, read page by page: what the bulk read saves
        return scenario_backlog("e", "cold backlog, paged", sizes["b"], 22, REAL, root, PAGED)
    return scenario_backlog("b", "cold backlog", sizes["b"], 22, REAL, root)


def compile_product() -> None:
    """Measure the product as installed: pip byte-compiles a wheel's modules at install time,
    but an editable install under PYTHONDONTWRITEBYTECODE=1 (set on these machines) never
    writes .pyc files, and every idle pass would then compile ~40 modules (~40 ms)."""
    import compileall

    import shopvisma

    compileall.compile_dir(str(Path(shopvisma.__file__).parent), quiet=1)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true", help="(d) at the real limits too (about 20 minutes more)")
    ap.add_argument("--quick", action="store_true", help="small sizes for a smoke run; writes no results.md")
    ap.add_argument("--scale", type=float, default=10.0, help="limit scale for (d) (default 10)")
    ap.add_argument("--only", default="abcdef", help="scenarios to run, e.g. 'ac' (c needs a), 'f' (latency)")
    ap.add_argument(
        "--quirk",
        action="append",
        default=[],
        metavar="NAME",
        help="serve another reading of Visma (docs/sandbox.md, Readings); repeatable",
    )
    ap.add_argument(
        "--serial", action="store_true", help="run (d) after (b), and the (f) runs one by one, instead of alongside"
    )
    ap.add_argument("--out", type=Path, default=None, help="results file (default bench/results.md)")
    ap.add_argument("--pickle", type=Path, default=None, help=argparse.SUPPRESS)  # child mode: (d) only
    ap.add_argument(
        "--render", action="store_true", help="only rewrite the results file from the last run's measurements"
    )
    args = ap.parse_args(argv)
    QUIRKS[:] = args.quirk
    if args.render:
        last = pickle.loads(LAST_RUN.read_bytes())  # (rows, idle, mode, elapsed, info)
        write_results(args.out or HERE / "results.md", *last)
        return 0
    if datetime.now(UTC) < datetime(2026, 3, 15, tzinfo=UTC):
        raise SystemExit("the benchmark's orders are dated 2026-01..2026-10; run it on a machine whose clock is later")
    sizes = {"a": 300, "b": 2000, "d": 10_000} if not args.quick else {"a": 60, "b": 300, "d": 1500}
    LATENCY_RUNS.update(latency_runs(args.quick, args.full))
    compile_product()
    big = REAL if args.full else scaled(args.scale)
    started = time.monotonic()
    rows: list[Row] = []
    idle: Idle | None = None
    with tempfile.TemporaryDirectory(prefix="shopvisma-bench-") as tmp:
        root = Path(tmp)
        if args.pickle is not None:
            args.pickle.write_bytes(pickle.dumps(_backlog(args.only, sizes, big, root)))
            return 0
        if "a" in args.only:
            say(f"a) steady state, {sizes['a']} orders, {REAL.describe()}")
            row, stage = scenario_steady(sizes["a"], root)
            rows.append(row)
            try:
                if "c" in args.only:
                    say("c) idle pass x9 and the import baseline x9")
                    crow, idle = scenario_idle(stage)
                    rows.append(crow)
            finally:
                stage.stop()
        parallel = "b" in args.only and not args.serial
        children = {}
        for key in "de":
            if key in args.only and parallel:
                label = "large backlog" if key == "d" else "cold backlog read page by page"
                say(f"{key}) {label}, {sizes['d' if key == 'd' else 'b']} orders (own process, alongside b)")
                children[key] = (root / f"{key}.pickle", _child(key, root / f"{key}.pickle", args))
        if "f" in args.only and not args.serial:  # they wait on latency, not on a core: all at once
            say(f"f) added latency, {len(LATENCY_RUNS)} runs, each in its own process" + (", alongside b" * parallel))
            for key in LATENCY_RUNS:
                children[key] = (root / f"{key}.pickle", _child(key, root / f"{key}.pickle", args))
        if "b" in args.only:
            say(f"b) cold backlog, {sizes['b']} orders, {REAL.describe()}")
            rows.append(_backlog("b", sizes, big, root))
        for key, (path, child) in children.items():
            if child.wait() != 0 or not path.exists():
                raise SystemExit(f"scenario {key} failed (exit {child.returncode})")
            rows.append(pickle.loads(path.read_bytes()))
        for key in "de":
            if key in args.only and key not in children:
                say(f"{key}) backlog, {REAL.describe() if key == 'e' else big.describe()}")
                rows.append(_backlog(key, sizes, big, root))
        if "f" in args.only and args.serial:
            say(f"f) added latency, {len(LATENCY_RUNS)} runs, one after the other")
            rows += [_backlog(key, sizes, big, root) for key in LATENCY_RUNS]
    rows.sort(key=lambda r: r.key)
    elapsed = time.monotonic() - started
    say("")
    say(text_table([r for r in rows if not r.latency_ms]))
    if any(r.latency_ms for r in rows):
        say("")
        say(latency_text_table([r for r in rows if r.latency_ms]))
    say(f"\nwhole run {elapsed:.0f} s")
    info = {
        "sizes": f"a) {sizes['a']}, b) and e) {sizes['b']}, d) {sizes['d']} orders"
        + (f", f) {'/'.join(sorted({str(r.orders) for r in LATENCY_RUNS.values()}))}" if "f" in args.only else "")
        + (" (--quick)" if args.quick else ""),
        "limits": f"a), b), c), e), f) {REAL.describe()}; d) {big.describe()}",
        "schedule": (
            "a) and c) alone, then b), d), e) and the f) runs at the same time, each in its own process"
            if parallel
            else "one scenario after the other"
            if args.serial
            else "a) and c) alone, then the other scenarios at the same time, each in its own process"
        ),
        "config": f"demo config from shopvisma.commands.demo + [sync] {SYNC_CONFIG}",
    }
    out = args.out or (None if args.quick else HERE / "results.md")
    mode = " ".join(argv if argv is not None else sys.argv[1:]) or "(defaults)"
    LAST_RUN.write_bytes(pickle.dumps((rows, idle, mode, elapsed, info)))
    if out is not None:
        write_results(out, rows, idle, mode, elapsed, info)
    return 0


def write_results(
    out: Path, rows: list[Row], idle: Idle | None, mode: str, elapsed: float, info: dict[str, str]
) -> None:
    out.write_text(results_md(rows, idle, requested_cost_per_order(None), mode, elapsed, info), encoding="utf-8")
    say(f"results written to {out}")


if __name__ == "__main__":
    raise SystemExit(main())
