"""The Visma sandbox over HTTP for the sandbox suites: an authorised session, valid bodies,
and the fixtures both suites use (one sandbox on a fake clock)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from shopvisma.sandbox.visma.server import VismaSandbox
from support.clock import FakeClock

CLIENT = ("sandbox-client", "sandbox-secret")


class Api:
    """A thin authorised session against one sandbox."""

    def __init__(self, sandbox: VismaSandbox) -> None:
        self.sb = sandbox
        token = requests.post(
            f"{sandbox.identity_url}/connect/token",
            auth=CLIENT,
            timeout=5,
            data={"grant_type": "refresh_token", "refresh_token": sandbox.issue_refresh_token()},
        )
        self.s = requests.Session()
        self.s.headers["Authorization"] = "Bearer " + token.json()["access_token"]

    def get(self, path: str, **params: Any) -> requests.Response:
        return self.s.get(self.sb.api_url + path, params=params, timeout=5)

    def post(self, path: str, body: Any) -> requests.Response:
        return self.s.post(self.sb.api_url + path, json=body, timeout=5)

    def put(self, path: str, body: Any) -> requests.Response:
        return self.s.put(self.sb.api_url + path, json=body, timeout=5)

    # ---- helpers that build valid objects
    def coding(self, name: str) -> dict[str, Any]:
        return next(c for c in self.get("/articleaccountcodings").json()["Data"] if c["Name"] == name)

    def customer(self, **extra: Any) -> dict[str, Any]:
        terms = self.get("/companysettings").json()["TermsOfPaymentId"]
        body = {
            "Name": "Kund AB",
            "InvoiceCity": "Stockholm",
            "InvoicePostalCode": "11122",
            "IsPrivatePerson": False,
            "IsActive": True,
            "TermsOfPaymentId": terms,
            **extra,
        }
        r = self.post("/customers", body)
        assert r.status_code == 201, r.text
        return r.json()

    def article(self, number: str, coding: str = "Varor 25% moms") -> dict[str, Any]:
        unit = self.get("/units", **{"$filter": "Code eq 'st'"}).json()["Data"][0]
        r = self.post(
            "/articles",
            {
                "Number": number,
                "Name": f"Artikel {number}",
                "UnitId": unit["Id"],
                "CodingId": self.coding(coding)["Id"],
                "IsActive": True,
            },
        )
        assert r.status_code == 201, r.text
        return r.json()


def draft_body(customer: dict[str, Any], rows: list[dict[str, Any]], ref: str = "#1001") -> dict[str, Any]:
    return {
        "CustomerId": customer["Id"],
        "RotReducedInvoicingType": 0,
        "EuThirdParty": False,
        "YourReference": ref,
        "InvoiceCustomerName": customer["Name"],
        "InvoicePostalCode": customer["InvoicePostalCode"],
        "InvoiceCity": customer["InvoiceCity"],
        "InvoiceCountryCode": customer.get("InvoiceCountryCode") or "SE",
        "CustomerIsPrivatePerson": customer["IsPrivatePerson"],
        "Rows": [
            {
                "LineNumber": i + 1,
                "IsTextRow": False,
                "ReversedConstructionServicesVatFree": False,
                "Text": "rad",
                **row,
            }
            for i, row in enumerate(rows)
        ],
    }


def order_body(customer: dict[str, Any], rows: list[dict[str, Any]], currency: str = "SEK") -> dict[str, Any]:
    return {
        "CustomerId": customer["Id"],
        "CurrencyCode": currency,
        "Status": 1,
        "EuThirdParty": False,
        "ReverseChargeOnConstructionServices": False,
        "RotReducedInvoicingType": 0,
        "OrderDate": "2026-01-05",
        "Amount": 0,
        "VatAmount": 0,
        "RoundingsAmount": 0,
        "InvoiceCustomerName": customer["Name"],
        "InvoicePostalCode": customer["InvoicePostalCode"],
        "InvoiceCity": customer["InvoiceCity"],
        "InvoiceCountryCode": "SE",
        "CustomerIsPrivatePerson": customer["IsPrivatePerson"],
        "Rows": [
            {
                "LineNumber": i + 1,
                "IsTextRow": False,
                "IsWorkCost": False,
                "EligibleForReverseChargeOnVat": False,
                **row,
            }
            for i, row in enumerate(rows)
        ],
    }


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=1_767_225_600.0)  # 2026-01-01T00:00:00Z


@pytest.fixture
def sandbox(clock: FakeClock) -> Iterator[VismaSandbox]:
    sb = VismaSandbox(clock=clock).start()
    yield sb
    sb.stop()


@pytest.fixture
def api(sandbox: VismaSandbox) -> Api:
    return Api(sandbox)
