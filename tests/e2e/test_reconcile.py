"""`shopvisma reconcile` finds a planted missing, duplicated and mismatched document, and
numbers and finds refunds' credits exactly as sync makes them, also where Visma refuses
the `$filter` on YourReference."""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from shopvisma.commands.reconcile import reconcile
from shopvisma.config.settings import load_settings
from shopvisma.engine.selection import credited_refunds
from shopvisma.engine.sync_pass import Services
from shopvisma.sandbox.seed.orders import generate_orders
from shopvisma.visma.errors import VismaValidationError


def test_reconcile_finds_missing_duplicate_and_mismatch(world) -> None:
    orders = [
        o
        for o in generate_orders(40, seed=21)
        if o["displayFinancialStatus"] == "PAID" and not o.get("cancelledAt") and not o.get("test")
    ][:5]
    for o in orders:
        world.shop.add_order(o)
    assert world.sync_json()[0] == 0
    res = world.cli("reconcile", "--from", "2026-01-01", "--to", "2026-12-31", "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["ok"] is True

    drafts = {d["YourReference"]: d for d in world.visma.drafts.values()}
    missing, duplicate, mismatch = (o["name"] for o in orders[:3])
    del world.visma.drafts[drafts[missing]["Id"]]
    twin = copy.deepcopy(drafts[duplicate])
    twin["Id"] = "00000000-0000-4000-8000-000000000001"
    world.visma.drafts[twin["Id"]] = twin
    world.visma.drafts[drafts[mismatch]["Id"]]["TotalAmount"] += 10

    res = world.cli("reconcile", "--from", "2026-01-01", "--to", "2026-12-31", "--json")
    assert res.exit_code == 1
    found = {(f["order"], f["problem"]) for f in json.loads(res.stdout)["findings"]}
    assert found == {(missing, "missing"), (duplicate, "duplicate"), (mismatch, "total-mismatch")}
    human = world.cli("reconcile", "--from", "2026-01-01", "--to", "2026-12-31")
    assert missing in human.stderr and "duplicate" in human.stderr


# -- reconcile and sync agree on which refunds are credited and how they are numbered -------

_EQ = re.compile(r"YourReference eq '((?:[^']|'')*)'")


def _money(amount: str) -> dict[str, Any]:
    return {
        "shopMoney": {"amount": amount, "currencyCode": "SEK"},
        "presentmentMoney": {"amount": amount, "currencyCode": "SEK"},
    }


def _refund(rid: str, day: int, total: str) -> dict[str, Any]:
    return {
        "id": f"gid://shopify/Refund/{rid}",
        "createdAt": f"2026-03-{day:02d}T12:00:00Z",
        "totalRefundedSet": _money(total),
        "refundLineItems": {"nodes": []},
        "refundShippingLines": {"nodes": []},
    }


def _order(name: str = "#1001", refunds: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "id": f"gid://shopify/Order/{name[1:]}",
        "name": name,
        "email": "a@example.com",
        "createdAt": "2026-03-01T10:00:00Z",
        "updatedAt": "2026-03-06T10:00:00Z",
        "displayFinancialStatus": "PARTIALLY_REFUNDED",
        "displayFulfillmentStatus": "FULFILLED",
        "currencyCode": "SEK",
        "presentmentCurrencyCode": "SEK",
        "totalPriceSet": _money("100.00"),
        "totalTaxSet": _money("20.00"),
        "lineItems": {"nodes": []},
        "refunds": refunds or [],
    }


# Listed out of date order, with a restock-only refund (no money back, so no credit) in between.
REFUNDS = [_refund("3", 5, "30.00"), _refund("1", 2, "0.00"), _refund("2", 3, "10.00")]


class FakeShopify:
    def __init__(self, nodes: list[dict[str, Any]]):
        self.nodes = nodes

    def iter_orders(self, search: str) -> Any:
        return iter(self.nodes)


class FakeVisma:
    """A list endpoint per kind; `refuse` = Visma answers 400 to any $filter (as on a property off
    its whitelist), so the lookup must fall back to the whole list."""

    def __init__(self, docs: dict[str, list[dict[str, Any]]], *, refuse: bool):
        self.docs, self.refuse = docs, refuse
        self.calls: list[tuple[str, str | None]] = []

    def iter_list(self, path: str, *, filter: str | None = None, **kw: Any) -> Any:
        self.calls.append((path, filter))
        if filter and self.refuse:
            raise VismaValidationError(
                "Visma GET /x: HTTP 400 ErrorCode 2000: filter not allowed", status=400, error_code=2000
            )
        rows = self.docs.get(path, [])
        if filter:
            # as a case-insensitive database collation would: looser than asked, matched again by the product
            wanted = {m.replace("''", "'").strip().lower() for m in _EQ.findall(filter)}
            rows = [d for d in rows if str(d.get("YourReference")).strip().lower() in wanted]
        return iter(rows)


def _settings(tmp_path: Path, workflow: str = "invoice-draft") -> Any:
    path = tmp_path / "config.toml"
    path.write_text(
        f'[shopify]\nshop = "example.myshopify.com"\n[visma]\nworkflow = "{workflow}"\n'
        "[criteria]\nfinancial_status = []\n",
        encoding="utf-8",
    )
    return load_settings(path)


def _run(
    tmp_path: Path,
    docs: dict[str, list[dict[str, Any]]],
    *,
    refuse: bool,
    workflow: str = "invoice-draft",
    nodes: list[dict[str, Any]] | None = None,
) -> tuple[dict[str, Any], FakeVisma]:
    visma = FakeVisma(docs, refuse=refuse)
    services = Services(
        shopify=FakeShopify(nodes or [_order(refunds=REFUNDS)]), visma=visma, save_checkpoint=lambda cp: None
    )
    report = reconcile(
        _settings(tmp_path, workflow), services, datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC)
    )
    return report, visma


