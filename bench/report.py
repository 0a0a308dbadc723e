"""Rendering the benchmark: the table, the per-target verdicts and bench/results.md.

The verdict text is derived from the measured numbers (which calls dominate, where
the pass waited), so a re-run rewrites the explanation together with the numbers
instead of leaving stale prose next to fresh data.
"""

from __future__ import annotations

import os
import platform
import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from measure import ShopifyLog, VismaLog

from shopvisma.state.checkpoint import RECENT_MAX as HISTORY_CAP

TARGET_VISMA_PER_ORDER = 1.2
TARGET_SHOPIFY_PER_ORDER = 0.1
TARGET_IDLE_RATIO = 1.5
TARGET_BACKLOG_RATIO = 1.2
TARGET_RSS_MB = 100.0
# Issue 15: cold backlog of 2,000 orders at the real limits, wall / floor with added latency.
TARGET_LATENCY_RATIO = {150: 1.3, 250: 1.5}
TARGET_LATENCY_ORDERS = 2000
FLAT_TOLERANCE = 0.10  # "flat": at most +10 % from 2,000 to 10,000 orders
CHECKPOINT_TOLERANCE = 0.10
HISTORY_MAPS = ("recent", "refunds_done", "edited", "pending", "intents")


@dataclass
class Limits:
    visma_per_minute: int
    bucket: float
    restore: float

    @property
    def scale(self) -> float:
        return self.visma_per_minute / 600

    def describe(self) -> str:
        tag = "real" if self.scale == 1 else f"x{self.scale:g} scaled"
        return (
            f"{tag}: Visma {self.visma_per_minute}/min per endpoint, Shopify bucket {self.bucket:g}, "
            f"restore {self.restore:g}/s"
        )


@dataclass
class Row:
    key: str
    label: str
    limits: Limits
    orders: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    visma: VismaLog = field(default_factory=VismaLog)
    shopify: ShopifyLog = field(default_factory=ShopifyLog)
    wall_s: float = 0.0
    cpu_s: float = 0.0
    rss_mb: float = 0.0
    checkpoint_bytes: int = 0
    exit_code: int = 0
    waits: Counter[str] = field(default_factory=Counter)
    note: str = ""
    sandbox_cpu_s: float = 0.0
    checkpoint_parts: dict[str, tuple[int, int]] = field(default_factory=dict)
    latency_ms: int = 0  # (f): added to every request of both APIs
    in_flight: str = ""  # (f): "1 at a time" or the concurrency it ran with
    paid: bool = False  # (f): the booked-and-paid workflow

    @property
    def round_trips(self) -> int:
        """Every request of the pass, both APIs (token calls and bulk downloads included)."""
        return self.visma.api + self.visma.token + self.shopify.requests

    @property
    def serial_bound_s(self) -> float:
        """What one request at a time must take for the added latency alone."""
        return self.round_trips * self.latency_ms / 1000

    @property
    def visma_floor_s(self) -> float:
        return max(self.visma.accepted.values(), default=0) / self.limits.visma_per_minute * 60

    @property
    def shopify_floor_s(self) -> float:
        return self.shopify.cost / self.limits.restore

    @property
    def floor_s(self) -> float:
        return max(self.visma_floor_s, self.shopify_floor_s)

    @property
    def binding(self) -> str:
        if not self.floor_s:
            return ""
        if self.visma_floor_s >= self.shopify_floor_s:
            endpoint = max(self.visma.accepted, key=self.visma.accepted.__getitem__)
            return f"Visma /{endpoint}"
        return "Shopify cost"

    @property
    def ratio(self) -> float | None:
        return self.wall_s / self.floor_s if self.floor_s else None

    def per_order(self, n: float) -> float | None:
        return n / self.orders if self.orders else None

    @property
    def max_consecutive(self) -> int:
        return max(self.visma.max_consecutive_429, self.shopify.max_consecutive_throttled)


@dataclass
class Idle:
    sync_walls: list[float]
    baseline_walls: list[float]
    shopify_requests: list[int]
    visma_requests: list[int]  # API + token
    import_top: list[tuple[str, float]] = field(default_factory=list)  # module -> cumulative ms

    @property
    def ratio(self) -> float:
        return statistics.median(self.sync_walls) / statistics.median(self.baseline_walls)


