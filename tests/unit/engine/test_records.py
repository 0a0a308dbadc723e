"""VismaRecords against an in-memory Visma: what makes exactly-once hold on the Visma side.
Lookups are batched (one request per kind for many keys), a refused `$filter` falls back
to the full list and is learned, and a create whose answer was lost is found by its key."""

from __future__ import annotations

from decimal import Decimal

import pytest
from unit.engine.fakes import FakeVisma

from shopvisma.config.settings import Settings
from shopvisma.engine.records import FILTER_BATCH, VismaRecords, WriteNotDoneError
from shopvisma.engine.references import CREDIT_KINDS, DRAFT, document_kinds
from shopvisma.mapping.rows import ArticleSpec


def _draft(visma: FakeVisma, ref: str) -> dict[str, object]:
    doc = {"Id": f"d-{ref}", "YourReference": ref, "TotalAmount": 1, "CustomerId": "c1"}
    visma.tables["customerinvoicedrafts"][doc["Id"]] = doc
    return doc


def test_lookups_are_batched_one_request_per_kind(visma: FakeVisma, settings: Settings) -> None:
    refs = [f"#{1000 + i}" for i in range(FILTER_BATCH)]
    for ref in refs[::2]:
        _draft(visma, ref)
    records = VismaRecords(visma, settings)
    records.lookup_documents(refs, document_kinds("invoice-draft"))
    assert sorted(records.documents) == sorted(refs[::2])
    assert visma.requests == {("GET", "customerinvoicedrafts"): 1, ("GET", "customerinvoices"): 1}
    records.lookup_documents(refs, document_kinds("invoice-draft"))  # known, or known absent: no request
    assert sum(visma.requests.values()) == 2


def test_references_match_trimmed_and_case_insensitively(visma: FakeVisma, settings: Settings) -> None:
    _draft(visma, " #1001 ")
    records = VismaRecords(visma, settings)
    records.lookup_documents(["#1001"], [DRAFT])
    assert records.documents["#1001"]["_kind"] == "draft"


def test_a_refused_filter_falls_back_to_the_full_list_and_is_learned(settings: Settings) -> None:
    visma = FakeVisma(refuse={("customerinvoicedrafts", "YourReference")})
    _draft(visma, "#1001")
    _draft(visma, "#1002")
    records = VismaRecords(visma, settings)
    records.lookup_documents(["#1001"], [DRAFT])
    assert list(records.documents) == ["#1001"]
    assert visma.filters == [("customerinvoicedrafts", "YourReference eq '#1001'"), ("customerinvoicedrafts", None)]
    assert records.refused_filters == {("customerinvoicedrafts", "YourReference")}
    assert records.settle_observations("sync") is True
    assert records.observations.unfilterable == [["customerinvoicedrafts", "YourReference"]]
    again = VismaRecords(visma, settings, observations=records.observations)
    again.lookup_documents(["#1002"], [DRAFT])
    assert visma.filters[-1] == ("customerinvoicedrafts", None)  # not asked with a filter again


def test_reconcile_sees_every_duplicate(visma: FakeVisma, settings: Settings) -> None:
    _draft(visma, "#1001")
    visma.tables["customerinvoices"]["i1"] = {"Id": "i1", "YourReference": "#1001"}
    found = VismaRecords(visma, settings).documents_by_reference(["#1001", "#1002"], CREDIT_KINDS)
    assert [(d["_kind"], d["Id"]) for d in found["#1001"]] == [("draft", "d-#1001"), ("invoice", "i1")]
    assert "#1002" not in found


def test_a_document_whose_answer_was_lost_is_found_by_its_reference(visma: FakeVisma, settings: Settings) -> None:
    records = VismaRecords(visma, settings)
    visma.lose_next.add("customerinvoicedrafts")
    doc = records.create_document(*DRAFT, {"YourReference": "#1001", "CustomerId": "c1", "Rows": []}, "#1001")
    assert doc["YourReference"] == "#1001"
    assert len(visma.tables["customerinvoicedrafts"]) == 1 and visma.write_count == 1


def test_a_lost_create_that_was_not_made_fails_the_order_for_now(visma: FakeVisma, settings: Settings) -> None:
    records = VismaRecords(visma, settings)

    def lost(path: str, body: object, params: object = None) -> dict[str, object]:
        from shopvisma.visma.errors import AmbiguousWriteError

        raise AmbiguousWriteError("timeout", method="POST", path=path)

    visma.post = lost
    with pytest.raises(WriteNotDoneError) as exc:
        records.create_document(*DRAFT, {"YourReference": "#1001"}, "#1001")
    assert exc.value.order_name == "#1001" and "not made" in exc.value.reason


def test_an_article_and_a_customer_are_found_by_key_after_a_lost_answer(visma: FakeVisma, settings: Settings) -> None:
    records = VismaRecords(visma, settings)
    spec = ArticleSpec(number="MUG", name="Mugg", coding_id="coding-25", unit_id="unit-st", vat_percent=Decimal(25))
    visma.lose_next.add("articles")
    assert records.create_article(spec)["Number"] == "MUG"
    visma.lose_next.add("customers")
    cust = records.create_customer(
        "a@example.se", {"EmailAddress": "a@example.se", "CurrencyCode": "SEK", "CustomerNumber": "1", "IsActive": True}
    )
    assert cust["EmailAddress"] == "a@example.se"
    assert len(visma.tables["articles"]) == len(visma.tables["customers"]) == 1
