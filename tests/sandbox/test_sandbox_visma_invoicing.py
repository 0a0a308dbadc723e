"""Booked customer invoices, payments, bank accounts and sales-order status/conversion in the
Visma sandbox, over real loopback HTTP: each validation rule, each reading ("quirk") and the
faults after commit. Also ties schema_invoicing.json to the 2026 and 2018 specs.

Run as a script to regenerate the shipped JSON from the specs:
    PYTHONPATH=tests python tests/sandbox/test_sandbox_visma_invoicing.py --write
"""

from __future__ import annotations

import json
import sys
from decimal import Decimal
from typing import Any
from unittest import mock

import support.specs as specs_module
from support.paths import ROOT

INVOICING_SCHEMAS = (
    "CustomerInvoiceApi",
    "CustomerInvoiceRowApi",
    "InvoicePaymentApi",
    "BankAccountApi",
    "CustomerInvoiceDraftValidationApi",
    "CustomerInvoiceDraftValidationRowApi",
)
SHIPPED_INVOICING = ROOT / "shopvisma" / "sandbox" / "visma" / "schema_invoicing.json"


def extract_invoicing(spec26: dict[str, Any], spec18: dict[str, Any]) -> dict[str, Any]:
    """The same extraction rules as schema.json (support.specs.extract_schema), on these schemas."""
    with mock.patch.object(specs_module, "BODY_SCHEMAS", INVOICING_SCHEMAS):
        return specs_module.extract_schema(spec26, spec18)


if __name__ == "__main__" and "--write" in sys.argv:
    SHIPPED_INVOICING.write_text(specs_module.render(extract_invoicing(*specs_module.load_specs())), encoding="utf-8")
    print(f"wrote {SHIPPED_INVOICING}")
    sys.exit(0)


# ---------------------------------------------------------------- tests
import pytest  # noqa: E402
import requests  # noqa: E402

from shopvisma.sandbox.visma.identity import ACTION_SCOPE_RULES, SCOPE_RULES  # noqa: E402
from shopvisma.sandbox.visma.server import VismaSandbox  # noqa: E402
from support.clock import FakeClock  # noqa: E402
from support.visma_api import CLIENT, Api, draft_body, order_body  # noqa: E402

FULL_SCOPE = "ea:api offline_access ea:sales ea:accounting ea:purchase_readonly"
BANK_1930 = "Företagskonto"


def grant(sb: VismaSandbox, scope: str) -> str:
    """An access token for `scope`, the way a user's login gets one (authorize, then the code)."""
    redirect = "http://127.0.0.1:8765/callback"
    r = requests.get(
        f"{sb.identity_url}/connect/authorize",
        allow_redirects=False,
        timeout=5,
        params={"client_id": sb.client_id, "redirect_uri": redirect, "response_type": "code", "scope": scope},
    )
    code = r.headers["Location"].split("code=", 1)[1].split("&", 1)[0]
    token = requests.post(
        f"{sb.identity_url}/connect/token",
        auth=CLIENT,
        timeout=5,
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect},
    )
    return str(token.json()["access_token"])


class Books(Api):
    """An Api whose grant also carries ea:purchase_readonly (GET /bankaccounts needs it), with
    helpers for what these tests book."""

    def __init__(self, sandbox: VismaSandbox, scope: str = FULL_SCOPE) -> None:
        super().__init__(sandbox)
        self.s.headers["Authorization"] = "Bearer " + grant(sandbox, scope)

    def relogin(self) -> None:
        """A fresh token after the clock jumped past the old one's hour."""
        self.s.headers["Authorization"] = "Bearer " + grant(self.sb, FULL_SCOPE)

    def bank(self, name: str = BANK_1930) -> dict[str, Any]:
        return next(b for b in self.get("/bankaccounts").json()["Data"] if b["Name"] == name)

    def draft(self, customer: dict[str, Any] | None = None, price: Any = 100, **extra: Any) -> dict[str, Any]:
        customer = customer or self.customer()
        article = self.article(f"A-{len(self.sb.articles) + 1}")
        body = {**draft_body(customer, [{"ArticleId": article["Id"], "UnitPrice": price, "Quantity": 1}]), **extra}
        r = self.post("/customerinvoicedrafts", body)
        assert r.status_code == 201, r.text
        return dict(r.json())

    def convert(self, draft_id: str, body: Any = None, **params: Any) -> requests.Response:
        url = f"{self.sb.api_url}/customerinvoicedrafts/{draft_id}/convert"
        return self.s.post(url, params=params, json=body, timeout=5)

    def invoice(self, **draft_extra: Any) -> dict[str, Any]:
        r = self.convert(self.draft(**draft_extra)["Id"])
        assert r.status_code == 201, r.text
        return dict(r.json())

    def pay(self, invoice: dict[str, Any], amount: Any, **extra: Any) -> requests.Response:
        body = {
            "CompanyBankAccountId": self.bank()["Id"],
            "PaymentAmount": amount,
            "PaymentCurrency": invoice["CurrencyCode"],
            "PaymentType": 1,
            "PaymentDate": "2026-01-01",
            **extra,
        }
        return self.post(f"/customerinvoices/{invoice['Id']}/payments", body)