def _doc(i: int, ref: str, total: str, vat: str | None = None) -> dict[str, Any]:
    return {
        "Id": f"d{i}",
        "YourReference": ref,
        "TotalAmount": total,
        **({"TotalVatAmount": vat} if vat is not None else {}),
    }


def test_credited_refunds_number_every_refund_by_date_and_keep_those_with_money() -> None:
    from shopvisma.shopify.order import parse_order

    got = credited_refunds(parse_order(_order(refunds=REFUNDS)))
    assert [(i, r.id.rsplit("/", 1)[1], str(r.total)) for i, r in got] == [(2, "2", "10.00"), (3, "3", "30.00")]


@pytest.mark.parametrize("refuse", [False, True], ids=["filter", "filter-refused"])
@pytest.mark.parametrize("workflow,kind", [("invoice-draft", "customerinvoicedrafts"), ("order", "orders")])
def test_reconcile_numbers_refunds_as_sync_does(tmp_path: Path, refuse: bool, workflow: str, kind: str) -> None:
    docs = {
        kind: [_doc(1, "#1001", "100.00", "20.00")],
        "customerinvoicedrafts": ([_doc(1, "#1001", "100.00", "20.00")] if kind == "customerinvoicedrafts" else [])
        + [_doc(2, " #1001 refund 2", "-10.00"), _doc(3, "#1001 REFUND 3", "-30.00")],
    }
    report, visma = _run(tmp_path, docs, refuse=refuse, workflow=workflow)
    assert report["findings"] == [] and report["ok"] is True and report["matched"] == 1
    if refuse:  # one refused filter per kind, then one pass over the whole list: never a crash
        assert (kind, None) in visma.calls and ("customerinvoicedrafts", None) in visma.calls
    else:
        assert all(f is not None for _, f in visma.calls)
        assert not any("refund 1" in (f or "") for _, f in visma.calls)  # a restock is never looked for


