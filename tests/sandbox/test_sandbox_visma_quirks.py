"""Each reading ("quirk") the Visma sandbox can serve, over real loopback HTTP: that it does
what its registry line says, that switching it mid-test takes effect at once, and that
without it the default reading is served (docs/sandbox.md, "Readings")."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from shopvisma.sandbox.visma.identity import DEFAULT_SCOPE, SCOPE_RULES
from shopvisma.sandbox.visma.model import scalar_properties
from shopvisma.sandbox.visma.quirks import FILTERABLE, QUIRKS, check_quirks
from shopvisma.sandbox.visma.server import VismaSandbox
from support.clock import FakeClock
from support.visma_api import CLIENT, Api, draft_body, order_body

NAMES = (
    "vat-rate-fraction",
    "retry-after-header",
    "retry-after-only",
    "filter-whitelist",
    "page-cap-50",
    "create-200",
    "put-204",
    "inner-codes-int",
    "startup-guide",
    "no-order-module",
    "no-sales-scope",
    "includes-vat-spec-2026",
    "vat-per-row",
    "convert-200",
    "payment-200",
    "overpayment-accepted",
    "credit-payment-positive",
    "bank-fee-not-settling",
)


def grant(sb: VismaSandbox, scope: str) -> requests.Response:
    """A token for `scope` the way a user's login gets one: authorize, then the code grant."""
    redirect = "http://127.0.0.1:8765/callback"
    r = requests.get(
        f"{sb.identity_url}/connect/authorize",
        allow_redirects=False,
        timeout=5,
        params={"client_id": sb.client_id, "redirect_uri": redirect, "response_type": "code", "scope": scope},
    )
    code = parse_qs(urlsplit(r.headers["Location"]).query)["code"][0]
    return requests.post(
        f"{sb.identity_url}/connect/token",
        auth=CLIENT,
        timeout=5,
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect},
    )


def bearer(sb: VismaSandbox, scope: str) -> requests.Session:
    s = requests.Session()
    s.headers["Authorization"] = "Bearer " + grant(sb, scope).json()["access_token"]
    return s


def refused(r: requests.Response, status: int, code: int, prefix: str) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["ErrorCode"] == code and body["DeveloperErrorMessage"].startswith(prefix), body
    assert body["Errors"] == [] and len(body["ErrorId"]) == 36


# ------------------------------------------------------------------ the registry
def test_registry_names_and_validation(clock: FakeClock) -> None:
    assert tuple(QUIRKS) == NAMES and all(QUIRKS[n].strip() for n in NAMES)
    assert check_quirks(["page-cap-50", "page-cap-50"]) == {"page-cap-50"}
    with pytest.raises(ValueError, match="valid: vat-rate-fraction, retry-after-header"):
        check_quirks(["page-cap-50", "page-cap-5O"])
    with pytest.raises(ValueError, match="page-cap-5O"):
        VismaSandbox(quirks=["page-cap-5O"])
    sb = VismaSandbox(quirks=["create-200"], clock=clock)
    assert sb.quirks == {"create-200"} and isinstance(sb.quirks, set)
    with pytest.raises(ValueError):
        sb.quirks.add("teapot")
    with pytest.raises(ValueError):
        sb.quirks.update(["put-204", "teapot"])
    with pytest.raises(ValueError):
        sb.quirks = ["teapot"]
    assert sb.quirks == {"create-200"}  # a refused name changes nothing
    sb.quirks |= {"put-204"}
    sb.quirks = ["inner-codes-int"]
    assert sb.quirks == {"inner-codes-int"}
    sb.quirks.discard("inner-codes-int")
    assert not sb.quirks


def test_start_sandboxes_forwards_quirks() -> None:
    from shopvisma.sandbox.harness import start_sandboxes

    shop, visma = start_sandboxes([], quirks=["page-cap-50", "create-200"])
    try:
        assert visma.quirks == {"page-cap-50", "create-200"}
    finally:
        shop.stop()
        visma.stop()


