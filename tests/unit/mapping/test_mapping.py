"""The accounting corpus and the Visma bodies written from it (mapping.py, pure functions)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from shopvisma.errors import OrderError
from shopvisma.http import encode_json
from shopvisma.mapping.bodies import credit_draft_body, draft_body, order_body
from shopvisma.mapping.codings import resolve_vat_codings
from shopvisma.mapping.company import Company, customer_body, customer_key, document_includes_vat, foreign_customer
from shopvisma.mapping.plan import needed_articles, plan_document, plan_refund
from shopvisma.mapping.rows import ArticleSpec, DocumentPlan, RowPlan, cut, predict_totals
from shopvisma.mapping.settings import MappingSettings, money_key
from support.corpus.build import COMPANY, COMPANY_TWO_ZERO, line, order, tax
from support.corpus.orders import CASES, Case
from support.paths import REFERENCE

D = Decimal


def _plan(case: Case):
    if case.refund:
        return plan_refund(
            case.order,
            case.order.refunds[case.refund - 1],
            case.company,
            case.settings,
            includes_vat=case.includes_vat,
            is_foreign=case.is_foreign,
            index=case.refund,
        )
    return plan_document(
        case.order, case.company, case.settings, includes_vat=case.includes_vat, is_foreign=case.is_foreign
    )


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_corpus(case: Case) -> None:
    if case.error:
        with pytest.raises(OrderError) as exc:
            _plan(case)
        assert case.error in exc.value.reason, exc.value.reason
        assert exc.value.field == case.error_field
        assert exc.value.order_name == case.order.name
        return
    plan = _plan(case)
    got = [(r.article.number, r.unit_price, r.quantity, r.discount_percentage) for r in plan.rows]
    want = [(a, D(u), D(q), D(d)) for a, u, q, d in case.rows]
    assert got == want, f"{case.why}\n{got}"
    assert plan.expected_total == D(case.total), case.why
    assert plan.expected_vat == D(case.vat), case.why
    assert plan.vat_by_rate == {D(k): D(v) for k, v in case.vat_by_rate.items()}, case.why
    assert plan.rounding == D(case.rounding)
    # The document equals Shopify to the cent, and Visma's own arithmetic agrees.
    target = -case.order.refunds[case.refund - 1].total if case.refund else case.order.total
    assert predict_totals(plan.rows, case.includes_vat)[0] == target
    # VAT per rate within one cent per row of Shopify's own tax amounts.
    for rate, shopify in plan.shopify_vat_by_rate.items():
        n = sum(1 for r in plan.rows if r.vat_percent == rate)
        assert abs(plan.vat_by_rate.get(rate, D(0)) - shopify) <= D("0.01") * max(n, 1)
    for r in plan.rows:  # decimals Visma accepts; DiscountPercentage is a fraction
        assert r.unit_price == r.unit_price.quantize(D("0.0001") if case.is_foreign else D("0.01"))
        assert r.quantity == r.quantity.quantize(D("0.01"))
        assert r.discount_percentage == r.discount_percentage.quantize(D("0.0001"))
        assert D(0) <= r.discount_percentage <= D(1)
    if case.note:
        assert any(case.note in n for n in plan.notes), plan.notes


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 40
    assert {c.order.taxes_included for c in CASES} == {True, False}


def test_refusal_names_the_config_key() -> None:
    case = next(c for c in CASES if c.name == "refuse-unmapped-14")
    with pytest.raises(OrderError) as exc:
        _plan(case)
    assert 'vat_codings = {"14" = "<coding id>"}' in exc.value.hint
    assert "#1049" in str(exc.value)


def test_ambiguous_rate_lists_the_candidates() -> None:
    case = next(c for c in CASES if c.name == "refuse-ambiguous-zero")
    with pytest.raises(OrderError) as exc:
        _plan(case)
    assert "c0x" in exc.value.reason and "c0" in exc.value.hint
    assert 'vat_codings = {"0"' in exc.value.hint


def test_resolve_vat_codings_auto_and_overrides() -> None:
    auto = resolve_vat_codings(COMPANY, MappingSettings())
    assert auto == {D(25): "c25", D(12): "c12", D(6): "c6", D(0): "c0"}  # inactive and Service ignored
    assert auto.problems == {}
    two = resolve_vat_codings(COMPANY_TWO_ZERO, MappingSettings())
    assert D(0) not in two and "several" in two.problems[D(0)]
    fixed = resolve_vat_codings(COMPANY_TWO_ZERO, MappingSettings(vat_codings={"0": "c0x", "25.0": "s25"}))
    assert fixed[D(0)] == "c0x" and fixed[D(25)] == "s25" and fixed.problems == {}
    bad = resolve_vat_codings(COMPANY, MappingSettings(vat_codings={"25": "nope", "12": "old25", "6": "c25"}))
    assert set(bad.problems) == {D(25), D(12), D(6)} and not ({D(25), D(12), D(6)} & set(bad))
    assert "inactive" in bad.problems[D(12)]


@pytest.mark.parametrize("key", ["vat_codings", "shipping_articles"])
@pytest.mark.parametrize("bad", ["25%", "moms", "", "NaN", "25,0"])
def test_non_numeric_rate_key_refuses_by_name(key: str, bad: str) -> None:
    settings = MappingSettings(**{key: {bad: "c25", "12": "c12" if key == "vat_codings" else "FRAKT-12"}})
    resolved = resolve_vat_codings(COMPANY, settings)  # no InvalidOperation: a problem instead
    assert resolved.key_problems == [(key, f'[mapping] {key} key "{bad}" is not a number')]
    assert resolved[D(25)] == "c25" and resolved[D(12)] == "c12"  # the rest still resolves (doctor shows it)
    for case in (
        next(c for c in CASES if c.name == "incl-simple-25"),
        next(c for c in CASES if c.name == "refund-one-of-two-incl"),
    ):
        with pytest.raises(OrderError) as exc:
            plan_document(case.order, COMPANY, settings, includes_vat=True, is_foreign=False)
        assert exc.value.reason == f'[mapping] {key} key "{bad}" is not a number'
        assert exc.value.field == key and exc.value.order_name == case.order.name
        assert '"25"' in exc.value.hint
    r = next(c for c in CASES if c.name == "refund-one-of-two-incl")
    with pytest.raises(OrderError, match="is not a number"):
        plan_refund(r.order, r.order.refunds[0], COMPANY, settings, includes_vat=True, is_foreign=False, index=1)
    with pytest.raises(OrderError, match="is not a number"):
        needed_articles(r.order, COMPANY, settings)


def test_rate_keys_are_read_as_numbers() -> None:
    ship = next(c for c in CASES if c.name == "incl-shipping-25")
    for spelled in ("25", "25.0", " 25 ", "25.00"):
        plan = plan_document(
            ship.order,
            COMPANY,
            MappingSettings(shipping_articles={spelled: "FRAKT"}, vat_codings={spelled: "c25"}),
            includes_vat=True,
            is_foreign=False,
        )
        assert [r.article.number for r in plan.rows] == ["TSHIRT-M", "FRAKT"], spelled


def test_gift_card_coding_must_be_zero_rate() -> None:
    case = next(c for c in CASES if c.name == "incl-gift-card-sold")
    with pytest.raises(OrderError) as exc:
        plan_document(
            case.order, COMPANY, MappingSettings(gift_card_coding_id="c25"), includes_vat=True, is_foreign=False
        )
    assert exc.value.field == "gift_card_coding_id"
    plan = plan_document(
        case.order, COMPANY_TWO_ZERO, MappingSettings(gift_card_coding_id="c0x"), includes_vat=True, is_foreign=False
    )
    assert [r.article.coding_id for r in plan.rows] == ["c25", "c0x"]


def test_same_sku_at_two_rates_is_refused() -> None:
    o = order(
        "#2001",
        total="189.00",
        total_tax="20.00",
        taxes_included=True,
        lines=[
            line("SAME", "A", 1, "100.00", taxes=(tax("0.25", "20.00"),)),
            line("SAME", "B", 1, "89.00", taxes=(tax("0.12", "9.54"),)),
        ],
    )
    with pytest.raises(OrderError, match="one VAT coding"):
        plan_document(o, COMPANY, MappingSettings(), includes_vat=True, is_foreign=False)


def test_large_row_discount_falls_back_to_exact_price() -> None:
    # 1 cent off 1 234 567.89: no 4-decimal percentage hits it, the reduced price does.
    o = order(
        "#2002",
        total="1234567.88",
        total_tax="246913.58",
        taxes_included=True,
        lines=[line("BIG", "Stor", 1, "1234567.89", discount="0.01", taxes=(tax("0.25", "246913.58"),))],
    )
    plan = plan_document(o, COMPANY, MappingSettings(), includes_vat=True, is_foreign=False)
    assert [(r.unit_price, r.discount_percentage) for r in plan.rows] == [(D("1234567.88"), D(0))]
    assert plan.notes and "reduced unit price" in plan.notes[0]


def test_needed_articles() -> None:
    case = next(c for c in CASES if c.name == "excl-tip-and-gift-card")
    arts = {a.number: a for a in needed_articles(case.order, COMPANY, MappingSettings())}
    assert set(arts) == {"WIDGET", "GIFTCARD", "TIP"}
    w = arts["WIDGET"].body()
    assert w == {
        "Number": "WIDGET",
        "Name": "Widget",
        "CodingId": "c25",
        "UnitId": "unit-st",
        "IsActive": True,
        "NetPrice": D("100.00"),
        "GrossPrice": D("125.00"),
    }
    assert arts["GIFTCARD"].coding_id == "c0" and arts["TIP"].coding_id == "c0"
    pens = next(c for c in CASES if c.name == "incl-to-net-rounding-row")
    assert "ROUNDING" in {a.number for a in needed_articles(pens.order, COMPANY, MappingSettings())}
    assert "ROUNDING" not in {
        a.number for a in needed_articles(pens.order, COMPANY, MappingSettings(), includes_vat=True)
    }
    ship = next(c for c in CASES if c.name == "incl-shipping-25")
    numbers = [
        a.number for a in needed_articles(ship.order, COMPANY, MappingSettings(shipping_articles={"25": "FRAKT"}))
    ]
    assert numbers == ["TSHIRT-M", "FRAKT"]
    bad = next(c for c in CASES if c.name == "refuse-empty-sku")
    with pytest.raises(OrderError):
        needed_articles(bad.order, COMPANY, MappingSettings())


def test_article_body_cuts_names_safely() -> None:
    spec = ArticleSpec("SKU", "Tröja 👕" * 10, "c25", "u", D(25), net_price=D("-1"), gross_price=D("1e9"))
    body = spec.body()
    assert len(body["Name"].encode("utf-16-le")) // 2 <= 50
    assert body["NetPrice"] == 0 and body["GrossPrice"] == D("99000000")


def test_cut() -> None:
    assert cut("åäö" * 30, 50) == ("åäö" * 30)[:50]
    s = cut("a" * 49 + "😀", 50)
    assert s == "a" * 49  # the emoji needs two UTF-16 units
    assert cut("e\u0301" * 3, 2) == "éé"  # NFC first: é is one unit
    assert cut(None, 5) == "" and cut("  x  ", 5) == "x"


def _customer(o, **kw):
    return customer_body(o, COMPANY, MappingSettings(**kw), currency=o.currency)


def test_customer_body_private_and_company() -> None:
    o = order("#3001", total="249.00", total_tax="49.80", taxes_included=True, lines=[], email="  Anna@Example.SE ")
    body = _customer(o)
    assert body["Name"] == "Anna Andersson" and body["EmailAddress"] == "anna@example.se"
    assert body["IsPrivatePerson"] is True and body["IsActive"] is True
    assert (body["InvoicePostalCode"], body["InvoiceCity"], body["InvoiceCountryCode"]) == ("111 22", "Stockholm", "SE")
    assert body["TermsOfPaymentId"] == "top-30" and body["CurrencyCode"] == "SEK"
    assert _customer(o, terms_of_payment_id="top-10")["TermsOfPaymentId"] == "top-10"
    co = order("#3002", total="1", total_tax="0", taxes_included=True, lines=[], company="Acme AB")
    cb = _customer(co)
    assert cb["Name"] == "Acme AB" and cb["IsPrivatePerson"] is False and cb["ContactPersonName"] == "Anna Andersson"
    assert _customer(co, customer_type="private")["IsPrivatePerson"] is True
    assert customer_key(o, MappingSettings()) == ("anna@example.se", "SEK")


def test_customer_body_without_address_uses_placeholders() -> None:
    node_order = order("#3003", total="1", total_tax="0", taxes_included=True, lines=[])
    from dataclasses import replace

    o = replace(node_order, billing=None, shipping=None, customer_name="")
    body = _customer(o)
    assert body["Name"] == "anna@example.se"
    assert (body["InvoicePostalCode"], body["InvoiceCity"], body["InvoiceCountryCode"]) == ("00000", "Okänd", "SE")
    with pytest.raises(OrderError) as exc:
        _customer(replace(o, email=" "))
    assert exc.value.field == "email"


def test_customer_body_long_and_emoji_fields() -> None:
    from dataclasses import replace

    base = order("#3004", total="1", total_tax="0", taxes_included=True, lines=[])
    long = "Åsa Öberg-Ärlig 🌸🌸🌸 " * 5
    addr = replace(base.billing, name=long, address1=long, city=long, zip="12345678901234", phone="+46 " * 30)
    o = replace(base, billing=addr, customer_name=long)
    body = _customer(o)
    for key, limit in {
        "Name": 50,
        "InvoiceAddress1": 50,
        "InvoiceCity": 50,
        "InvoicePostalCode": 10,
        "Telephone": 50,
    }.items():
        assert 0 < len(body[key].encode("utf-16-le")) // 2 <= limit, key
    json.dumps(body, ensure_ascii=False)


def test_helpers() -> None:
    assert money_key(MappingSettings()) == "presentmentMoney"
    assert money_key(MappingSettings(currency="shop")) == "shopMoney"
    assert document_includes_vat({"IsPrivatePerson": True}, COMPANY) is True
    assert document_includes_vat({"IsPrivatePerson": False}, COMPANY) is False
    excl = Company("SE", "SEK", True, "t", "u", ())
    assert document_includes_vat({"IsPrivatePerson": True}, excl) is False
    assert foreign_customer({"InvoiceCountryCode": "DE", "CurrencyCode": "SEK"}, COMPANY) is True
    assert foreign_customer({"InvoiceCountryCode": "SE", "CurrencyCode": "EUR"}, COMPANY) is True
    assert foreign_customer({"InvoiceCountryCode": "SE", "CurrencyCode": "SEK"}, COMPANY) is False


def test_predict_totals_rule() -> None:
    art = ArticleSpec("A", "A", "c", "u", D(25))
    art12 = ArticleSpec("B", "B", "c", "u", D(12))
    rows = [RowPlan(art, "a", D("10.005"), D(1)), RowPlan(art12, "b", D("33.33"), D(3), D("0.1"))]
    # 10.005 → 10.01 (half up); 99.99 × 0.9 = 89.991 → 89.99
    assert predict_totals(rows, True) == (D("100.00"), D("11.64"), {D(25): D("2.00"), D(12): D("9.64")})
    assert predict_totals(rows, False) == (D("113.30"), D("13.30"), {D(25): D("2.50"), D(12): D("10.80")})


VISMA_CUSTOMER = {
    "Id": "cust-1",
    "Name": "Anna Andersson",
    "InvoiceAddress1": "Storgatan 1",
    "InvoicePostalCode": "111 22",
    "InvoiceCity": "Stockholm",
    "InvoiceCountryCode": "SE",
    "IsPrivatePerson": True,
    "CurrencyCode": "SEK",
}


def test_draft_body_written_out() -> None:
    case = next(c for c in CASES if c.name == "incl-shipping-discount-part")
    plan = _plan(case)
    body = draft_body(
        plan, customer_id="cust-1", article_ids={"TSHIRT-M": "a-1", "SHIPPING-25": "a-2"}, customer=VISMA_CUSTOMER
    )
    assert body == {
        "CustomerId": "cust-1",
        "IsCreditInvoice": False,
        "RotReducedInvoicingType": 0,
        "EuThirdParty": False,
        "YourReference": "#1010",
        "InvoiceCustomerName": "Anna Andersson",
        "InvoiceAddress1": "Storgatan 1",
        "InvoiceAddress2": "",
        "InvoicePostalCode": "111 22",
        "InvoiceCity": "Stockholm",
        "InvoiceCountryCode": "SE",
        "CustomerIsPrivatePerson": True,
        "Rows": [
            {
                "LineNumber": 1,
                "IsTextRow": False,
                "ReversedConstructionServicesVatFree": False,
                "ArticleId": "a-1",
                "ArticleNumber": "TSHIRT-M",
                "Text": "T-shirt - M",
                "UnitPrice": D("249.00"),
                "Quantity": D(1),
                "DiscountPercentage": D(0),
            },
            {
                "LineNumber": 2,
                "IsTextRow": False,
                "ReversedConstructionServicesVatFree": False,
                "ArticleId": "a-2",
                "ArticleNumber": "SHIPPING-25",
                "Text": "PostNord",
                "UnitPrice": D("59.00"),
                "Quantity": D(1),
                "DiscountPercentage": D("0.5085"),
            },
        ],
    }
    assert json.loads(encode_json(body))["Rows"][1]["DiscountPercentage"] == 0.5085  # a fraction: 50.85 %
    with pytest.raises(ValueError):
        draft_body(plan, customer_id="c", article_ids={}, customer=VISMA_CUSTOMER)


def test_bodies_refuse_a_discount_that_is_not_a_fraction() -> None:
    """A plan row holding a percent (10 for 10 %) would be a 1000 % discount: stopped before sending."""
    art = ArticleSpec("A", "A", "c25", "u", D(25))
    for bad in (D("10"), D("-0.1"), D("0.12345")):
        plan = DocumentPlan("#4001", [RowPlan(art, "a", D("100.00"), D(1), bad)], True, D("90"), D("18"), {}, D(0))
        with pytest.raises(ValueError, match="DiscountPercentage"):
            draft_body(plan, customer_id="c", article_ids={"A": "a"}, customer=VISMA_CUSTOMER)
        with pytest.raises(ValueError, match="DiscountPercentage"):
            order_body(plan, customer_id="c", article_ids={"A": "a"}, customer=VISMA_CUSTOMER, order_date="2026-01-01")


def test_order_body_written_out() -> None:
    case = next(c for c in CASES if c.name == "incl-to-net-simple")
    plan = _plan(case)
    body = order_body(
        plan,
        customer_id="cust-1",
        article_ids={"TSHIRT-M": "a-1"},
        customer={**VISMA_CUSTOMER, "IsPrivatePerson": False},
        order_date=case.order.created_at,
    )
    assert body["CurrencyCode"] == "SEK" and body["Status"] == 1 and body["OrderDate"] == "2026-01-15"
    assert (body["Amount"], body["VatAmount"], body["RoundingsAmount"]) == (D("199.20"), D("49.80"), D(0))
    assert body["YourReference"] == "#1022" and body["CustomerIsPrivatePerson"] is False
    assert body["Rows"] == [
        {
            "LineNumber": 1,
            "IsTextRow": False,
            "IsWorkCost": False,
            "EligibleForReverseChargeOnVat": False,
            "ArticleId": "a-1",
            "ArticleNumber": "TSHIRT-M",
            "Text": "T-shirt - M",
            "UnitPrice": D("199.20"),
            "Quantity": D(1),
            "DiscountPercentage": D(0),
        }
    ]


def test_credit_draft_body() -> None:
    case = next(c for c in CASES if c.name == "refund-with-shipping-excl")
    plan = _plan(case)
    body = credit_draft_body(
        plan, customer_id="cust-1", article_ids={"WIDGET": "w", "SHIPPING-25": "s"}, customer=VISMA_CUSTOMER
    )
    assert body["IsCreditInvoice"] is True and body["YourReference"] == "#1043 refund 2"
    assert [(r["ArticleId"], r["UnitPrice"], r["Quantity"]) for r in body["Rows"]] == [
        ("w", D("100.00"), D(-1)),
        ("s", D("50.00"), D(-1)),
    ]
    with pytest.raises(ValueError):
        credit_draft_body(_plan(CASES[0]), customer_id="c", article_ids={"TSHIRT-M": "a"}, customer=VISMA_CUSTOMER)


# --------------------------------------------------------------------------- against Visma's published specs


def _load_specs() -> list[tuple[str, dict[str, Any]]]:
    specs = []
    sw = REFERENCE / "visma-eaccounting-swagger.json"
    oa = REFERENCE / "visma-eaccounting-openapi-v2.yaml"
    if sw.exists():
        specs.append(("2018", json.loads(sw.read_text())["definitions"]))
    if oa.exists():
        yaml = pytest.importorskip("yaml")
        specs.append(("2026", yaml.safe_load(oa.read_text())["components"]["schemas"]))
    if not specs:
        pytest.skip("shared/reference not present")
    return specs


@pytest.fixture(scope="module")
def specs() -> list[tuple[str, dict[str, Any]]]:
    return _load_specs()


def _check(body: dict[str, Any], schema: dict[str, Any], where: str) -> None:
    props = schema.get("properties", {})
    for name in schema.get("required", []):
        if props.get(name, {}).get("readOnly") and where.startswith("2026"):
            continue
        assert name in body and body[name] is not None, f"{where}: required {name} missing"
    for name, value in body.items():
        assert name in props, f"{where}: {name} is not a field of the schema"
        limit = props[name].get("maxLength")
        if limit and isinstance(value, str):
            assert len(value.encode("utf-16-le")) // 2 <= limit, f"{where}: {name} longer than {limit}"


def test_bodies_match_both_visma_specs(specs) -> None:
    o = next(c for c in CASES if c.name == "incl-order-discount-mixed").order
    plan = plan_document(o, COMPANY, MappingSettings(), includes_vat=True, is_foreign=False)
    ids = {a.number: f"id-{a.number}" for a in plan.articles()}
    cust = customer_body(o, COMPANY, MappingSettings(), currency="SEK")
    draft = draft_body(plan, customer_id="c", article_ids=ids, customer=cust)
    sales = order_body(plan, customer_id="c", article_ids=ids, customer=cust, order_date="2026-01-15")
    for version, defs in specs:
        _check(cust, defs["CustomerApi"], f"{version} CustomerApi")
        for a in plan.articles():
            _check(a.body(), defs["ArticleApi"], f"{version} ArticleApi")
        _check(draft, defs["CustomerInvoiceDraftApi"], f"{version} CustomerInvoiceDraftApi")
        for r in draft["Rows"]:
            _check(r, defs["CustomerInvoiceDraftRowApi"], f"{version} CustomerInvoiceDraftRowApi")
        _check(sales, defs["OrderApi"], f"{version} OrderApi")
        for r in sales["Rows"]:
            _check(r, defs["OrderRowApi"], f"{version} OrderRowApi")


def test_the_wire_keeps_every_digit() -> None:
    """http.encode_json writes each Decimal as its exact literal (no float on the way)."""
    case = next(c for c in CASES if c.name == "foreign-eur-4-decimals")
    body = draft_body(_plan(case), customer_id="c", article_ids={"CANDLE": "a"}, customer=VISMA_CUSTOMER)
    text = encode_json(body).decode()
    assert '"UnitPrice": 2.6633' in text and '"Quantity": 3,' in text
    back = json.loads(text, parse_float=Decimal)
    assert back["Rows"][0]["UnitPrice"] == D("2.6633")
    assert encode_json({"a": [D("0.10"), D("-10.00"), D("100")]}) == b'{"a": [0.10, -10, 100]}'
