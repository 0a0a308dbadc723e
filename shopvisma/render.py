"""The one renderer: human text (stderr) or the `--json` document (stdout) for every command.

Human text is plain, one line per order, so cron mail stays short and greppable;
the JSON forms are the stable, machine-readable ones. Commands hand their result
here with the console; which form, and whether -q silences it, is decided here
and nowhere else.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, TextIO

from shopvisma.engine.outcomes import PassResult, Sink

if TYPE_CHECKING:
    from shopvisma.console import Console
    from shopvisma.engine.outcomes import OrderOutcome, PayoutOutcome


def _out(console: Console, line: str = "") -> None:
    console.say(line, always=True)  # the callers below already decided that -q shows this


# --------------------------------------------------------------------------- a pass


def pass_sink(console: Console, *, dry: bool = False) -> Sink:
    """Where each order's outcome goes as it settles: the --json spool, a stderr line, or
    (under -q) nowhere; the pass then keeps only failed/edited outcomes (flat memory)."""
    if console.json:
        return JsonSpool()
    if console.quiet:
        return lambda outcome: None
    if console.progress:
        return ProgressSink(console, dry=dry)
    return lambda outcome: print_outcome(console, outcome, dry=dry)


class ProgressSink:
    """On a terminal: each order's line as it settles, printed above one live rich line (orders
    settled, time elapsed) that disappears when the pass ends. Never in cron mail or --json:
    Console.progress is false unless stderr is a terminal. rich loads only here."""

    def __init__(self, console: Console, *, dry: bool) -> None:
        from rich.console import Console as RichConsole
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self._console, self._dry = console, dry
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.completed} order(s) settled"),
            TimeElapsedColumn(),
            console=RichConsole(file=console.stderr, highlight=False),
            transient=True,
        )
        self._task = self._progress.add_task("pass", total=None)
        self._live = False

    def __call__(self, outcome: OrderOutcome) -> None:
        import dataclasses
        import io

        if not self._live:
            self._progress.start()
            self._live = True
        buffer = io.StringIO()
        print_outcome(dataclasses.replace(self._console, stderr=buffer), outcome, dry=self._dry)
        text = buffer.getvalue().rstrip("\n")
        if text:
            self._progress.console.print(text, markup=False, highlight=False, soft_wrap=True)
        self._progress.advance(self._task)

    def close(self) -> None:
        if self._live:
            self._progress.stop()
            self._live = False


def show_pass(console: Console, result: PassResult, sink: Sink | None = None) -> None:
    """The end of `sync`/`dry-run`/`replay`: the JSON document, the summary, or under -q
    one line only when something failed. Without a sink the outcomes were kept: print them."""
    if isinstance(sink, ProgressSink):
        sink.close()  # the live line goes before the summary is printed
    if console.json:
        if isinstance(sink, JsonSpool):
            sink.write_document(result, console.stdout)
        else:
            console.emit_json(result.as_dict())
    elif not console.quiet:
        if sink is None:
            print_pass(console, result)
        else:
            print_summary(console, result)
    elif result.exit_code:
        print_failures(console, result)


def pass_summary(result: PassResult) -> str:
    """The one line a monitor (and -q cron mail) shows: counts, then the first failed orders."""
    counts = ", ".join(f"{n} {k}" for k, n in {**result.counts, **payout_counts(result)}.items()) or "nothing to do"
    failed = [f"{o.name}: {o.reason}" for o in result.outcomes if o.status == "failed"]
    failed += [f"payout {p.payout}: {p.reason}" for p in result.payouts if p.status == "pending"]
    tail = ""
    if failed:
        tail = "; failed " + "; ".join(failed[:3]) + (f"; +{len(failed) - 3} more" if len(failed) > 3 else "")
    return counts + tail


def print_pass(console: Console, result: PassResult) -> None:
    """A pass whose outcomes were kept (demo): every line, then the summary."""
    for o in result.outcomes:
        print_outcome(console, o, dry=result.command == "dry-run")
    print_summary(console, result)


def print_outcome(console: Console, o: OrderOutcome, *, dry: bool) -> None:
    """One order's line, printed as the order settles (a long backlog shows its progress)."""
    if o.status == "failed":
        _out(console, f"FAILED  {o.name}: {o.reason}")
        if o.hint:
            _out(console, f"        what to do: {o.hint}")
    elif o.status == "created":
        _out(
            console,
            f"created {o.name} → Visma {o.kind} {o.document_id} (total {o.visma_total or o.expected_total} {o.currency};"
            f" customer {o.customer}; articles {', '.join(o.articles) or '-'})",
        )
    elif o.status == "would-create":
        _out(
            console,
            f"would create {o.kind} for {o.name}: total {o.expected_total} {o.currency};"
            f" customer {o.customer}; articles {', '.join(o.articles) or '-'}",
        )
        if o.body is not None:
            _out(console, json.dumps(o.body, indent=2, ensure_ascii=False, default=str))
    elif o.status == "edited":
        _out(console, f"EDITED  {o.name}: {o.reason}")
        _out(console, f"        what to do: {o.hint}")
    elif console.verbose and o.status == "exists":
        _out(console, f"exists  {o.name} → Visma {o.kind} {o.document_id}")


