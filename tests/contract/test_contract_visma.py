"""Contract tests: the Visma sandbox against Visma's own published specs.

The sandbox is only worth something if what it accepts the real API would accept too,
and if what it refuses it refuses for a reason the specs state. These tests tie the
shipped `visma_schema.json` and the sandbox's answers to the 2026 OpenAPI and the 2018
swagger in /work/shared/reference (skipped when that folder is absent).

Run as a script to regenerate the shipped JSON from the specs:
    PYTHONPATH=tests python tests/contract/test_contract_visma.py --write
"""

from __future__ import annotations

import copy
import json
import sys
from typing import Any

import pytest

from support.specs import (
    ROWS,
    SHIPPED,
    extract_schema,
    load_specs,
    needs_visma_specs,
    render,
    types_of,
    validator18,
    validator26,
)

if __name__ == "__main__" and "--write" in sys.argv:
    SHIPPED.write_text(render(extract_schema(*load_specs())), encoding="utf-8")
    print(f"wrote {SHIPPED}")
    sys.exit(0)


# ---------------------------------------------------------------- tests
pytestmark = needs_visma_specs

jsonschema = pytest.importorskip("jsonschema")
requests = pytest.importorskip("requests")

from shopvisma.sandbox.visma.server import VismaSandbox  # noqa: E402

ENDPOINTS = {
    "CustomerApi": "/customers",
    "ArticleApi": "/articles",
    "CustomerInvoiceDraftApi": "/customerinvoicedrafts",
    "OrderApi": "/orders",
}


@pytest.fixture(scope="module")
def specs() -> tuple[dict[str, Any], dict[str, Any]]:
    return load_specs()


class Client:
    def __init__(self, sb: VismaSandbox) -> None:
        self.sb = sb
        r = requests.post(
            f"{sb.identity_url}/connect/token",
            auth=("sandbox-client", "sandbox-secret"),
            timeout=5,
            data={"grant_type": "refresh_token", "refresh_token": sb.issue_refresh_token()},
        )
        self.s = requests.Session()
        self.s.headers["Authorization"] = "Bearer " + r.json()["access_token"]

    def get(self, path: str) -> Any:
        r = self.s.get(self.sb.api_url + path, timeout=5)
        assert r.status_code == 200, r.text
        return r.json()

    def post(self, path: str, body: Any) -> requests.Response:
        return self.s.post(self.sb.api_url + path, json=body, timeout=5)


@pytest.fixture(scope="module")
def client() -> Any:
    sb = VismaSandbox().start()
    yield Client(sb)
    sb.stop()


@pytest.fixture(scope="module")
def bodies(client: Client) -> dict[str, dict[str, Any]]:
    """One representative, accepted body per POST endpoint (created in order, so later
    bodies can reference earlier objects)."""
    settings = client.get("/companysettings")
    unit = next(u for u in client.get("/units")["Data"] if u["Code"] == "st")
    coding = next(c for c in client.get("/articleaccountcodings")["Data"] if c["Name"] == "Varor 25% moms")
    out: dict[str, dict[str, Any]] = {}
    out["CustomerApi"] = {
        "Name": "Anna Andersson",
        "InvoiceCity": "Stockholm",
        "InvoicePostalCode": "11122",
        "InvoiceAddress1": "Storgatan 1",
        "InvoiceCountryCode": "SE",
        "CurrencyCode": "SEK",
        "EmailAddress": "anna@example.se",
        "IsPrivatePerson": True,
        "IsActive": True,
        "TermsOfPaymentId": settings["TermsOfPaymentId"],
    }
    customer = _created(client, "CustomerApi", out["CustomerApi"])
    out["ArticleApi"] = {
        "Number": "SKU-1",
        "Name": "Mugg",
        "UnitId": unit["Id"],
        "CodingId": coding["Id"],
        "IsActive": True,
        "NetPrice": 80.0,
    }
    article = _created(client, "ArticleApi", out["ArticleApi"])
    invoice_party = {
        "InvoiceCustomerName": customer["Name"],
        "InvoicePostalCode": "11122",
        "InvoiceCity": "Stockholm",
        "InvoiceCountryCode": "SE",
        "CustomerIsPrivatePerson": True,
    }
    out["CustomerInvoiceDraftApi"] = {
        "CustomerId": customer["Id"],
        "RotReducedInvoicingType": 0,
        "EuThirdParty": False,
        "YourReference": "#1001",
        "InvoiceDate": "2026-01-05",
        **invoice_party,
        "Rows": [
            {
                "LineNumber": 1,
                "IsTextRow": False,
                "ArticleId": article["Id"],
                "Text": "Mugg",
                "UnitPrice": 99.95,
                "Quantity": 2,
                "DiscountPercentage": 0,
                "ReversedConstructionServicesVatFree": False,
            },
            {"LineNumber": 2, "IsTextRow": True, "Text": "Shopify #1001", "ReversedConstructionServicesVatFree": False},
        ],
    }
    out["OrderApi"] = {
        "CustomerId": customer["Id"],
        "CurrencyCode": "SEK",
        "Status": 1,
        "EuThirdParty": False,
        "ReverseChargeOnConstructionServices": False,
        "RotReducedInvoicingType": 0,
        "OrderDate": "2026-01-05",
        "Amount": 199.9,
        "VatAmount": 39.98,
        "RoundingsAmount": 0,
        "YourReference": "#1002",
        **invoice_party,
        "Rows": [
            {
                "LineNumber": 1,
                "IsTextRow": False,
                "ArticleId": article["Id"],
                "Text": "Mugg",
                "UnitPrice": 99.95,
                "Quantity": 2,
                "IsWorkCost": False,
                "EligibleForReverseChargeOnVat": False,
            },
            {
                "LineNumber": 2,
                "IsTextRow": True,
                "Text": "Shopify #1002",
                "IsWorkCost": False,
                "EligibleForReverseChargeOnVat": False,
            },
        ],
    }
    for name in ("CustomerInvoiceDraftApi", "OrderApi"):
        _created(client, name, out[name])
    return out


