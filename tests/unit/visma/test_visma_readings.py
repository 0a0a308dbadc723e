"""A coding's VAT rate under every reading: VatRatePercent as percent (25) or fraction (0.25),
VatRate as "25%", "25,00 %", "25" or a code, codings in any order, labels that disagree."""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shopvisma.engine.records import VismaRecords, load_company_reading
from shopvisma.errors import ExitCode, ShopvismaError
from shopvisma.visma.readings import FRACTION, MIXED, PERCENT, coding_rates, label_percent, read_codings

RATES = [Decimal(r) for r in ("0", "6", "10", "12", "14", "15", "24", "25", "25.5")]
LABELS = ("pct", "pct-comma-space", "bare", "code", "none")


def label(rate: Decimal, style: str) -> Any:
    if style == "pct":
        return f"{rate}%"
    if style == "pct-comma-space":
        return f"{rate:.2f}".replace(".", ",") + " %"
    if style == "bare":
        return str(rate)
    if style == "code":
        return "MP1"
    return None


def served(rate: Decimal, scale: str) -> float:
    """As Visma's JSON arrives through requests: a float."""
    return float(rate / 100 if scale == FRACTION else rate)


def coding(i: int, rate: Decimal, scale: str, style: str, active: bool = True) -> dict[str, Any]:
    return {
        "Id": f"c{i}",
        "Name": f"Varor {rate}% moms",
        "Type": "Goods",
        "IsActive": active,
        "VatRatePercent": served(rate, scale),
        "VatRate": label(rate, style),
    }


codings_spec = st.lists(
    st.tuples(st.sampled_from(RATES), st.sampled_from(LABELS), st.booleans()), min_size=1, max_size=12
)


@settings(max_examples=150, deadline=None)
@given(spec=codings_spec, scale=st.sampled_from([PERCENT, FRACTION]), data=st.data())
def test_one_scale_any_order_reads_every_rate(
    spec: list[tuple[Decimal, str, bool]], scale: str, data: st.DataObject
) -> None:
    codings = [coding(i, rate, scale, style, active) for i, (rate, style, active) in enumerate(spec)]
    reading = read_codings(codings)
    assert reading.rates == {f"c{i}": rate for i, (rate, _, _) in enumerate(spec)}
    assert reading.scale == (scale if any(rate for rate, _, _ in spec) else None)
    shuffled = data.draw(st.permutations(codings))
    assert read_codings(shuffled) == reading
    assert coding_rates(shuffled) == reading.rates


@settings(max_examples=150, deadline=None)
@given(spec=codings_spec, data=st.data())
def test_mixed_scales_are_read_per_coding_from_the_label(
    spec: list[tuple[Decimal, str, bool]], data: st.DataObject
) -> None:
    scales = data.draw(st.lists(st.sampled_from([PERCENT, FRACTION]), min_size=len(spec), max_size=len(spec)))
    codings = [coding(i, rate, s, "pct") for i, ((rate, _, _), s) in enumerate(zip(spec, scales, strict=True))]
    reading = read_codings(data.draw(st.permutations(codings)))
    assert reading.rates == {f"c{i}": rate for i, (rate, _, _) in enumerate(spec)}
    kinds = {s for (rate, _, _), s in zip(spec, scales, strict=True) if rate}
    assert reading.scale == (MIXED if len(kinds) == 2 else kinds.pop() if kinds else None)


@settings(max_examples=150, deadline=None)
@given(spec=codings_spec, scale=st.sampled_from([PERCENT, FRACTION]), data=st.data())
def test_a_label_that_disagrees_stops_with_the_coding_named(
    spec: list[tuple[Decimal, str, bool]], scale: str, data: st.DataObject
) -> None:
    codings = [coding(i, rate, scale, style) for i, (rate, style, _) in enumerate(spec)]
    bad = data.draw(st.integers(0, len(codings) - 1))
    truth = spec[bad][0]
    wrong = data.draw(st.sampled_from([r for r in RATES if r != truth]))
    codings[bad]["VatRate"] = f"{wrong}%"
    with pytest.raises(ShopvismaError) as ei:
        read_codings(data.draw(st.permutations(codings)))
    err = ei.value
    assert err.exit_code == ExitCode.CONFIG
    assert f"c{bad}" in err.message and codings[bad]["Name"] in err.message and f"{wrong}%" in err.message
    assert "vat_codings" in err.hint and "docs/configuration.md" in err.hint
    # The config can settle it by stating the rate (either reading), and an inactive coding never stops a run.
    settled = read_codings(codings, stated={f"c{bad}": wrong})
    assert settled.rates[f"c{bad}"] == wrong
    codings[bad]["IsActive"] = False
    assert read_codings(codings).rates[f"c{bad}"] == truth