def print_summary(console: Console, result: PassResult) -> None:
    """Silent when the pass changed and refused nothing, so an idle cron pass mails nothing."""
    dry = result.command == "dry-run"
    for p in result.payouts:
        print_payout(console, p, dry=dry)
    counts = ", ".join(f"{v} {k}" for k, v in {**result.counts, **payout_counts(result)}.items()) or "nothing to do"
    verb = "dry-run" if dry else "sync"
    if (
        result.exit_code
        or console.verbose
        or dry
        or result.count("created")
        or payout_counts(result).get("payouts booked")
    ):
        _out(
            console,
            f"{verb}: {counts} (requests: Shopify {result.shopify_requests}, Visma {result.visma_requests},"
            f" writes {result.visma_writes})",
        )
    if result.tally["write-back-new-errors"]:  # engine/writeback.py: once per new error, not every pass
        _out(
            console,
            f"WARNING write-back: {result.tally['write-back-queued']} order(s) not tagged in Shopify yet; the next"
            " sync retries (see shopvisma status)",
        )


def payout_counts(result: PassResult) -> dict[str, int]:
    """Payout counts for the summary line ("payouts booked", "payouts pending", ...)."""
    from collections import Counter

    tally = Counter(p.status for p in result.payouts)
    return {f"payouts {k}": tally[k] for k in ("booked", "exists", "would-book", "pending", "waiting") if tally[k]}


def print_payout(console: Console, p: PayoutOutcome, *, dry: bool) -> None:
    """One payout's line; `exists`, `waiting` and `skipped` only under -v (or in a dry-run),
    so an idle cron pass stays silent while a payout is in transit."""
    money = f"net {p.net} {p.currency}" + (f", gross {p.gross}, fees {p.fees}" if p.gross else "")
    if p.status == "booked":
        _out(
            console, f"booked  payout {p.payout} ({p.date}) → Visma voucher {p.voucher_number or p.voucher_id}: {money}"
        )
    elif p.status == "would-book":
        _out(console, f"would book payout {p.payout} ({p.date}) as one voucher: {money}")
        for r in p.rows:
            _out(
                console,
                f"        {r['account']:>6}  debit {r['debit']:>12}  credit {r['credit']:>12}  {r.get('text', '')}",
            )
        if p.body is not None:
            _out(console, json.dumps(p.body, indent=2, ensure_ascii=False, default=str))
    elif p.status == "pending":
        _out(console, f"PENDING payout {p.payout} ({p.date or '-'}): {p.reason}")
        if p.hint:
            _out(console, f"        what to do: {p.hint}")
    elif console.verbose or dry:
        where = f" → Visma voucher {p.voucher_number or p.voucher_id}" if p.status == "exists" else ""
        _out(console, f"{p.status:<7} payout {p.payout} ({p.date}){where}{': ' + p.reason if p.reason else ''}")
    if p.duplicates:
        _out(
            console,
            f"WARNING payout {p.payout}: {p.duplicates + 1} Visma vouchers carry its text; see `shopvisma reconcile`",
        )


class JsonSpool:
    """The --json "orders" list, written to a temporary file as orders settle and copied
    into the one JSON document at the end: the pass never holds every outcome in memory."""

    def __init__(self) -> None:
        self.file: Any = None  # created on the first order: an idle pass makes no file
        self.n = 0

    def __call__(self, o: OrderOutcome) -> None:
        from shopvisma.http import encode_json

        if self.file is None:
            import tempfile

            self.file = tempfile.TemporaryFile(mode="w+", encoding="utf-8")
        item = encode_json(o.as_dict(), indent=2).decode("utf-8").replace("\n", "\n    ")
        self.file.write(("," if self.n else "") + "\n    " + item)
        self.n += 1

    def write_document(self, result: PassResult, out: TextIO) -> None:
        from shopvisma.http import encode_json

        head = encode_json(result.as_dict(orders=False), indent=2).decode("utf-8")
        out.write(head[: head.rstrip().rindex("}")].rstrip() + ',\n  "orders": [')
        if self.file is not None:
            self.file.seek(0)
            while chunk := self.file.read(1 << 16):
                out.write(chunk)
            self.file.close()
        out.write(("\n  ]" if self.n else "]") + "\n}\n")
        out.flush()