def _created(client: Client, name: str, body: dict[str, Any]) -> dict[str, Any]:
    r = client.post(ENDPOINTS[name], body)
    assert r.status_code == 201, r.text
    return r.json()


# (1) what the sandbox accepts, both specs accept
@pytest.mark.parametrize("name", list(ENDPOINTS))
def test_accepted_bodies_are_valid_in_both_specs(name: str, bodies: dict[str, Any], specs: Any) -> None:
    spec26, spec18 = specs
    body = bodies[name]
    errors18 = [e.message for e in validator18(spec18, name).iter_errors(body)]
    assert errors18 == [], errors18
    errors26 = [e.message for e in validator26(spec26, name).iter_errors(body)]
    assert errors26 == [], errors26
    props26 = spec26["components"]["schemas"][name]["properties"]
    assert set(body) <= set(props26)
    if name in ROWS:
        row_props = spec26["components"]["schemas"][ROWS[name]]["properties"]
        for row in body["Rows"]:
            assert set(row) <= set(row_props)


def test_discount_percentage_is_a_fraction_as_the_specs_say(client: Client, bodies: dict[str, Any], specs: Any) -> None:
    body = copy.deepcopy(bodies["CustomerInvoiceDraftApi"])
    body["Rows"][0]["DiscountPercentage"] = 10
    assert client.post("/customerinvoicedrafts", body).status_code == 400  # 1000 %: refused
    body["Rows"][0]["DiscountPercentage"] = 0.1
    r = client.post("/customerinvoicedrafts", body)
    assert r.status_code == 201
    client.s.delete(f"{client.sb.api_url}/customerinvoicedrafts/{r.json()['Id']}", timeout=5)
    assert list(validator18(specs[1], "CustomerInvoiceDraftApi").iter_errors(body)) == []


# (2) what it refuses, it refuses for a reason the specs state
def _cases(body: dict[str, Any], name: str) -> list[tuple[str, str, dict[str, Any], str, str]]:
    """(schema, field path, refused body, kind, field) for every required field and every
    string property with a maxLength, on the document and on its first row."""
    shipped = json.loads(SHIPPED.read_text(encoding="utf-8"))
    targets: list[tuple[str, str, dict[str, Any]]] = [(name, "", body)]
    if name in ROWS:
        targets.append((ROWS[name], "Rows[0].", body["Rows"][0]))
    cases = []
    for schema_name, prefix, _target in targets:
        spec = shipped[schema_name]
        for field in spec["required"]:
            for kind in ("missing", "wrong-type"):
                refused = copy.deepcopy(body)
                where = refused["Rows"][0] if prefix else refused
                if kind == "missing":
                    where.pop(field, None)
                else:
                    where[field] = 12345 if "string" in spec["properties"][field]["type"] else "x"
                cases.append((schema_name, prefix + field, refused, kind, field))
        for field, prop in spec["properties"].items():
            if "maxLength" in prop and "string" in prop["type"]:
                refused = copy.deepcopy(body)
                where = refused["Rows"][0] if prefix else refused
                where[field] = "x" * (prop["maxLength"] + 1)
                cases.append((schema_name, prefix + field, refused, "too-long", field))
    return cases