@pytest.fixture
def books(sandbox: VismaSandbox) -> Books:
    return Books(sandbox)


def refused(r: requests.Response, status: int, code: int, fields: set[str] | None = None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["ErrorCode"] == code and set(body) == {"ErrorCode", "DeveloperErrorMessage", "ErrorId", "Errors"}
    if fields is not None:
        assert {e["Field"] for e in body["Errors"]} == fields, body
        assert all(e["ErrorCode"] == "2000" for e in body["Errors"])
    return dict(body)


def remaining(books: Books, invoice: dict[str, Any]) -> tuple[Any, Any, int, Any]:
    got = books.get(f"/customerinvoices/{invoice['Id']}").json()
    return got["RemainingAmountInvoiceCurrency"], got["RemainingAmount"], got["PaymentStatus"], got["PaymentDate"]


# ---------------------------------------------------------------- the shipped extraction and the scopes
def test_schema_invoicing_equals_extraction(visma_specs: tuple[dict[str, Any], dict[str, Any]]) -> None:
    assert json.loads(SHIPPED_INVOICING.read_text(encoding="utf-8")) == extract_invoicing(*visma_specs), (
        "regenerate with: PYTHONPATH=tests python tests/sandbox/test_sandbox_visma_invoicing.py --write"
    )
    shipped = json.loads(specs_module.SHIPPED.read_text(encoding="utf-8"))
    assert not set(shipped) & set(INVOICING_SCHEMAS)  # one schema, one file


def test_routed_actions_need_the_specs_scopes(visma_specs: tuple[dict[str, Any], dict[str, Any]]) -> None:
    import re

    paths = visma_specs[0]["paths"]

    def spec(path: str) -> set[str]:
        tail = paths[path]["post"]["description"].split("Requires any of the following scopes")[-1]
        return set(re.findall(r"\* (ea:[a-z_]+)", tail))

    assert spec("/customerinvoicedrafts/{customerInvoiceDraftId}/convert") == set(
        SCOPE_RULES["customerinvoicedrafts"][1]
    )
    assert spec("/orders/{id}/convert") == set(SCOPE_RULES["orders"][1])
    assert spec("/customerinvoices/{invoiceId}/payments") == set(
        ACTION_SCOPE_RULES[("customerinvoices", "payments")][1]
    )
    assert spec("/customerinvoices") == set(SCOPE_RULES["customerinvoices"][1]) == {"ea:sales", "ea:sales_readonly"}


def test_payments_need_ea_sales_while_invoices_take_readonly(books: Books, sandbox: VismaSandbox) -> None:
    invoice = books.invoice()
    readonly = Books(sandbox, "ea:api ea:sales_readonly ea:purchase_readonly")
    r = readonly.pay(invoice, 10)
    assert refused(r, 403, 4006)["DeveloperErrorMessage"].endswith("(any of: ea:sales).")
    customer, article = books.customer(), books.article("RO-1")
    direct = {"CustomerId": customer["Id"], "EuThirdParty": False, "RotReducedInvoicingType": 0, "Rows": []}
    direct["Rows"] = [{"ArticleId": article["Id"], "UnitPrice": 10, "Quantity": 1}]
    assert readonly.post("/customerinvoices", direct).status_code == 201  # as the 2026 spec says
    refused(readonly.convert(books.draft()["Id"]), 403, 4006)
    sandbox.quirks.add("no-sales-scope")
    refused(books.pay(invoice, 10), 403, 4006)
    assert sandbox.payments == []


# ---------------------------------------------------------------- bank accounts
def test_bank_accounts_are_seeded_paged_and_addable(
    books: Books, sandbox: VismaSandbox, visma_specs: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    page = books.get("/bankaccounts").json()
    assert page["Meta"]["TotalNumberOfResults"] == 4 and page["Meta"]["CurrentPage"] == 1
    by_ledger = {b["LedgerAccountNumber"]: b for b in page["Data"]}
    assert by_ledger[1930]["BankAccountType"] == 1 and by_ledger[1930]["IsDefaultChequeAccount"] is True
    assert (by_ledger[1940]["Name"], by_ledger[1940]["BankAccountType"]) == ("PayPal", 5)
    assert (by_ledger[1580]["Name"], by_ledger[1580]["BankAccountType"]) == ("Shopify Payments (clearing)", 5)
    assert by_ledger[1920]["IsActive"] is False
    assert {b["CurrencyCode"] for b in page["Data"]} == {"SEK"}
    assert VismaSandbox().bank_accounts.keys() == sandbox.bank_accounts.keys()  # same ids on every start
    added = sandbox.add_bank_account("Klarna", 1941, 5, is_active=True)
    assert books.get(f"/bankaccounts/{added['Id']}").json()["Name"] == "Klarna"
    second = books.get("/bankaccounts", **{"$page": 2, "$pagesize": 2}).json()
    assert [b["LedgerAccountNumber"] for b in second["Data"]] == [1580, 1920]
    assert second["Meta"]["TotalNumberOfPages"] == 3
    filtered = books.get("/bankaccounts", **{"$filter": "IsActive eq false"}).json()["Data"]
    assert [b["LedgerAccountNumber"] for b in filtered] == [1920]
    refused(books.get(f"/bankaccounts/{'0' * 8}-0000-0000-0000-{'0' * 12}"), 404, 3000)
    refused(books.post("/bankaccounts", {}), 403, 4006)  # writing needs ea:purchase
    assert Books(sandbox, FULL_SCOPE + " ea:purchase").post("/bankaccounts", {}).status_code == 405  # GET only here
    no_purchase = Books(sandbox, "ea:api offline_access ea:sales ea:accounting")
    refused(no_purchase.get("/bankaccounts"), 403, 4006)  # the spec: ea:purchase or ea:purchase_readonly
    with pytest.raises(ValueError):
        sandbox.add_bank_account("Fel", 1999, 8)
    validator = specs_module.validator26(visma_specs[0], "PaginatedResponseOfBankAccountApi")
    assert [e.message for e in validator.iter_errors(books.get("/bankaccounts").json())] == []


# ---------------------------------------------------------------- convert
def test_convert_books_the_draft_once(books: Books, visma_specs: tuple[dict[str, Any], dict[str, Any]]) -> None:
    draft = books.draft(YourReference="#1001", OurReference="webshop")
    r = books.convert(draft["Id"])
    assert r.status_code == 201, r.text
    invoice = r.json()
    assert invoice["YourReference"] == "#1001" and invoice["OurReference"] == "webshop"
    assert invoice["CustomerId"] == draft["CustomerId"] and invoice["CreatedFromDraftId"] == draft["Id"]
    assert (invoice["InvoiceNumber"], invoice["VoucherNumber"]) == (1, "A1") and invoice["VoucherId"]
    assert invoice["TotalAmountInvoiceCurrency"] == invoice["TotalAmount"] == draft["TotalAmount"] == 125
    assert invoice["TotalVatAmountInvoiceCurrency"] == 25 and invoice["IncludesVat"] is False
    assert invoice["RemainingAmountInvoiceCurrency"] == invoice["RemainingAmount"] == 125
    assert (invoice["PaymentStatus"], invoice["PaymentDate"], invoice["CurrencyCode"]) == (1, None, "SEK")
    assert invoice["IsCreditInvoice"] is False and invoice["CurrencyRate"] == 1
    assert invoice["Rows"][0]["Amount"] == invoice["Rows"][0]["AmountNoVat"] == 100
    assert books.get(f"/customerinvoicedrafts/{draft['Id']}").status_code == 404
    again = refused(books.convert(draft["Id"]), 404, 3000)
    assert again["DeveloperErrorMessage"].startswith("ResourceNotFound")
    assert books.get(f"/customerinvoices/{invoice['Id']}").json() == invoice
    found = books.get("/customerinvoices", **{"$filter": "YourReference eq '#1001'"}).json()["Data"]
    assert [i["Id"] for i in found] == [invoice["Id"]]
    assert books.invoice()["InvoiceNumber"] == 2
    assert books.sb.approve_draft(books.draft()["Id"])["InvoiceNumber"] == 3  # the UI books the same way
    page = books.get("/customerinvoices").json()
    validator = specs_module.validator26(visma_specs[0], "PaginatedResponseOfCustomerInvoiceApi")
    assert [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(page)] == []
    books.sb.quirks.add("filter-whitelist")
    refused(books.get("/customerinvoices", **{"$filter": "YourReference eq '#1001'"}), 400, 2000, {"$filter"})
    assert len(books.get("/customerinvoices", **{"$filter": "InvoiceNumber eq 1"}).json()["Data"]) == 1


def test_convert_date_rule(books: Books, clock: FakeClock) -> None:
    """Today is 2026-01-01 in Stockholm (the fixture clock)."""
    past, future = "2025-12-20", "2026-01-10"
    assert books.invoice(InvoiceDate=past)["InvoiceDate"] == "2026-01-01T00:00:00"
    kept = books.convert(books.draft(InvoiceDate=past)["Id"], keepOriginalDraftDate="true").json()
    assert kept["InvoiceDate"] == "2025-12-20T00:00:00"
    assert books.invoice(InvoiceDate=future)["InvoiceDate"] == "2026-01-10T00:00:00"
    books.sb.company_settings["KeepOriginalDraftDate"] = True
    assert books.invoice(InvoiceDate=past)["InvoiceDate"] == "2025-12-20T00:00:00"
    overridden = books.convert(books.draft(InvoiceDate=past)["Id"], overrideCompanyKeepOriginalDraftDate="true")
    assert overridden.json()["InvoiceDate"] == "2026-01-01T00:00:00"
    assert overridden.json()["DueDate"] == "2026-01-31T00:00:00"  # 30 days from the new date
    refused(books.convert(books.draft()["Id"], keepOriginalDraftDate="yes"), 400, 2000, {"keepOriginalDraftDate"})
    clock.advance(23.5 * 3600)  # 23:30 UTC is 00:30 on 2026-01-02 in Stockholm
    books.relogin()
    books.sb.company_settings["KeepOriginalDraftDate"] = False
    assert books.invoice(InvoiceDate="2026-01-01")["InvoiceDate"] == "2026-01-02T00:00:00"


def test_convert_checks_the_totals_it_is_given(books: Books) -> None:
    draft = books.draft()
    wrong = {"TotalAmountInvoiceCurrency": 124.99, "TotalVatAmountInvoiceCurrency": 25}
    refused(books.convert(draft["Id"], wrong), 400, 2000, {"TotalAmountInvoiceCurrency"})
    rows = {"Rows": [{"LineNumber": 1, "TotalAmountNoVatInvoiceCurrency": 99}, {"LineNumber": 7}]}
    refused(
        books.convert(draft["Id"], rows), 400, 2000, {"Rows[0].TotalAmountNoVatInvoiceCurrency", "Rows[1].LineNumber"}
    )
    refused(books.convert(draft["Id"], {"TotalAmountInvoiceCurrency": "x"}), 400, 2000, {"TotalAmountInvoiceCurrency"})
    assert books.sb.invoices == {} and draft["Id"] in books.sb.drafts  # nothing booked on a refusal
    right = {
        "TotalAmountInvoiceCurrency": 125,
        "TotalVatAmountInvoiceCurrency": 25,
        "TotalRoundingsInvoiceCurrency": 0,
        "Rows": [{"LineNumber": 1, "TotalAmountNoVatInvoiceCurrency": 100, "TotalAmountIncVatInvoiceCurrency": 125}],
    }
    assert books.convert(draft["Id"], right).status_code == 201
    assert books.convert(books.draft()["Id"], {}).status_code == 201  # an empty body checks nothing


def test_convert_200_and_create_200(books: Books) -> None:
    books.sb.quirks.add("convert-200")
    r = books.convert(books.draft()["Id"])
    assert r.status_code == 200 and r.json()["InvoiceNumber"] == 1
    books.sb.quirks.clear()
    draft = books.draft()
    books.sb.quirks.add("create-200")  # a convert creates an invoice: the general reading applies too
    assert books.convert(draft["Id"]).status_code == 200


def test_credit_invoice_has_negative_totals_and_takes_negative_payments(books: Books) -> None:
    credit = books.invoice(IsCreditInvoice=True)
    assert credit["IsCreditInvoice"] is True
    assert credit["TotalAmountInvoiceCurrency"] == credit["TotalAmount"] == -125
    assert credit["TotalVatAmountInvoiceCurrency"] == -25 and credit["Rows"][0]["Amount"] == -100
    assert credit["RemainingAmountInvoiceCurrency"] == credit["RemainingAmount"] == -125
    refused(books.pay(credit, 25), 400, 2000, {"PaymentAmount"})
    refused(books.pay(credit, -125.01), 400, 2000, {"PaymentAmount"})
    assert books.pay(credit, -25).status_code == 201
    assert remaining(books, credit) == (-100, -100, 1, None)
    assert books.pay(credit, -100).status_code == 201
    assert remaining(books, credit) == (0, 0, 0, "2026-01-01T00:00:00")


def test_credit_payment_positive(books: Books) -> None:
    books.sb.quirks.add("credit-payment-positive")
    credit = books.invoice(IsCreditInvoice=True)
    refused(books.pay(credit, -25), 400, 2000, {"PaymentAmount"})
    assert books.pay(credit, 25).status_code == 201
    assert remaining(books, credit)[:3] == (-100, -100, 1)
    refused(books.pay(credit, 100.01), 400, 2000, {"PaymentAmount"})
    assert books.pay(credit, 100).status_code == 201
    assert remaining(books, credit)[:3] == (0, 0, 0)
    normal = books.invoice()
    refused(books.pay(normal, -1), 400, 2000, {"PaymentAmount"})  # only credit invoices change


# ---------------------------------------------------------------- POST /customerinvoices
def test_post_customer_invoice_validates_and_books(books: Books) -> None:
    refused(
        books.post("/customerinvoices", {}),
        400,
        2000,
        {"CustomerId", "EuThirdParty", "RotReducedInvoicingType", "Rows"},
    )
    customer, article = books.customer(), books.article("D-1")
    body: dict[str, Any] = {
        "CustomerId": customer["Id"],
        "EuThirdParty": False,
        "RotReducedInvoicingType": 0,
        "YourReference": "#2001",
        "InvoiceDate": "2025-12-30",
        "Rows": [{"ArticleId": article["Id"], "UnitPrice": 80, "Quantity": 2}, {"Text": "Shopify #2001"}],
    }
    bad_rows = {**body, "Rows": [{"ArticleId": article["Id"], "UnitPrice": 80.001, "Quantity": 1.001}, {}]}
    refused(
        books.post("/customerinvoices", bad_rows), 400, 2000, {"Rows[0].UnitPrice", "Rows[0].Quantity", "Rows[1].Text"}
    )
    refused(books.post("/customerinvoices", {**body, "YourReference": "x" * 101}), 400, 2000, {"YourReference"})
    assert books.sb.invoices == {}
    r = books.post("/customerinvoices", body)
    assert r.status_code == 201, r.text
    invoice = r.json()
    assert invoice["TotalAmountInvoiceCurrency"] == 200 and invoice["TotalVatAmountInvoiceCurrency"] == 40
    assert invoice["InvoiceDate"] == "2025-12-30T00:00:00" and invoice["YourReference"] == "#2001"
    assert [row["IsTextRow"] for row in invoice["Rows"]] == [False, True]
    assert (invoice["RemainingAmountInvoiceCurrency"], invoice["PaymentStatus"]) == (200, 1)
    found = books.get("/customerinvoices", **{"$filter": "YourReference eq '#2001'"}).json()["Data"]
    assert [i["Id"] for i in found] == [invoice["Id"]]


def test_post_customer_invoice_from_draft_books_that_draft(books: Books) -> None:
    draft = books.draft(YourReference="#3001")
    body = {"CustomerId": draft["CustomerId"], "EuThirdParty": False, "RotReducedInvoicingType": 0, "Rows": []}
    missing = {**body, "CreatedFromDraftId": "6f1c3a52-6d1e-4a51-9a0e-5b7f1c0d2e11"}
    refused(books.post("/customerinvoices", missing), 400, 2000, {"CreatedFromDraftId"})
    r = books.post("/customerinvoices", {**body, "CreatedFromDraftId": draft["Id"]})
    assert r.status_code == 201, r.text
    assert r.json()["CreatedFromDraftId"] == draft["Id"] and r.json()["YourReference"] == "#3001"
    assert r.json()["TotalAmountInvoiceCurrency"] == 125 and books.sb.drafts == {}
    refused(books.convert(draft["Id"]), 404, 3000)


def test_foreign_currency_invoice_and_payments(books: Books) -> None:
    eur = books.customer(CurrencyCode="EUR", InvoiceCountryCode="DE")
    invoice = books.invoice(customer=eur, price=10.1234)
    assert invoice["CurrencyCode"] == "EUR" and invoice["CurrencyRate"] == 11.5
    assert invoice["TotalAmountInvoiceCurrency"] == 12.65  # 10.12 + 25 % VAT
    assert invoice["TotalAmount"] == invoice["RemainingAmount"] == 145.48  # 12.65 x 11.50, rounded
    refused(books.pay(invoice, 5, PaymentCurrency="SEK"), 400, 2000, {"PaymentCurrency"})
    assert books.pay(invoice, 5, DomesticPaymentAmount=56).status_code == 201
    assert remaining(books, invoice)[:2] == (7.65, 89.48)
    r = books.pay(invoice, 7.65)
    assert r.status_code == 201 and r.json()["DomesticPaymentAmount"] == 87.98  # 7.65 x 11.50
    assert remaining(books, invoice)[:3] == (0, 0, 0)  # the rest is an exchange-rate difference
    books.sb.currency_rates["EUR"] = Decimal("11.00")
    assert books.invoice(customer=eur)["CurrencyRate"] == 11
    direct = {
        "CustomerId": eur["Id"],
        "EuThirdParty": False,
        "RotReducedInvoicingType": 0,
        "CurrencyRate": 12,
        "Rows": [],
    }
    assert books.post("/customerinvoices", direct).json()["CurrencyRate"] == 12
    domestic = books.invoice()
    refused(books.pay(domestic, 5, DomesticPaymentAmount=5), 400, 2000, {"DomesticPaymentAmount"})
    usd = books.customer(CurrencyCode="JPY", InvoiceCountryCode="JP")
    refused(books.convert(books.draft(customer=usd)["Id"]), 400, 2000, {"CurrencyRate"})


# ---------------------------------------------------------------- payments
def test_payment_lowers_the_remaining_amount_until_paid(books: Books) -> None:
    invoice = books.invoice(YourReference="#4001")
    r = books.pay(invoice, 100, Reference="Shopify payout 1", PaymentDate="2025-12-31")
    assert r.status_code == 201, r.text
    payment = r.json()
    assert payment["PaymentAmount"] == 100 and payment["PaymentDate"] == "2025-12-31T00:00:00"
    assert payment["CompanyBankAccountId"] == books.bank()["Id"] and "DomesticPaymentAmount" not in payment
    assert remaining(books, invoice) == (25, 25, 1, None)
    assert books.pay(invoice, 25, PaymentType=2).status_code == 201
    assert remaining(books, invoice) == (0, 0, 0, "2026-01-01T00:00:00")
    refused(books.pay(invoice, 0.01), 400, 2000, {"PaymentAmount"})  # nothing is left to pay
    assert [(p["InvoiceId"], p["PaymentAmount"], p["PaymentType"]) for p in books.sb.payments] == [
        (invoice["Id"], 100, 1),
        (invoice["Id"], 25, 2),
    ]
    assert books.sb.payments[0]["Reference"] == "Shopify payout 1"
    assert books.get(f"/customerinvoices/{invoice['Id']}/payments").status_code == 405  # Visma lists none
    paid = books.get("/customerinvoices", **{"$filter": "PaymentStatus eq 0"}).json()["Data"]
    assert [i["Id"] for i in paid] == [invoice["Id"]]


def test_payment_validation(books: Books, sandbox: VismaSandbox) -> None:
    invoice = books.invoice()
    path = f"/customerinvoices/{invoice['Id']}/payments"
    everything = {"CompanyBankAccountId", "PaymentAmount", "PaymentCurrency", "PaymentDate", "PaymentType"}
    refused(books.post(path, {}), 400, 2000, everything)  # PaymentDate: required in 2018
    refused(books.post(f"/customerinvoices/{'0' * 8}-0000-0000-0000-{'0' * 12}/payments", {}), 404, 3000)
    unknown = "6f1c3a52-6d1e-4a51-9a0e-5b7f1c0d2e11"
    refused(books.pay(invoice, 10, CompanyBankAccountId=unknown), 400, 2000, {"CompanyBankAccountId"})
    closed = books.bank("Plusgiro (avslutat)")["Id"]
    body = refused(books.pay(invoice, 10, CompanyBankAccountId=closed), 400, 2000, {"CompanyBankAccountId"})
    assert body["Errors"][0]["Key"] == "Inactive"
    refused(books.pay(invoice, 10, CompanyBankAccountId="not-a-uuid"), 400, 2000, {"CompanyBankAccountId"})
    refused(books.pay(invoice, 10, PaymentCurrency="EUR"), 400, 2000, {"PaymentCurrency"})
    refused(books.pay(invoice, 10, PaymentCurrency=""), 400, 2000, {"PaymentCurrency"})
    refused(books.pay(invoice, 10, PaymentDate="2026-01-02"), 400, 2000, {"PaymentDate"})
    refused(
        books.pay(invoice, 10, PaymentDate="2026-01-01T23:30:00Z"), 400, 2000, {"PaymentDate"}
    )  # Jan 2 in Stockholm
    refused(books.pay(invoice, 10, PaymentDate="yesterday"), 400, 2000, {"PaymentDate"})
    refused(books.pay(invoice, 10.001), 400, 2000, {"PaymentAmount"})
    refused(books.pay(invoice, 0), 400, 2000, {"PaymentAmount"})
    refused(books.pay(invoice, -10), 400, 2000, {"PaymentAmount"})
    refused(books.pay(invoice, 125.01), 400, 2000, {"PaymentAmount"})
    refused(books.pay(invoice, "10"), 400, 2000, {"PaymentAmount"})
    for kind in (0, 5):
        refused(books.pay(invoice, 10, PaymentType=kind), 400, 2000, {"PaymentType"})
    refused(books.pay(invoice, 10, BankFeeAmount=-1), 400, 2000, {"BankFeeAmount"})
    refused(books.pay(invoice, 10, Reference="x" * 101), 400, 2000, {"Reference"})
    both = books.pay(invoice, 0, PaymentCurrency="EUR", CompanyBankAccountId=closed)
    refused(both, 400, 2000, {"PaymentAmount", "PaymentCurrency", "CompanyBankAccountId"})  # every problem at once
    assert sandbox.payments == [] and remaining(books, invoice) == (125, 125, 1, None)
    for kind in (1, 2, 3, 4):
        assert books.pay(invoice, 1, PaymentType=kind).status_code == 201
    assert books.pay(invoice, 1, CompanyBankAccountId=books.bank("PayPal")["Id"]).status_code == 201
    added = sandbox.add_bank_account("Swish", 1942, 5)
    assert books.pay(invoice, 1, CompanyBankAccountId=added["Id"]).status_code == 201
    assert books.pay(invoice, 1, PaymentDate="2026-01-01T23:30:00+01:00").status_code == 201  # company-local
    assert remaining(books, invoice)[0] == 118


def test_payment_date_follows_the_company_timezone(books: Books, clock: FakeClock) -> None:
    clock.advance(23.5 * 3600)  # 2026-01-01T23:30Z: already 2026-01-02 in Stockholm
    books.relogin()
    invoice = books.invoice()
    assert books.pay(invoice, 10, PaymentDate="2026-01-02").status_code == 201
    refused(books.pay(invoice, 10, PaymentDate="2026-01-03"), 400, 2000, {"PaymentDate"})


def test_overpayment_accepted(books: Books) -> None:
    invoice = books.invoice()
    refused(books.pay(invoice, 150), 400, 2000, {"PaymentAmount"})
    books.sb.quirks.add("overpayment-accepted")
    assert books.pay(invoice, 150).status_code == 201
    assert remaining(books, invoice) == (-25, -25, 0, "2026-01-01T00:00:00")
    refused(books.pay(invoice, -1), 400, 2000, {"PaymentAmount"})  # the sign rule still holds
    credit = books.invoice(IsCreditInvoice=True)
    assert books.pay(credit, -200).status_code == 201
    assert remaining(books, credit)[:3] == (75, 75, 0)


def test_payment_200(books: Books) -> None:
    books.sb.quirks.add("payment-200")
    r = books.pay(books.invoice(), 10)
    assert r.status_code == 200 and r.json()["PaymentAmount"] == 10


def test_bank_fee_readings(books: Books) -> None:
    invoice = books.invoice()
    assert books.pay(invoice, 98, BankFeeAmount=2).status_code == 201  # the fee settles the invoice too
    assert remaining(books, invoice)[0] == 25
    refused(books.pay(invoice, 24, BankFeeAmount=2), 400, 2000, {"PaymentAmount"})
    books.sb.quirks.add("bank-fee-not-settling")
    assert books.pay(invoice, 24, BankFeeAmount=2).status_code == 201
    assert remaining(books, invoice)[0] == 1


# ---------------------------------------------------------------- sales orders
def _order(books: Books, **extra: Any) -> dict[str, Any]:
    customer, article = books.customer(), books.article(f"O-{len(books.sb.articles) + 1}")
    body = {**order_body(customer, [{"ArticleId": article["Id"], "UnitPrice": 100, "Quantity": 2}]), **extra}
    r = books.post("/orders", body)
    assert r.status_code == 201, r.text
    return dict(r.json())


def test_order_status_is_required_and_only_convert_invoices(books: Books) -> None:
    customer = books.customer()
    body = order_body(customer, [])
    refused(books.post("/orders", {k: v for k, v in body.items() if k != "Status"}), 400, 2000, {"Status"})
    for status in (0, 4, 5):
        refused(books.post("/orders", {**body, "Status": status}), 400, 2000, {"Status"})
    order = _order(books, YourReference="#5001")
    assert order["Status"] == 1
    put_body = order_body(customer, [])
    for status in (2, 3, 1):
        r = books.put(f"/orders/{order['Id']}", {**put_body, "Status": status})
        assert r.status_code == 200 and r.json()["Status"] == status
    refused(books.put(f"/orders/{order['Id']}", {**put_body, "Status": 4}), 400, 2000, {"Status"})
    refused(books.put(f"/orders/{'0' * 8}-0000-0000-0000-{'0' * 12}", put_body), 404, 3000)
    assert books.sb.orders[order["Id"]]["Status"] == 1


def test_order_convert_books_it_once(books: Books) -> None:
    order = _order(books, YourReference="#6001", Status=3)
    r = books.post(f"/orders/{order['Id']}/convert", {})
    assert r.status_code == 200, r.text  # the spec's status for this convert
    invoice = r.json()
    assert invoice["YourReference"] == "#6001" and invoice["CreatedFromOrderId"] == order["Id"]
    assert invoice["TotalAmountInvoiceCurrency"] == order["Amount"] == 250
    assert invoice["RemainingAmountInvoiceCurrency"] == 250 and invoice["PaymentStatus"] == 1
    assert invoice["InvoiceDate"] == "2026-01-01T00:00:00" and invoice["CurrencyCode"] == "SEK"
    assert books.get(f"/orders/{order['Id']}").json()["Status"] == 4
    again = refused(books.post(f"/orders/{order['Id']}/convert", None), 400, 4000)
    assert again["DeveloperErrorMessage"].startswith("Conflict - ")
    refused(books.put(f"/orders/{order['Id']}", order_body(books.customer(), [])), 400, 4002)
    refused(books.s.delete(f"{books.sb.api_url}/orders/{order['Id']}", timeout=5), 400, 4001)
    assert len(books.sb.invoices) == 1 and books.pay(invoice, 250).status_code == 201
    refused(books.post(f"/orders/{'0' * 8}-0000-0000-0000-{'0' * 12}/convert", {}), 404, 3000)
    other = _order(books)
    assert books.s.delete(f"{books.sb.api_url}/orders/{other['Id']}", timeout=5).status_code == 204
    books.sb.quirks.add("no-order-module")
    refused(books.post(f"/orders/{_order_id(books)}/convert", {}), 403, 4002)


def _order_id(books: Books) -> str:
    return next(iter(books.sb.orders))


def test_unknown_actions_and_methods(books: Books) -> None:
    draft = books.draft()
    assert books.post(f"/customerinvoicedrafts/{draft['Id']}/approve", {}).status_code == 404
    assert books.get(f"/customerinvoicedrafts/{draft['Id']}/convert").status_code == 405
    assert books.put(f"/customerinvoices/{books.invoice()['Id']}", {}).status_code == 405
    broken = books.s.post(f"{books.sb.api_url}/customerinvoicedrafts/{draft['Id']}/convert", data=b"{", timeout=5)
    refused(broken, 400, 2000, {"body"})
    assert draft["Id"] in books.sb.drafts


# ---------------------------------------------------------------- faults
def test_timeout_after_commit_on_convert_leaves_the_invoice_booked(books: Books) -> None:
    draft = books.draft(YourReference="#7001")
    books.sb.inject_fault("POST", f"customerinvoicedrafts/{draft['Id']}/convert", "timeout-after-commit")
    with pytest.raises(requests.ConnectionError):
        books.convert(draft["Id"])
    assert books.sb.requests[-1] == ("POST", f"/v2/customerinvoicedrafts/{draft['Id']}/convert", 0)
    assert books.sb.drafts == {}
    found = books.get("/customerinvoices", **{"$filter": "YourReference eq '#7001'"}).json()["Data"]
    assert len(found) == 1 and found[0]["CreatedFromDraftId"] == draft["Id"]
    refused(books.convert(draft["Id"]), 404, 3000)  # a blind retry books nothing twice


def test_timeout_after_commit_on_a_payment_leaves_it_recorded(books: Books) -> None:
    invoice = books.invoice()
    books.sb.inject_fault("POST", f"customerinvoices/{invoice['Id']}/payments", "timeout-after-commit")
    with pytest.raises(requests.ConnectionError):
        books.pay(invoice, 100)
    assert len(books.sb.payments) == 1 and remaining(books, invoice)[0] == 25
    refused(books.pay(invoice, 100), 400, 2000, {"PaymentAmount"})  # the retry would overpay


@pytest.mark.parametrize("kind", ["500-after-commit", "timeout-after-commit"])
def test_after_commit_faults_on_every_new_write(books: Books, kind: str) -> None:
    seen: list[tuple[str, str]] = []
    books.sb.on_commit = lambda method, path, body: seen.append((method, path))
    failed = (requests.ConnectionError,) if kind.startswith("timeout") else ()

    def faulted(prefix: str, call: Any) -> None:
        books.sb.inject_fault("POST" if not prefix.startswith("PUT ") else "PUT", prefix.removeprefix("PUT "), kind)
        try:
            r = call()
        except failed:
            return
        assert r.status_code == 500, r.text

    customer, article = books.customer(), books.article("F-1")
    direct = {"CustomerId": customer["Id"], "EuThirdParty": False, "RotReducedInvoicingType": 0, "Rows": []}
    direct["Rows"] = [{"ArticleId": article["Id"], "UnitPrice": 10, "Quantity": 1}]
    faulted("/v2/customerinvoices", lambda: books.post("/customerinvoices", direct))
    assert len(books.sb.invoices) == 1
    invoice = next(iter(books.sb.invoices.values()))
    faulted("customerinvoices/", lambda: books.pay(invoice, 5))
    assert len(books.sb.payments) == 1
    order = _order(books)
    faulted("PUT orders/", lambda: books.put(f"/orders/{order['Id']}", {**order_body(customer, []), "Status": 2}))
    assert books.sb.orders[order["Id"]]["Status"] == 2
    faulted("orders/", lambda: books.post(f"/orders/{order['Id']}/convert", {}))
    assert books.sb.orders[order["Id"]]["Status"] == 4 and len(books.sb.invoices) == 2
    draft = books.draft()
    faulted(f"/customerinvoicedrafts/{draft['Id']}/convert", lambda: books.convert(draft["Id"]))
    assert books.sb.drafts == {} and len(books.sb.invoices) == 3
    assert [m for m, _ in seen].count("POST") >= 5 and ("PUT", f"/v2/orders/{order['Id']}") in seen


def test_faults_before_commit_change_nothing(books: Books) -> None:
    invoice = books.invoice()
    books.sb.inject_fault("POST", "/v2/customerinvoices/", "500")
    assert books.pay(invoice, 10).status_code == 500
    draft = books.draft()
    books.sb.inject_fault("POST", "customerinvoicedrafts/", "400")
    assert books.convert(draft["Id"]).status_code == 400
    order = _order(books)
    books.sb.inject_fault("POST", "orders/", "429")
    assert books.post(f"/orders/{order['Id']}/convert", {}).status_code == 429
    assert books.sb.orders[order["Id"]]["Status"] == 1 and len(books.sb.invoices) == 1
    assert books.sb.payments == [] and draft["Id"] in books.sb.drafts
    assert books.pay(invoice, 10).status_code == 201 and books.convert(draft["Id"]).status_code == 201