def print_failures(console: Console, result: PassResult) -> None:
    """-q (cron): one summary line on stderr, so the mail is short; `status` has the rest."""
    _out(console, f"shopvisma {result.command}: {pass_summary(result)} (details: shopvisma status)")


# --------------------------------------------------------------------------- status, reconcile, doctor


def show_status(console: Console, doc: dict[str, Any]) -> None:
    """`status` is asked for by a person or a script: -q does not silence it."""
    if console.json:
        console.emit_json(doc)
    else:
        print_status(console, doc)


def show_reconcile(console: Console, doc: dict[str, Any]) -> None:
    if console.json:
        console.emit_json(doc)
    else:
        print_reconcile(console, doc)


def show_doctor(console: Console, doc: dict[str, Any]) -> None:
    """Under -q only a blocking finding is worth a line (doctor may run from cron too)."""
    if console.json:
        console.emit_json(doc)
    elif not console.quiet or doc.get("blocking"):
        print_doctor(console, doc)


def print_status(console: Console, doc: dict[str, Any]) -> None:
    last = doc.get("last_run") or {}
    if last:
        _out(
            console,
            f"last run:   {last.get('time')}  exit {last.get('exit_code')}  {last.get('counts') or last.get('error') or ''}"
            f"  ({last.get('duration_s')} s)",
        )
    else:
        _out(console, "last run:   never")
    _out(console, f"bookmark:   {doc.get('bookmark') or 'none (first run reads from criteria.created_at_min)'}")
    _out(console, f"workflow:   {doc.get('workflow')}")
    grant = doc.get("visma_grant") or {}
    if grant.get("present"):
        _out(
            console,
            f"visma:      grant present, refresh token last rotated {grant.get('refresh_token_rotated_at') or 'unknown'}",
        )
    else:
        _out(console, "visma:      no grant stored — run: shopvisma login visma")
    lock = doc.get("lock") or {}
    _out(console, f"lock:       {'held by ' + str(lock.get('pid')) if lock.get('held') else 'free'}")
    pending = doc.get("pending") or []
    _out(console, f"pending:    {len(pending)} order(s)")
    for p in pending:
        _out(console, f"  {p['order']}: {p.get('reason')} (attempts {p.get('attempts')}, since {p.get('first_seen')})")
        if p.get("hint"):
            _out(console, f"    what to do: {p['hint']}")
    for a in doc.get("attention") or []:
        what = a.get("reason") or f"edited in Shopify after transfer: total {a.get('was')} → {a.get('now')}"
        _out(console, f"  attention {a['order']}: {what} (document {a.get('document_id')})")
    for p in doc.get("in_doubt") or []:
        _out(
            console,
            f"  {p['order']}: outcome unknown since {p.get('started_at')}; the next sync looks it up in Visma first",
        )
    if "payments" in doc:
        pay = doc["payments"]
        _out(
            console,
            f"payments:   {pay['invoices_recent']} booked invoice(s) in recent transfers, {pay['paid_recent']} "
            f"fully paid; last run: {pay['last_run_booked']} booked, {pay['last_run_payments']} payment(s) "
            f"registered; {len(pay['pending'])} payment(s) pending",
        )
        for p in pay["pending"]:
            key = f" (set {p['field']})" if p.get("field") else ""
            _out(console, f"  {p['order']}: {p.get('reason')}{key}")
    if "payouts" in doc:
        print_payout_status(console, doc["payouts"])
    if "write_back" in doc:
        wb = doc["write_back"]
        if wb["queued"]:
            _out(console, f"write-back: {wb['queued']} order(s) not tagged in Shopify yet (the next sync retries)")
        else:
            _out(console, "write-back: nothing queued")
        for w in wb["oldest"]:
            since = f"attempts {w.get('attempts')}, since {w.get('first_seen')}"
            _out(console, f"  {w['order']} ({w.get('tag')}): {w.get('error')} ({since})")