def _f(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


HEADER = (
    "scenario",
    "orders",
    "Visma req/order (+token)",
    "Shopify req/order",
    "Shopify cost/order",
    "wall s",
    "floor s (binding)",
    "wall/floor",
    "peak RSS MB",
    "checkpoint bytes",
    "max consecutive 429/THROTTLED",
)


def table_rows(rows: list[Row]) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    for r in rows:
        if r.orders:
            visma = f"{_f(r.per_order(r.visma.api))} (+{r.visma.token})"
            shop = _f(r.per_order(r.shopify.requests), 3)
            cost = _f(r.per_order(r.shopify.cost), 1)
        else:
            visma = f"{r.visma.api} req (+{r.visma.token})"
            shop = f"{r.shopify.requests} req"
            cost = f"{r.shopify.cost:g} total"
        floor = f"{r.floor_s:.1f} ({r.binding})" if r.floor_s else "0"
        out.append(
            (
                f"{r.key}) {r.label}",
                str(r.orders),
                visma,
                shop,
                cost,
                f"{r.wall_s:.2f}",
                floor,
                _f(r.ratio),
                f"{r.rss_mb:.1f}",
                str(r.checkpoint_bytes),
                str(r.max_consecutive),
            )
        )
    return out


LATENCY_HEADER = (
    "scenario",
    "orders",
    "added latency",
    "in flight",
    "requests (Visma +token, Shopify)",
    "requests x latency s",
    "wall s",
    "floor s (binding)",
    "wall/floor",
    "target",
    "429/THROTTLED",
)


def latency_target(r: Row) -> float | None:
    """The issue's ratio for this run, if it is one the targets name (the cold backlog of 2,000)."""
    if r.paid or r.orders < TARGET_LATENCY_ORDERS:
        return None
    return TARGET_LATENCY_RATIO.get(r.latency_ms)


def latency_rows(rows: list[Row]) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    for r in rows:
        if not r.wall_s:
            out.append((f"{r.key}) {r.label}", "-", f"{r.latency_ms} ms", r.in_flight, *["-"] * 6, r.note[:60]))
            continue
        target = latency_target(r)
        out.append(
            (
                f"{r.key}) {r.label}",
                str(r.orders),
                f"{r.latency_ms} ms",
                r.in_flight,
                f"{r.visma.api} +{r.visma.token}, {r.shopify.requests}",
                f"{r.serial_bound_s:.1f}",
                f"{r.wall_s:.1f}",
                f"{r.floor_s:.1f} ({r.binding})" if r.floor_s else "0",
                _f(r.ratio),
                f"<= {target}x: {'met' if r.ratio is not None and r.ratio <= target else 'not met'}" if target else "-",
                f"{r.visma.rate_limited}/{r.shopify.throttled}",
            )
        )
    return out


def latency_text_table(rows: list[Row]) -> str:
    return text_table(rows, LATENCY_HEADER, latency_rows)


def latency_section(rows: list[Row], note: str) -> str:
    """(f): the latency table and what it shows."""
    if not rows:
        return ""
    out = ["## Added latency (f)", "", md_table(LATENCY_HEADER, latency_rows(rows)), "", note, ""]
    for r in rows:
        if not r.wall_s:
            out.append(f"- {r.key}) {r.label}: {r.note}")
            continue
        per = r.wall_s / r.round_trips if r.round_trips else 0.0
        out.append(
            f"- {r.key}) {r.label}: {r.round_trips} round trips in {r.wall_s:.1f} s = {per * 1000:.0f} ms each "
            f"({r.latency_ms} ms added); one at a time the latency alone is {r.serial_bound_s:.1f} s, "
            f"{r.serial_bound_s / r.floor_s if r.floor_s else 0:.2f}x the rate floor; exit {r.exit_code}, "
            f"outcomes {dict(r.counts) or '{}'}."
        )
    return "\n".join(out) + "\n"


def text_table(rows: list[Row], header: tuple[str, ...] = HEADER, cells: Any = None) -> str:
    body = [header, *(cells or table_rows)(rows)]
    widths = [max(len(line[i]) for line in body) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=False)) for line in body]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def md_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def machine() -> dict[str, str]:
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            cpu = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), cpu)
    except OSError:
        pass
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def _verdict(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


def _calls(r: Row) -> str:
    parts = [f"{call} {n / r.orders:.3f}" for call, n in r.visma.by_call.most_common()] if r.orders else []
    return ", ".join(parts)


def _waits(r: Row) -> str:
    if not r.waits:
        return "no waits logged"
    return ", ".join(f"{what} {secs:.1f} s" for what, secs in r.waits.most_common())


def breakdown(rows: list[Row]) -> str:
    lines = ["## Where the requests and the time go", ""]
    for r in rows:
        lines.append(
            f"**{r.key}) {r.label}** — limits {r.limits.describe()}; exit code {r.exit_code}; "
            f"outcomes {dict(r.counts) or '{}'}; CPU: sync process {r.cpu_s:.1f} s, sandboxes "
            f"{r.sandbox_cpu_s:.1f} s, of {r.wall_s:.1f} s wall."
        )
        if r.orders:
            lines.append(
                f"- Visma per order: {_calls(r)}; token requests {r.visma.token}; 429 answers {r.visma.rate_limited}."
            )
        lines.append(
            f"- Visma floor {r.visma_floor_s:.1f} s (busiest endpoint: "
            f"{', '.join(f'/{e} {n}' for e, n in r.visma.accepted.most_common(3)) or 'none'}), "
            f"Shopify floor {r.shopify_floor_s:.1f} s ({r.shopify.cost:g} points at "
            f"{r.limits.restore:g}/s)."
        )
        sizes = r.shopify.page_sizes
        page = (
            f"page sizes first={sizes[0]}, then up to {max(sizes)} (mean {statistics.mean(sizes):.1f})"
            if sizes
            else "no order pages"
        )
        lines.append(f"- Shopify: {dict(r.shopify.by_operation)}; {page}; THROTTLED {r.shopify.throttled}.")
        lines.append(f"- Waits the pass logged: {_waits(r)} (the client's own Visma pacing is not logged).")
        if r.checkpoint_parts:
            parts = sorted(r.checkpoint_parts.items(), key=lambda kv: -kv[1][1])
            lines.append(
                "- checkpoint.json by key (entries, bytes): "
                + ", ".join(f"{k} ({n}, {b})" for k, (n, b) in parts if b > 4)
                + "."
            )
        if r.note:
            lines.append(f"- {r.note}")
        lines.append("")
    return "\n".join(lines)


def targets(rows: dict[str, Row], idle: Idle | None, per_order_cost: float | None) -> str:
    out = ["## Targets", ""]
    a, b, d, e = rows.get("a"), rows.get("b"), rows.get("d"), rows.get("e")
    if a is not None and a.orders:
        v, s = a.per_order(a.visma.api) or 0, a.per_order(a.shopify.requests) or 0
        out.append(
            f"### Steady state: Visma <= {TARGET_VISMA_PER_ORDER} req/order — {_verdict(v <= TARGET_VISMA_PER_ORDER)}"
        )
        out.append(
            f"Measured {v:.3f} Visma requests per order over {a.orders} orders ({a.visma.api} requests, "
            f"+{a.visma.token} token). Per order: {_calls(a)}."
        )
        if v > TARGET_VISMA_PER_ORDER:
            reads = sum(n for c, n in a.visma.by_call.items() if c.startswith("GET")) / a.orders
            out.append(
                f"Cause: the document create is 1.0/order by necessity; lookups (GET) add {reads:.3f}/order "
                f"and other writes {v - reads - 1:.3f}/order. Reaching 1.2 needs fewer, larger batched "
                f"lookups (one `or` filter over more references per request, fewer lookups per chunk)."
            )
        out.append("")
        out.append(
            f"### Steady state: Shopify <= {TARGET_SHOPIFY_PER_ORDER} req/order — "
            f"{_verdict(s <= TARGET_SHOPIFY_PER_ORDER)}"
        )
        sizes = a.shopify.page_sizes
        out.append(
            f"Measured {s:.3f} Shopify requests per order ({dict(a.shopify.by_operation)}); "
            f"query cost {a.per_order(a.shopify.cost):.1f} points per order actually charged"
            + (f", {per_order_cost:.0f} points per order *requested*" if per_order_cost else "")
            + (f"; order pages of {min(sizes)}..{max(sizes)}" if sizes else "")
            + "."
        )
        if s > TARGET_SHOPIFY_PER_ORDER and per_order_cost:
            fit = int(998 // per_order_cost)
            out.append(
                f"Cause: Shopify admits a query only if its *requested* cost fits the 1,000-point limit, so "
                f"a page holds at most {fit} orders at {per_order_cost:.0f} requested points each "
                f"(>= {1 / max(fit, 1):.3f} req/order before refund queries). 0.1 req/order needs pages of "
                f">= 10 orders, i.e. <= ~99 requested points per order: ask for fewer line items per page "
                f"(e.g. `lineItems(first: 5)` and fetch the rare longer order with OrderLines) or a bulk "
                f"operation for backfills."
            )
        out.append("")
    if idle is not None:
        one = all(n == 1 for n in idle.shopify_requests) and all(n == 0 for n in idle.visma_requests)
        out.append(f"### Idle pass right after a burst: exactly 1 Shopify request, 0 Visma — {_verdict(one)}")
        out.append(
            f"Shopify requests per idle pass {idle.shopify_requests}; Visma requests (API + token) "
            f"{idle.visma_requests}."
        )
        out.append("")
        ratio = idle.ratio
        out.append(
            f'### Idle pass: wall <= {TARGET_IDLE_RATIO}x `python -c "import typer, requests"` — '
            f"{_verdict(ratio <= TARGET_IDLE_RATIO)}"
        )
        out.append(
            f"Median of {len(idle.sync_walls)}: idle sync {statistics.median(idle.sync_walls):.3f} s vs "
            f"baseline {statistics.median(idle.baseline_walls):.3f} s = **{ratio:.2f}x** "
            f"(sync runs {', '.join(f'{w:.3f}' for w in idle.sync_walls)}; baseline "
            f"{', '.join(f'{w:.3f}' for w in idle.baseline_walls)})."
        )
        if idle.import_top:
            out.append(
                "Slowest imports of an idle pass (`-X importtime`, cumulative): "
                + ", ".join(f"{m} {ms:.0f} ms" for m, ms in idle.import_top)
                + "."
            )
        if ratio > TARGET_IDLE_RATIO:
            slow = dict(idle.import_top)
            extra = (statistics.median(idle.sync_walls) - statistics.median(idle.baseline_walls)) * 1000
            why = [f"the idle pass costs {extra:.0f} ms more than the baseline"]
            if "typer._adapters" in slow:
                why.append(
                    f"`typer._adapters` ({slow['typer._adapters']:.0f} ms) imports pydantic: typer loads it "
                    "when it converts a command's parameters, which `import typer` alone does not do"
                )
            ours = [f"{m} {ms:.0f} ms" for m, ms in idle.import_top if m.startswith("shopvisma")]
            if ours:
                why.append("the product's own modules (cumulative, incl. what they import): " + ", ".join(ours))
            out.append(
                "Cause: " + "; ".join(why) + ". What would reach it: fewer modules on the idle path "
                "(each import is listed above), or lighter dependencies (filelock alone is ~9 ms)."
            )
        out.append("")
    for r in (b, d, e):
        if r is None or not r.orders:
            continue
        ok = r.ratio is not None and r.ratio <= TARGET_BACKLOG_RATIO
        scope = {
            "b": "the target",
            "d": "reported, not a target: (d) is the memory and checkpoint scenario, at x10 limits",
            "e": "reported; (b) read page by page, for the bulk comparison",
        }[r.key]
        verdict = _verdict(ok) if r.key == "b" else f"{_f(r.ratio)}x, {'within' if ok else 'above'} 1.2x"
        out.append(
            f"### Backlog {r.key}) {r.orders} orders: wall <= {TARGET_BACKLOG_RATIO}x floor ({scope}) — {verdict}"
        )
        out.append(
            f"Wall {r.wall_s:.1f} s, floor {r.floor_s:.1f} s ({r.binding}; Visma {r.visma_floor_s:.1f} s, "
            f"Shopify {r.shopify_floor_s:.1f} s) = **{_f(r.ratio)}x**, at {r.limits.describe()}. "
            f"Sync CPU {r.cpu_s:.1f} s; waits: {_waits(r)}."
        )
        if not ok and r.ratio is not None:
            waited = sum(r.waits.values())
            serial = r.cpu_s + r.sandbox_cpu_s
            out.append(
                f"Cause: only one order's Python runs at a time (http.TURNS; the round trips overlap), so "
                f"CPU on either side adds to the wall time: the sync process used {r.cpu_s:.0f} s and the "
                f"in-process sandboxes {r.sandbox_cpu_s:.0f} s ({serial:.0f} s together against a "
                f"{r.floor_s:.0f} s floor); logged waits {waited:.0f} s. "
                + (
                    "At this scale the pass is CPU-bound, not rate-bound: the sandboxes' share is "
                    "benchmark overhead (they scan whole tables per lookup), the sync share is what the "
                    "product could cut (a checkpoint save with fsync per order, JSON of every response)."
                    if serial > r.floor_s
                    else "Overlapping the Shopify fetch with the Visma writes would bring it towards the floor."
                )
            )
        burst = r.max_consecutive <= 1
        out.append(
            f"Consecutive 429/THROTTLED: longest run {r.max_consecutive} (Visma 429 answers "
            f"{r.visma.rate_limited}, Shopify THROTTLED {r.shopify.throttled}) — {_verdict(burst)} "
            f"(target: never more than once in a row)."
        )
        out.append("")
    if b is not None or d is not None:
        ok = all(r.rss_mb <= TARGET_RSS_MB for r in rows.values() if r.wall_s)
        flat = b is not None and d is not None and d.rss_mb <= b.rss_mb * (1 + FLAT_TOLERANCE)
        out.append(
            f"### Memory: peak RSS <= {TARGET_RSS_MB:.0f} MB — {_verdict(ok)}; flat from 2,000 to 10,000 "
            f"orders — {_verdict(flat) if b and d else 'not measured'}"
        )
        out.append(
            "Peak RSS of the sync process: "
            + ", ".join(f"{r.key}) {r.orders} orders {r.rss_mb:.1f} MB" for r in rows.values() if r.wall_s)
            + f". Flat means (d) <= (b) + {FLAT_TOLERANCE:.0%}."
        )
        if b is not None and d is not None and not flat and d.orders > b.orders:
            per = (d.rss_mb - b.rss_mb) * 1024 / (d.orders - b.orders)
            out.append(
                f"Cause: RSS grows by ~{per:.1f} kB per order, so the pass keeps some per-order data until "
                f"it ends (tracemalloc in the sync process shows what: bench/README.md)."
            )
        out.append("")
        if b is not None and d is not None:
            flat_cp = d.checkpoint_bytes <= b.checkpoint_bytes * (1 + CHECKPOINT_TOLERANCE)
            capped = {k: n for k, (n, _) in d.checkpoint_parts.items() if k in HISTORY_MAPS}
            full = [k for k, n in capped.items() if n >= HISTORY_CAP]
            growing = [k for k, n in capped.items() if 0 < n < HISTORY_CAP and n > b.checkpoint_parts.get(k, (0, 0))[0]]
            per_entry = {k: b_ / n for k, (n, b_) in d.checkpoint_parts.items() if k in HISTORY_MAPS and n}
            bound = sum(per_entry.values()) * HISTORY_CAP + sum(
                b_ for k, (n, b_) in d.checkpoint_parts.items() if k not in HISTORY_MAPS
            )
            bounded = all(n <= HISTORY_CAP for n in capped.values())
            verdict = "**met**" if flat_cp or bounded else "**not met**"
            out.append(f"### Checkpoint: size bounded, independent of orders transferred — {verdict}")
            out.append(
                f"checkpoint.json after the pass: b) {b.orders} orders {b.checkpoint_bytes} bytes, "
                f"d) {d.orders} orders {d.checkpoint_bytes} bytes"
                + (f", a) {a.checkpoint_bytes} bytes" if a is not None else "")
                + ". Entries in d): "
                + ", ".join(f"{k} {n}" for k, n in capped.items())
                + f" (each map capped at {HISTORY_CAP})."
            )
            if not flat_cp:
                out.append(
                    f"Maps at their cap: {', '.join(full) or 'none'}; still filling: "
                    f"{', '.join(growing) or 'none'}. Every per-order map is capped at {HISTORY_CAP} entries "
                    f"(and drops entries after 30 days), however many orders were ever transferred: with "
                    f"the maps that hold entries here full, the file is ~{bound / 1000:.0f} kB (d)'s bytes "
                    f"per entry); the maps empty here (failed, edited, in doubt) are capped the same way. "
                    f"Refunds are ~2 % of orders, so `refunds_done` fills only after "
                    f"~{HISTORY_CAP * 50:,} orders."
                )
            out.append("")
    out.append(bulk_section(b, e))
    return "\n".join(out)


def bulk_section(b: Row | None, e: Row | None) -> str:
    """(b) reads its backlog with one bulk operation (no bookmark yet), (e) the same orders page by page."""
    head = "### Bulk operation (`bulkOperationRunQuery`) for a first import"
    if b is None or e is None or not b.wall_s or not e.wall_s:
        return f"{head} — **not measured** (needs scenarios b and e)\n"
    used = b.shopify.by_operation.get("BulkOrders", 0) > 0
    faster = (e.wall_s - b.wall_s) / e.wall_s
    lines = [
        f"{head} — **{'used' if used else 'not used'}**: {b.orders} orders in {b.wall_s:.1f} s with it, "
        f"{e.wall_s:.1f} s page by page ({faster:+.0%} time saved)."
    ]
    for r, how in ((b, "bulk"), (e, "pages")):
        lines.append(
            f"- {how}: Shopify {r.shopify.requests} requests ({dict(r.shopify.by_operation)}, result files "
            f"{r.shopify.downloads}), {r.shopify.cost:g} cost points = Shopify floor {r.shopify_floor_s:.1f} s; "
            f"Visma floor {r.visma_floor_s:.1f} s; wall/floor {_f(r.ratio)}."
        )
    lines.append(
        "With the bulk read the Shopify side costs a mutation, a few status polls and the refunds queries, "
        "so the Visma writes (600/min per endpoint) are the only bound left. The sandbox finishes a bulk "
        "operation at once; Shopify takes seconds to minutes for thousands of orders, which the pass waits "
        "out by polling (1 s, growing to 10 s), so the real saving is smaller by that wait."
    )
    return "\n".join(lines) + "\n"


def results_md(
    rows: list[Row], idle: Idle | None, per_order_cost: float | None, mode: str, elapsed_s: float, info: dict[str, Any]
) -> str:
    m = machine()
    lat = [r for r in rows if r.latency_ms]
    rows = [r for r in rows if not r.latency_ms]
    head = [
        "# Benchmark results",
        "",
        f"Generated by `make bench` (`bench/run.py {mode}`), {m['date']}; whole run {elapsed_s:.0f} s.",
        f"Machine: {m['nproc']} CPUs, {m['cpu']}; Python {m['python']}; {m['platform']}.",
        "How it works and why the sizes/limits are what they are: [README.md](README.md).",
        "",
    ]
    head += [f"- {k}: {v}" for k, v in info.items()]
    head += [
        "",
        "## Table",
        "",
        md_table(HEADER, table_rows(rows)),
        "",
        (
            "floor = max(Visma: requests on the busiest endpoint / per-minute limit; Shopify: query cost "
            "actually charged / restore rate). Both APIs start with a full budget (600 Visma requests per "
            "endpoint, 1,000 Shopify points), so a small pass can finish below its floor."
        ),
        "",
    ]
    note = (
        "floor as above (the rate limits only); requests x latency = what one request at a time must take "
        "for the latency alone. "
        + (
            "Each pass runs with `[sync] concurrency = 1` (one request at a time) and with the default."
            if any(r.in_flight != "1 at a time" for r in lat)
            else "This build has no `[sync] concurrency` key yet: a pass sends one request at a time, so every "
            "row is the one-request-at-a-time run; the overlapped runs join this table once the key exists."
        )
        + f" The targets (issue 15) are the cold backlog of {TARGET_LATENCY_ORDERS:,} orders at "
        + " and ".join(f"{ms} ms <= {x}x" for ms, x in TARGET_LATENCY_RATIO.items())
        + " (`--full`); smaller runs and the booked-and-paid workflow are reported against the same floor."
    )
    return (
        "\n".join(head)
        + "\n"
        + targets({r.key: r for r in rows}, idle, per_order_cost)
        + "\n"
        + latency_section(lat, note)
        + "\n"
        + breakdown(rows + lat)
    )