def test_cli_sandbox_quirk_option(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    import shopvisma.commands.demo
    from shopvisma.cli import app

    seen: dict[str, Any] = {}
    monkeypatch.setattr(shopvisma.commands.demo, "serve_sandbox", lambda **kw: seen.update(kw))
    runner = CliRunner()
    help_text = runner.invoke(app, ["sandbox", "--help"]).output
    assert "--quirk" in help_text and all(
        n in help_text.replace("-\n", "-").replace("\n", " ").replace(" ", "") for n in NAMES
    )
    bad = runner.invoke(app, ["sandbox", "--quirk", "bogus"])
    assert bad.exit_code == 2 and "bogus" in bad.output and not seen
    ok = runner.invoke(app, ["sandbox", "--quirk", "startup-guide", "--quirk", "put-204"])
    assert ok.exit_code == 0, ok.output
    assert seen["quirks"] == ["startup-guide", "put-204"]


# ------------------------------------------------------------------ vat-rate-fraction
def test_coding_vat_rate_string_is_percent_style_in_every_reading(api: Api) -> None:
    for quirks in ((), ("vat-rate-fraction",)):
        api.sb.quirks = quirks
        codings = api.get("/articleaccountcodings").json()["Data"]
        assert {c["VatRate"] for c in codings} == {"25%", "12%", "6%", "0%"}


def test_vat_rate_fraction(api: Api) -> None:
    customer, a25, a12 = api.customer(), api.article("A"), api.article("B", "Varor 12% moms")
    body = draft_body(
        customer,
        [
            {"ArticleId": a25["Id"], "UnitPrice": 100, "Quantity": 1},
            {"ArticleId": a12["Id"], "UnitPrice": 100, "Quantity": 1},
        ],
    )
    body["Rows"].append(
        {"LineNumber": 3, "IsTextRow": True, "Text": "Shopify #1001", "ReversedConstructionServicesVatFree": False}
    )
    default = api.post("/customerinvoicedrafts", body).json()
    assert [r["VatRate"] for r in default["Rows"]] == [25, 12, None]
    assert api.coding("Varor 25% moms")["VatRatePercent"] == 25

    api.sb.quirks.add("vat-rate-fraction")
    coding = api.coding("Varor 25% moms")
    assert coding["VatRatePercent"] == 0.25 and coding["VatRate"] == "25%"
    assert api.get(f"/articleaccountcodings/{coding['Id']}").json()["VatRatePercent"] == 0.25
    fraction = api.post("/customerinvoicedrafts", body).json()
    assert [r["VatRate"] for r in fraction["Rows"]] == [0.25, 0.12, None]
    assert (fraction["TotalAmount"], fraction["TotalVatAmount"]) == (default["TotalAmount"], 37.0)  # same money
    assert [r["VatRate"] for r in api.get(f"/customerinvoicedrafts/{default['Id']}").json()["Rows"]] == [
        0.25,
        0.12,
        None,
    ]  # what was stored under the default is served in the new scale too
    listed = api.get("/articleaccountcodings", **{"$filter": "VatRatePercent eq 0.12"}).json()["Data"]
    assert [c["Name"] for c in listed] == ["Varor 12% moms"]  # $filter sees the served scale
    order = api.post("/orders", order_body(customer, [{"ArticleId": a25["Id"], "UnitPrice": 10, "Quantity": 1}]))
    assert order.json()["Rows"][0]["VatRate"] == 0.25
    api.sb.approve_draft(fraction["Id"])
    invoice = api.get("/customerinvoices").json()["Data"][0]
    assert [r["VatRate"] for r in invoice["Rows"]][:2] == [0.25, 0.12]
    # the server's own state stays in percent (its totals use it)
    assert api.sb.codings[coding["Id"]]["VatRatePercent"] == Decimal(25)
    assert api.sb.drafts[default["Id"]]["Rows"][0]["VatRate"] == Decimal(25)
    assert api.get("/vatcodes").json()["Data"][0]["VatRate"] == 25  # "as a percentage" in the spec: unchanged


# ------------------------------------------------------------------ Retry-After
@pytest.mark.parametrize(
    "quirk, header, message",
    [
        ("", None, "API calls quota exceeded! maximum admitted 2 per Minute. Try again in 55 seconds."),
        (
            "retry-after-header",
            "55",
            "API calls quota exceeded! maximum admitted 2 per Minute. Try again in 55 seconds.",
        ),
        ("retry-after-only", "55", "API calls quota exceeded! maximum admitted 2 per Minute."),
    ],
)
def test_quota_answer_readings(clock: FakeClock, quirk: str, header: str | None, message: str) -> None:
    with VismaSandbox(rate_limit_per_minute=2, clock=clock, quirks=[quirk] if quirk else []) as sb:
        api = Api(sb)
        for _ in range(2):
            clock.advance(5)
            assert api.get("/customers").status_code == 200
        over = api.get("/customers")
        assert over.status_code == 429 and over.headers.get("Retry-After") == header
        assert over.json()["ErrorCode"] == 4010 and over.json()["DeveloperErrorMessage"] == message
        clock.advance(50)
        sb.inject_fault("GET", "/v2/articles", "429")
        fault = api.get("/articles")
        assert fault.status_code == 429 and fault.headers.get("Retry-After") == (header and "60")
        assert fault.json()["DeveloperErrorMessage"] == message.replace("55 seconds", "60 seconds")


def test_retry_after_only_wins_over_header(clock: FakeClock) -> None:
    with VismaSandbox(rate_limit_per_minute=1, clock=clock, quirks=["retry-after-header", "retry-after-only"]) as sb:
        api = Api(sb)
        api.get("/units")
        over = api.get("/units")
        assert over.headers["Retry-After"] == "60" and "Try again" not in over.json()["DeveloperErrorMessage"]


# ------------------------------------------------------------------ filter-whitelist
def test_filter_whitelist_refuses_the_products_lookups(api: Api) -> None:
    customer, article = api.customer(EmailAddress="a@b.se"), api.article("SKU-1")
    draft = api.post(
        "/customerinvoicedrafts",
        draft_body(customer, [{"ArticleId": article["Id"], "UnitPrice": 1, "Quantity": 1}], ref="#1001"),
    ).json()
    order = api.post("/orders", order_body(customer, [{"ArticleId": article["Id"], "UnitPrice": 1, "Quantity": 1}]))
    lookups = {
        "/customerinvoicedrafts": "YourReference eq '#1001'",
        "/customerinvoices": "YourReference eq '#1'",
        "/orders": "YourReference eq '#1'",
        "/customers": "EmailAddress eq 'a@b.se'",
        "/articles": "Number eq 'SKU-1'",
    }
    for path, expr in lookups.items():
        assert api.get(path, **{"$filter": expr}).status_code == 200  # the default reading filters anything

    api.sb.quirks.add("filter-whitelist")
    for path, expr in lookups.items():
        r = api.get(path, **{"$filter": expr})
        assert r.status_code == 400 and r.json()["ErrorCode"] == 2000, (path, r.text)
        prop = expr.split()[0]
        assert r.json()["Errors"] == [
            {
                "Field": "$filter",
                "ErrorCode": "2000",
                "Key": "InvalidFilter",
                "Message": f"The property '{prop}' is not filterable for this endpoint.",
            }
        ]
    # one refused property refuses the whole filter, even behind `or`
    mixed = api.get("/customers", **{"$filter": "Name eq 'x' or EmailAddress eq 'a@b.se'"})
    assert "'EmailAddress'" in mixed.json()["Errors"][0]["Message"]
    # unknown properties and syntax errors keep their own message
    assert "Could not find" in api.get("/customers", **{"$filter": "Email eq 'x'"}).json()["Errors"][0]["Message"]
    allowed = {
        "/customers": f"CustomerNumber eq '{customer['CustomerNumber']}'",
        "/articles": f"Id eq {article['Id']}",
        "/orders": f"Number eq {order.json()['Number']}",
        "/customerinvoicedrafts": f"CustomerId eq {customer['Id']}",
    }
    for path, expr in allowed.items():
        r = api.get(path, **{"$filter": expr})
        assert r.status_code == 200 and len(r.json()["Data"]) == 1, (path, r.text)
    api.sb.approve_draft(draft["Id"])
    assert len(api.get("/customerinvoices", **{"$filter": "InvoiceNumber eq 1"}).json()["Data"]) == 1
    assert len(api.get("/articles").json()["Data"]) == 1  # no $filter: the whole list


def test_filter_whitelist_names_real_properties(sandbox: VismaSandbox) -> None:
    from shopvisma.sandbox.visma.records import INVOICE_FIELDS

    typed = {
        "customers": "CustomerApi",
        "articles": "ArticleApi",
        "customerinvoicedrafts": "CustomerInvoiceDraftApi",
        "orders": "OrderApi",
    }
    seeded = {
        "units": sandbox.units,
        "articleaccountcodings": sandbox.codings,
        "vatcodes": sandbox.vatcodes,
        "termsofpayments": sandbox.terms_of_payments,
    }
    for endpoint, allowed in FILTERABLE.items():
        if endpoint in typed:
            known = set(scalar_properties(typed[endpoint]))
        elif endpoint == "customerinvoices":
            known = set(INVOICE_FIELDS)
        else:
            known = set(next(iter(seeded[endpoint].values())))
        assert allowed <= known, (endpoint, allowed - known)
    assert (
        "YourReference"
        not in FILTERABLE["orders"] | FILTERABLE["customerinvoicedrafts"] | FILTERABLE["customerinvoices"]
    )
    assert "EmailAddress" not in FILTERABLE["customers"] and "Number" not in FILTERABLE["articles"]


# ------------------------------------------------------------------ page-cap-50
def test_page_cap_50(api: Api) -> None:
    for i in range(60):
        assert api.post("/customers", _customer_body(api, i)).status_code == 201
    assert len(api.get("/customers", **{"$pagesize": 1000}).json()["Data"]) == 60
    api.sb.quirks.add("page-cap-50")
    first = api.get("/customers", **{"$pagesize": 1000}).json()
    assert first["Meta"] | {"ServerTimeUtc": ""} == {
        "CurrentPage": 1,
        "PageSize": 50,
        "TotalNumberOfPages": 2,
        "TotalNumberOfResults": 60,
        "ServerTimeUtc": "",
    }
    assert len(first["Data"]) == 50
    second = api.get("/customers", **{"$pagesize": 1000, "$page": 2}).json()
    assert [c["Name"] for c in second["Data"]] == [f"K{i}" for i in range(50, 60)]
    assert api.get("/customers", **{"$pagesize": 5000}).json()["Meta"]["PageSize"] == 50  # capped, not refused
    small = api.get("/customers", **{"$pagesize": 20}).json()["Meta"]
    assert small["PageSize"] == 20 and small["TotalNumberOfPages"] == 3


def _customer_body(api: Api, i: int) -> dict[str, Any]:
    return {
        "Name": f"K{i}",
        "InvoiceCity": "S",
        "InvoicePostalCode": "1",
        "IsPrivatePerson": True,
        "IsActive": True,
        "TermsOfPaymentId": api.sb.company_settings["TermsOfPaymentId"],
    }


# ------------------------------------------------------------------ statuses
def test_create_200(api: Api) -> None:
    api.sb.quirks.add("create-200")
    customer = api.post("/customers", _customer_body(api, 1))
    assert customer.status_code == 200 and customer.json()["Name"] == "K1"
    article = api.post(
        "/articles",
        {
            "Number": "A",
            "Name": "A",
            "UnitId": next(iter(api.sb.units)),
            "CodingId": api.coding("Varor 25% moms")["Id"],
            "IsActive": True,
        },
    )
    assert article.status_code == 200
    body = draft_body(customer.json(), [{"ArticleId": article.json()["Id"], "UnitPrice": 1, "Quantity": 1}])
    draft = api.post("/customerinvoicedrafts", body)
    assert draft.status_code == 200 and draft.json()["IncludesVat"] is True  # a private customer
    assert api.put(f"/customerinvoicedrafts/{draft.json()['Id']}", body).status_code == 200
    assert api.post("/orders", order_body(customer.json(), [])).status_code == 200
    assert api.sb.writes() == 5
    api.sb.quirks.discard("create-200")
    assert api.post("/customers", _customer_body(api, 2)).status_code == 201


def test_put_204(api: Api) -> None:
    customer, article = api.customer(), api.article("A")
    body = draft_body(customer, [{"ArticleId": article["Id"], "UnitPrice": 10, "Quantity": 1}])
    draft = api.post("/customerinvoicedrafts", body)
    assert draft.status_code == 201
    api.sb.quirks.add("put-204")
    assert api.post("/customerinvoicedrafts", body).status_code == 201  # creates are untouched
    body["YourReference"], body["Rows"][0]["Quantity"] = "#2002", 3
    put = api.put(f"/customerinvoicedrafts/{draft.json()['Id']}", body)
    assert put.status_code == 204 and put.content == b"" and "Content-Type" not in put.headers
    stored = api.get(f"/customerinvoicedrafts/{draft.json()['Id']}").json()
    assert stored["YourReference"] == "#2002" and stored["TotalAmount"] == 37.5
    order = api.post("/orders", order_body(customer, [{"ArticleId": article["Id"], "UnitPrice": 1, "Quantity": 1}]))
    assert api.put(f"/orders/{order.json()['Id']}", order_body(customer, [])).status_code == 204
    refused_put = api.put(f"/customerinvoicedrafts/{draft.json()['Id']}", {})
    assert refused_put.status_code == 400  # only a successful PUT loses its body
    assert api.sb.writes() == 7  # 204s count as answered writes


# ------------------------------------------------------------------ inner-codes-int
def test_inner_error_codes(api: Api) -> None:
    default = api.post("/customers", {}).json()
    assert default["ErrorCode"] == 2000 and {e["ErrorCode"] for e in default["Errors"]} == {"2000"}
    api.sb.quirks.add("inner-codes-int")
    body = api.post("/customers", {}).json()
    assert body["ErrorCode"] == 2000 and {e["ErrorCode"] for e in body["Errors"]} == {2000}
    assert [e["Field"] for e in body["Errors"]] == [e["Field"] for e in default["Errors"]]
    bad_filter = api.get("/customers", **{"$filter": "Nope eq 1"}).json()
    assert bad_filter["Errors"][0]["ErrorCode"] == 2000
    api.sb.inject_fault("POST", "/customers", "400")
    assert api.post("/customers", {}).json()["Errors"][0]["ErrorCode"] == 2000


# ------------------------------------------------------------------ startup-guide
def test_startup_guide(api: Api) -> None:
    api.sb.quirks.add("startup-guide")
    for path in ("/customers", "/companysettings", "/vatcodes", "/orders", "/nope"):
        refused(api.get(path), 403, 4003, "StartupGuideNotCompleted - The startup guide has not been completed.")
    refused(api.post("/customers", _customer_body(api, 1)), 403, 4003, "StartupGuideNotCompleted")
    assert api.sb.customers == {}
    assert requests.get(api.sb.api_url + "/customers", timeout=5).status_code == 401  # the token comes first
    api.sb.quirks.discard("startup-guide")
    assert api.get("/customers").status_code == 200


# ------------------------------------------------------------------ no-order-module
def test_no_order_module_is_the_order_module_switch(api: Api) -> None:
    customer = api.customer()
    assert api.get("/companysettings").json()["ActivatedModules"] == ["sales_standard"]
    api.sb.quirks.add("no-order-module")
    for r in (api.get("/orders"), api.post("/orders", order_body(customer, []))):
        refused(r, 403, 4002, "NoAccessToModule")
    assert api.get("/companysettings").json()["ActivatedModules"] == []
    assert api.get("/customerinvoicedrafts").status_code == 200
    api.sb.quirks.discard("no-order-module")
    assert api.get("/orders").status_code == 200
    assert api.get("/companysettings").json()["ActivatedModules"] == ["sales_standard"]
    with VismaSandbox(order_module=False) as sb:
        assert sb.quirks == {"no-order-module"}
        refused(Api(sb).get("/orders"), 403, 4002, "NoAccessToModule")


# ------------------------------------------------------------------ scopes and no-sales-scope
def test_default_grants_carry_every_scope_the_product_needs(sandbox: VismaSandbox) -> None:
    r = requests.post(
        f"{sandbox.identity_url}/connect/token",
        auth=CLIENT,
        timeout=5,
        data={"grant_type": "refresh_token", "refresh_token": sandbox.issue_refresh_token()},
    )
    assert r.json()["scope"] == DEFAULT_SCOPE == "ea:api offline_access ea:sales ea:accounting ea:purchase_readonly"
    product = "ea:api offline_access ea:sales ea:accounting_readonly"  # shopvisma.visma.auth.SCOPES
    assert grant(sandbox, product).json()["scope"] == product
    s = bearer(sandbox, product)
    for path in (
        "/customers",
        "/articles",
        "/customerinvoicedrafts",
        "/customerinvoices",
        "/orders",
        "/units",
        "/articleaccountcodings",
        "/termsofpayments",
        "/vatcodes",
        "/companysettings",
    ):
        assert s.get(sandbox.api_url + path, timeout=5).status_code == 200, path


def test_endpoints_need_their_scopes(sandbox: VismaSandbox) -> None:
    readonly = bearer(sandbox, "ea:api offline_access ea:sales_readonly")
    assert readonly.get(sandbox.api_url + "/customers", timeout=5).status_code == 200
    refused(
        readonly.post(sandbox.api_url + "/customers", json={}, timeout=5),
        403,
        4006,
        "NoAccessToScopes - The access token lacks a scope this endpoint requires (any of: ea:sales).",
    )
    refused(readonly.get(sandbox.api_url + "/vatcodes", timeout=5), 403, 4006, "NoAccessToScopes")
    assert sandbox.customers == {}
    purchase = bearer(sandbox, "ea:api ea:purchase_readonly")
    assert purchase.get(sandbox.api_url + "/termsofpayments", timeout=5).status_code == 200
    refused(purchase.get(sandbox.api_url + "/units", timeout=5), 403, 4006, "NoAccessToScopes")
    api_only = bearer(sandbox, "ea:api")
    assert api_only.get(sandbox.api_url + "/companysettings", timeout=5).status_code == 200
    no_api = bearer(sandbox, "offline_access ea:sales ea:accounting")
    refused(no_api.get(sandbox.api_url + "/companysettings", timeout=5), 403, 4006, "NoAccessToScopes")


def test_no_sales_scope(api: Api, sandbox: VismaSandbox) -> None:
    sandbox.quirks.add("no-sales-scope")  # after `api` got its token: it loses the scope too
    refused(api.get("/customers"), 403, 4006, "NoAccessToScopes")
    refused(api.post("/customerinvoicedrafts", {}), 403, 4006, "NoAccessToScopes")
    assert api.get("/vatcodes").status_code == 200 and api.get("/companysettings").status_code == 200
    fresh = requests.post(
        f"{sandbox.identity_url}/connect/token",
        auth=CLIENT,
        timeout=5,
        data={"grant_type": "refresh_token", "refresh_token": sandbox.issue_refresh_token()},
    ).json()
    assert fresh["scope"] == "ea:api offline_access ea:accounting ea:purchase_readonly"
    assert grant(sandbox, "ea:api ea:sales_readonly").json()["scope"] == "ea:api"
    sandbox.quirks.discard("no-sales-scope")
    assert api.get("/customers").status_code == 200


def _spec_scopes(description: str) -> set[str]:
    tail = description.split("Requires any of the following scopes")[-1]
    return set(re.findall(r"\* ((?:ea|vls):[a-z_]+)", tail))


def test_scope_rules_are_the_2026_specs(visma_specs: tuple[dict[str, Any], dict[str, Any]]) -> None:
    paths = visma_specs[0]["paths"]
    checked = 0
    for path, ops in paths.items():
        parts = path.strip("/").split("/")
        endpoint = parts[0]
        if endpoint not in SCOPE_RULES or len(parts) > 2 or (len(parts) == 2 and not parts[1].startswith("{")):
            continue  # the base path and /{id}: what the sandbox routes
        for method, op in ops.items():
            if method in ("get", "post", "put", "delete") and "Requires any" in op.get("description", ""):
                wanted = SCOPE_RULES[endpoint][0 if method == "get" else 1]
                assert set(wanted) == _spec_scopes(op["description"]), (method, path)
                checked += 1
    assert checked > 30
    companysettings = _spec_scopes(paths["/companysettings"]["get"]["description"])
    assert companysettings == {"ea:sales", "ea:sales_readonly"} and "companysettings" not in SCOPE_RULES  # documented


# ------------------------------------------------------------------ includes-vat-spec-2026
def test_includes_vat_spec_2026_is_the_includes_vat_rule(api: Api) -> None:
    private = api.customer(IsPrivatePerson=True)
    article = api.article("A")
    body = draft_body(private, [{"ArticleId": article["Id"], "UnitPrice": 125, "Quantity": 1}])
    assert api.post("/customerinvoicedrafts", body).json()["IncludesVat"] is True  # checkbox off: setting-name
    api.sb.quirks.add("includes-vat-spec-2026")
    assert api.sb._state.includes_vat_rule == "spec-2026"
    draft = api.post("/customerinvoicedrafts", body).json()
    assert draft["IncludesVat"] is False and draft["TotalAmount"] == 156.25
    api.sb._state.includes_vat_rule = "setting-name"
    assert "includes-vat-spec-2026" not in api.sb.quirks
    api.sb._state.includes_vat_rule = "spec-2026"
    assert "includes-vat-spec-2026" in api.sb.quirks
    with pytest.raises(ValueError):
        api.sb._state.includes_vat_rule = "guess"


def test_the_cli_help_names_every_quirk() -> None:
    """cli.py spells the names out (importing the registry would cost every cron run)."""
    from shopvisma.cli import QUIRK_HELP
    from shopvisma.sandbox.visma.quirks import QUIRKS

    listed = QUIRK_HELP.split("Readings): ", 1)[1].rstrip(".").split(", ")
    assert listed == list(QUIRKS)


def test_vat_per_row_rounds_each_row() -> None:
    from decimal import Decimal

    from shopvisma.sandbox.visma.model import totals

    rows = [(Decimal("0.05"), Decimal("25")), (Decimal("0.05"), Decimal("25"))]
    assert totals(rows, False).vat == Decimal("0.03")  # once on 0.10: 0.025 -> 0.03
    assert totals(rows, False, per_row=True).vat == Decimal("0.02")  # 0.0125 -> 0.01, twice