def test_the_documented_disagreement() -> None:
    with pytest.raises(ShopvismaError, match=r"'Varor' \(abc\) has VatRatePercent 0.25 but VatRate '12%'"):
        read_codings([{"Id": "abc", "Name": "Varor", "VatRatePercent": 0.25, "VatRate": "12%"}])


def test_the_hint_only_decides_what_the_list_cannot() -> None:
    zeros = [{"Id": "z", "VatRatePercent": 0, "VatRate": "0%"}]
    assert read_codings(zeros, FRACTION).scale == FRACTION
    assert read_codings(zeros).scale is None
    percent = [{"Id": "a", "VatRatePercent": 25, "VatRate": "MP1"}, {"Id": "b", "VatRatePercent": 12}]
    assert read_codings(percent, FRACTION) == read_codings(percent)
    assert read_codings(percent).rates == {"a": Decimal(25), "b": Decimal(12)}
    # mixed, with a coding whose label is a code: the earlier observation decides that one
    mixed = [
        {"Id": "a", "VatRatePercent": 25, "VatRate": "25%"},
        {"Id": "b", "VatRatePercent": 0.12, "VatRate": "12%"},
        {"Id": "c", "VatRatePercent": 6, "VatRate": "MP3"},
    ]
    assert read_codings(mixed, PERCENT).rates == {"a": Decimal(25), "b": Decimal(12), "c": Decimal(6)}


def test_impossible_rates_stop_the_run() -> None:
    with pytest.raises(ShopvismaError, match="no VAT rate"):
        read_codings([{"Id": "a", "Name": "x", "VatRatePercent": 2500}])
    assert read_codings([{"Id": "a", "VatRatePercent": None, "VatRate": "25 %"}]).rates == {"a": Decimal(25)}
    assert read_codings([{"Id": "a"}, {"Name": "no id", "VatRatePercent": 25}]).rates == {"a": Decimal(0)}


@pytest.mark.parametrize(
    "text,pct",
    [
        ("25%", "25"),
        ("25,00 %", "25"),
        ("25", "25"),
        (" 12.5 % ", "12.5"),
        ("0.25", "25"),
        ("0%", "0"),
        (25, "25"),
        (0.06, "6"),
        ("MP1", None),
        ("Moms 25%", None),
        (None, None),
        (True, None),
        ("", None),
    ],
)
def test_label_percent(text: Any, pct: str | None) -> None:
    got = label_percent(text)
    assert got == (Decimal(pct) if pct is not None else None)


class FakeCompanyClient:
    def __init__(self, codings: list[dict[str, Any]]):
        self.codings = codings

    def get(self, path: str) -> dict[str, Any]:
        assert path == "companysettings"
        return {"CountryCode": "SE", "CurrencyCode": "SEK", "TermsOfPaymentId": "t1"}

    def iter_list(self, path: str, **kw: Any) -> Any:
        return iter(self.codings if path == "articleaccountcodings" else [{"Id": "u1", "Code": "st"}])


def fake_settings(vat_codings: dict[str, str] | None = None) -> Any:
    return SimpleNamespace(mapping=SimpleNamespace(vat_codings=vat_codings or {}, unit_id="", terms_of_payment_id=""))


def test_load_company_reads_fractions_and_exposes_the_scale() -> None:
    client = FakeCompanyClient(
        [
            coding(1, Decimal(25), FRACTION, "pct"),
            coding(2, Decimal(12), FRACTION, "code"),
            coding(3, Decimal(0), FRACTION, "none"),
        ]
    )
    company, scale = load_company_reading(client, fake_settings())
    assert {c.id: c.vat_percent for c in company.codings} == {"c1": 25, "c2": 12, "c3": 0}
    assert scale == FRACTION and company.unit_id == "u1"
    view = VismaRecords(client, fake_settings(), vat_rate_scale=PERCENT)
    view.load_company()
    assert view.vat_rate_scale == FRACTION  # the data wins over an older observation


def test_load_company_takes_the_configured_rate_for_a_disagreeing_coding() -> None:
    bad = {"Id": "c9", "Name": "Varor", "Type": "Goods", "VatRatePercent": 0.25, "VatRate": "12%"}
    with pytest.raises(ShopvismaError) as ei:
        load_company_reading(FakeCompanyClient([bad]), fake_settings())
    assert ei.value.exit_code == ExitCode.CONFIG
    company, _ = load_company_reading(FakeCompanyClient([bad]), fake_settings({"25": "c9"}))
    assert company.codings[0].vat_percent == 25