@pytest.mark.parametrize("refuse", [False, True], ids=["filter", "filter-refused"])
def test_reconcile_reports_a_missing_credit_by_its_sync_number(tmp_path: Path, refuse: bool) -> None:
    docs = {
        "customerinvoicedrafts": [
            _doc(1, "#1001", "100.00", "20.00"),
            _doc(2, "#1001 refund 2", "-10.00"),
            _doc(3, "#1001 refund 2", "-10.00"),
        ],
        "customerinvoices": [_doc(4, "#1002", "100.00", "20.00")],
    }
    nodes = [_order(refunds=REFUNDS), _order("#1002"), _order("#1003")]
    report, _ = _run(tmp_path, docs, refuse=refuse, nodes=nodes)
    found = {(f["order"], f["problem"]) for f in report["findings"]}
    assert found == {("#1001 refund 2", "duplicate"), ("#1001 refund 3", "missing"), ("#1003", "missing")}
    missing = next(f for f in report["findings"] if f["order"] == "#1001 refund 3")
    assert missing["shopify_total"] == "30.00"
    assert report["matched"] == 1 and report["orders"] == 3


# -- the lookup sync and reconcile share ---------------------------------------------------


class CountingVisma(FakeVisma):
    """Refuses a $filter only from the `refuse_from`-th filtered request on (0 = always)."""

    def __init__(self, docs: dict[str, list[dict[str, Any]]], *, refuse_from: int | None):
        super().__init__(docs, refuse=False)
        self.refuse_from = refuse_from

    def iter_list(self, path: str, *, filter: str | None = None, **kw: Any) -> Any:
        filtered = sum(1 for _, f in self.calls if f)
        self.refuse = self.refuse_from is not None and filter is not None and filtered >= self.refuse_from
        return super().iter_list(path, filter=filter, **kw)


def _view(visma: Any, **kw: Any) -> Any:
    from shopvisma.engine.records import VismaRecords

    return VismaRecords(visma, None, **kw)  # type: ignore[arg-type]  # settings are not read by lookups


def test_a_known_unfilterable_property_is_never_asked_with_a_filter() -> None:
    visma = CountingVisma({"customerinvoicedrafts": [_doc(1, "#1001", "1")]}, refuse_from=0)
    view = _view(visma, unfilterable={("customerinvoicedrafts", "YourReference")})
    assert [d["Id"] for d in view.where("customerinvoicedrafts", "YourReference", ["#1001"])] == ["d1"]
    assert visma.calls == [("customerinvoicedrafts", None)] and view.refused_filters == set()


def test_a_refused_filter_is_learned_and_exposed() -> None:
    visma = CountingVisma({"customers": [{"Id": "c1", "EmailAddress": " A@Example.com "}]}, refuse_from=0)
    view = _view(visma)
    view.lookup_customers(["a@example.com"])
    view.lookup_customers(["b@example.com"])
    assert [c["Id"] for c in view.customers["a@example.com"]] == ["c1"] and view.customers["b@example.com"] == []
    assert view.refused_filters == {("customers", "EmailAddress")}
    assert [f for _, f in visma.calls] == ["EmailAddress eq 'a@example.com'", None, None]


def test_a_refusal_midway_through_the_batches_finds_every_document_once() -> None:
    from shopvisma.engine.records import FILTER_BATCH

    refs = [f"#{1000 + i}" for i in range(FILTER_BATCH * 2 + 5)]
    docs = {"customerinvoicedrafts": [_doc(i, f" {ref} " if i % 2 else ref, "1") for i, ref in enumerate(refs)]}
    visma = CountingVisma(docs, refuse_from=1)
    view = _view(visma)
    view.lookup_documents(refs, [("customerinvoicedrafts", "draft")])
    assert sorted(view.documents) == sorted(refs)
    assert [f is None for _, f in visma.calls] == [False, False, True]  # batch 1, batch 2 refused, the full list
    found = list(
        _view(visma, unfilterable={("customerinvoicedrafts", "YourReference")}).where(
            "customerinvoicedrafts", "YourReference", refs
        )
    )
    assert len(found) == len(refs) == len({d["Id"] for d in found})