@pytest.mark.parametrize("name", list(ENDPOINTS))
def test_refusals_name_the_field_and_the_specs_state_the_rule(
    name: str, client: Client, bodies: dict[str, Any], specs: Any
) -> None:
    spec26, spec18 = specs
    cases = _cases(bodies[name], name)
    assert len(cases) > 5
    for schema_name, path, refused, kind, field in cases:
        r = client.post(ENDPOINTS[name], refused)
        assert r.status_code == 400, (path, kind, r.text)
        body = r.json()
        assert body["ErrorCode"] == 2000 and set(body) == {"ErrorCode", "DeveloperErrorMessage", "ErrorId", "Errors"}
        assert path in {e["Field"] for e in body["Errors"]}, (path, kind, body)
        p26 = spec26["components"]["schemas"][schema_name]["properties"].get(field, {})
        p18 = spec18["definitions"][schema_name]["properties"].get(field, {})
        if kind == "missing":
            assert field in spec26["components"]["schemas"][schema_name].get("required", []) + spec18["definitions"][
                schema_name
            ].get("required", [])
        elif kind == "too-long":
            sent = len((refused["Rows"][0] if "Rows[0]." in path else refused)[field])
            assert any(p.get("maxLength") == sent - 1 for p in (p26, p18))
        else:
            sent_type = "number" if "string" in types_of(p26 or p18) else "string"
            assert sent_type not in types_of(p26 or p18)
            assert p18 == {} or sent_type not in types_of(p18)


# (3) the shipped extraction is what the specs give
def test_shipped_schema_equals_extraction(specs: Any) -> None:
    assert json.loads(SHIPPED.read_text(encoding="utf-8")) == extract_schema(*specs), (
        "regenerate with: PYTHONPATH=tests python tests/contract/test_contract_visma.py --write"
    )


def test_extraction_applies_the_union_and_min_rules(specs: Any) -> None:
    shipped = extract_schema(*specs)
    draft, order = shipped["CustomerInvoiceDraftApi"], shipped["OrderApi"]
    assert {"CustomerId", "EuThirdParty", "RotReducedInvoicingType", "InvoiceCity"} <= set(draft["required"])
    assert draft["properties"]["InvoiceCity"].get("readOnly") is True  # required by 2018, read-only in 2026
    assert order["properties"]["YourReference"]["maxLength"] == 50  # 2018: 50, 2026: 100
    assert shipped["CustomerInvoiceDraftRowApi"]["properties"]["Quantity"]["decimals"] == 2
    assert shipped["OrderRowApi"]["properties"]["Quantity"]["decimals"] == 4


# (4) what the sandbox answers has only names (and types) the 2026 spec knows
def test_responses_match_2026_response_schemas(client: Client, bodies: dict[str, Any], specs: Any) -> None:
    spec26 = specs[0]
    checks = {
        "/customers": "PaginatedResponseOfCustomerApi",
        "/articles": "PaginatedResponseOfArticleApi",
        "/customerinvoicedrafts": "PaginatedResponseOfCustomerInvoiceDraftApi",
        "/orders": "PaginatedResponseOfOrderApi",
        "/units": "PaginatedResponseOfUnitApi",
        "/articleaccountcodings": "PaginatedResponseOfArticleAccountCodingApi",
        "/vatcodes": "PaginatedResponseOfVatCodeApi",
        "/termsofpayments": "PaginatedResponseOfTermsOfPaymentApi",
        "/companysettings": "CompanySettingsApi",
    }
    drafts = client.get("/customerinvoicedrafts")["Data"]
    assert drafts and client.get("/orders")["Data"] and client.get("/customers")["Data"]
    client.sb.approve_draft(drafts[0]["Id"])
    checks["/customerinvoices"] = "PaginatedResponseOfCustomerInvoiceApi"
    for path, schema_name in checks.items():
        response = client.get(path)
        errors = [f"{list(e.path)}: {e.message}" for e in validator26(spec26, schema_name).iter_errors(response)]
        assert errors == [], (path, errors)
    refused = client.post("/customers", {}).json()
    assert list(validator26(spec26, "CommonExtendedBadRequest").iter_errors(refused)) == []