def print_payout_status(console: Console, st: dict[str, Any]) -> None:
    last = st.get("last_booked")
    if last:
        _out(
            console,
            f"payouts:    last booked {last.get('payout')} ({last.get('date')}, net {last.get('net')} "
            f"{last.get('currency')}) → Visma voucher {last.get('number') or last.get('voucher_id')}",
        )
    else:
        _out(console, "payouts:    none booked yet")
    _out(
        console,
        f"            {len(st.get('pending') or [])} pending, {len(st.get('waiting') or [])} waiting for Shopify",
    )
    for p in st.get("pending") or []:
        _out(console, f"  payout {p['payout']} ({p.get('date')}): {p.get('reason')} (attempts {p.get('attempts')})")
        if p.get("hint"):
            _out(console, f"    what to do: {p['hint']}")
    for p in st.get("waiting") or []:
        _out(console, f"  payout {p['payout']} ({p.get('date')}): {p.get('reason')}")
    for p in st.get("in_doubt") or []:
        _out(
            console,
            f"  payout {p['payout']}: voucher outcome unknown since {p.get('started_at')}; the next sync looks it up",
        )


def print_reconcile(console: Console, doc: dict[str, Any]) -> None:
    _out(console, f"reconcile {doc['from'][:10]} .. {doc['to'][:10]}: {doc['orders']} order(s), {doc['matched']} match")
    if "payouts" in doc:
        _out(console, f"          {doc['payouts']} PAID payout(s), {doc['payouts_matched']} match their voucher")
    for f in doc["findings"]:
        extra = f"  [{', '.join(f['documents'])}]" if f.get("documents") else ""
        _out(console, f"  {f['problem']:<15} {f['order']}: {f['detail']}{extra}")
    if doc["ok"]:
        _out(console, "  Shopify and Visma agree.")


def print_doctor(console: Console, doc: dict[str, Any]) -> None:
    """The preflight table (item | observed | what shopvisma will do), then the company facts
    for the [mapping] table as doctor always listed them. Under -q only the blocking rows."""
    quiet = console.quiet
    rows = [r for r in doc.get("observations") or [] if r.get("blocking") or not quiet]
    if rows:
        _doctor_table(console, rows)
    blocking = [r for r in doc.get("observations") or [] if r.get("blocking")]
    if quiet:
        if blocking:
            _out(console, f"doctor: {len(blocking)} blocking; exit {doc.get('exit_code')}")
        return
    c = doc.get("company")
    if c is None:
        _out(console, "company: not readable (see the rows above)")
    else:
        _out(
            console,
            f"company: country {c['country']}, currency {c['currency']}, "
            f"prices excl. VAT for private persons: {c['show_prices_excl_vat_pc']}",
        )
        _out(console, f"default terms of payment: {c['terms_of_payment_id']}; unit for new articles: {c['unit_id']}")
    if doc.get("codings"):
        _out(console, 'article account codings (use an Id in [mapping] vat_codings = {"25" = "<Id>"}):')
        for cod in doc["codings"]:
            flag = "" if cod["active"] else " (inactive)"
            _out(console, f"  {cod['id']}  {cod['vat_percent']:>5} %  {cod['type']:<10} {cod['name']}{flag}")
    if doc.get("vat_mapping"):
        _out(console, "VAT rate → coding the next sync will use:")
        for rate, coding in doc["vat_mapping"].items():
            _out(console, f"  {rate:>5} % → {coding}")
    if blocking:
        first = blocking[0]
        _out(
            console,
            f"doctor: {len(blocking)} blocking row(s) (marked BLOCKS); exit {doc.get('exit_code')}. "
            f"First: {first['item']}: {first['action']}",
        )
    else:
        _out(console, "doctor: nothing blocks a sync")


def _doctor_table(console: Console, rows: list[dict[str, Any]]) -> None:
    """Plain aligned columns, long cells wrapped, so cron mail and a narrow terminal both read it."""
    import textwrap

    item_w = min(34, max(len("item"), *(len(r["item"]) for r in rows))) + 2
    obs_w = 44
    _out(console, f"       {'item':<{item_w}}{'observed':<{obs_w}}  what shopvisma will do")
    for r in rows:
        mark = "BLOCKS " if r.get("blocking") else "       "
        left = textwrap.wrap(str(r["observed"]), obs_w) or [""]
        right = textwrap.wrap(str(r["action"]), 56) or [""]
        for i in range(max(len(left), len(right))):
            head = f"{mark}{r['item']:<{item_w}}" if i == 0 else " " * (7 + item_w)
            obs = left[i] if i < len(left) else ""
            act = right[i] if i < len(right) else ""
            _out(console, f"{head}{obs:<{obs_w}}  {act}".rstrip())
