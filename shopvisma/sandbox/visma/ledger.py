"""The Visma sandbox's general ledger: fiscal years, the chart of accounts, vouchers.

Routed from server.py (`/v2/fiscalyears`, `/v2/accounts`, `/v2/vouchers`) under the sandbox
lock. It refuses what the 2026 OpenAPI says Visma refuses: VoucherApi needs `Rows` and
`VoucherText` (max 1000), VoucherRowApi an integer `AccountNumber` (1..9999999999) and
debit / credit amounts >= 0 with at most 2 decimals, `TransactionText` max 60, and a voucher
"must have balanced debit and credit amounts". The account must exist in the chart of the
fiscal year the date falls in, and that year must exist and be open. Which error code real
Visma gives for each is unconfirmed (shared/reference notes, section 5); the sandbox uses
the documented codes: 2000 DataModelValidationError (unbalanced, bad fields, a locked year),
3001 FiscalYearDoesNotExist, 3002 AccountNotFound, all with HTTP 400.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Collection
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from shopvisma.sandbox.visma.identity import Answer
from shopvisma.sandbox.visma.model import (
    ApiError,
    Json,
    field_error,
    parse_body,
    parse_datetime,
    seed_id,
    utc,
    validation_error,
)
from shopvisma.sandbox.visma.quirks import list_page

ENDPOINTS = ("fiscalyears", "accounts", "vouchers")
MAX_ACCOUNT = 9_999_999_999
DEFAULT_SERIES = "A"  # unconfirmed as Visma's default series name (public Swedish code shows "A1")

# A BAS 2026 subset: what a Swedish web shop books on, plus the accounts of the examples.
CHART: tuple[tuple[str, str], ...] = (
    ("1510", "Kundfordringar"),
    ("1580", "Fordringar för kontokort och kuponger"),
    ("1630", "Avräkning för skatter och avgifter (skattekonto)"),
    ("1910", "Kassa"),
    ("1920", "PlusGiro"),
    ("1930", "Företagskonto/checkkonto/affärskonto"),
    ("1940", "Övriga bankkonton"),
    ("2440", "Leverantörsskulder"),
    ("2611", "Utgående moms på försäljning inom Sverige, 25 %"),
    ("2621", "Utgående moms på försäljning inom Sverige, 12 %"),
    ("2631", "Utgående moms på försäljning inom Sverige, 6 %"),
    ("2640", "Ingående moms"),
    ("3001", "Försäljning inom Sverige, 25 % moms"),
    ("3002", "Försäljning inom Sverige, 12 % moms"),
    ("3003", "Försäljning inom Sverige, 6 % moms"),
    ("3740", "Öres- och kronutjämning"),
    ("6570", "Bankkostnader"),
    ("6590", "Övriga externa tjänster"),
)
_VOUCHER_FIELDS = (
    "Id",
    "VoucherDate",
    "VoucherText",
    "NumberAndNumberSeries",
    "NumberSeries",
    "ImportedVoucherNumber",
    "ModifiedUtc",
    "VoucherType",
    "SourceId",
    "CreatedUtc",
)
_FISCAL_FIELDS = ("Id", "StartDate", "EndDate", "IsLockedForAccounting", "BookkeepingMethod")
_ACCOUNT_FIELDS = ("Name", "Number", "VatCodeId", "FiscalYearId", "IsActive", "IsBlockedForManualBooking")


def _dec(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(value)


def _decimals(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _number(value: Any) -> bool:
    return isinstance(value, (int, Decimal)) and not isinstance(value, bool)


class Ledger:
    """One company's books: 2025 (closed and locked), 2026 and 2027 (open)."""

    def __init__(self) -> None:
        self.fiscal_years: dict[str, Json] = {}
        self.accounts: dict[str, dict[str, Json]] = {}  # fiscal year id → number → account
        self.vouchers: dict[str, Json] = {}
        self._next: dict[str, int] = {}  # fiscal year id → next voucher number
        for year, locked in ((2025, True), (2026, False), (2027, False)):
            fid = seed_id(f"fiscal-year-{year}")
            self.fiscal_years[fid] = {
                "Id": fid,
                "StartDate": f"{year}-01-01T00:00:00",
                "EndDate": f"{year}-12-31T00:00:00",
                "IsLockedForAccounting": locked,
                "BookkeepingMethod": 0,
            }
            self.accounts[fid] = {n: self._account(fid, n, name) for n, name in CHART}
            self._next[fid] = 1

    @staticmethod
    def _account(fid: str, number: str, name: str) -> Json:
        return {
            "Name": name,
            "Number": number,
            "VatCodeId": None,
            "VatCodeDescription": None,
            "FiscalYearId": fid,
            "IsActive": True,
            "AllowTransactionText": True,
            "IsBlockedForManualBooking": False,
            "IsCostCenterAllowed": False,
            "IsProjectAllowed": False,
            "IsFirstCostCenterMandatory": False,
            "CreatedUtc": "2025-01-01T00:00:00Z",
            "ModifiedUtc": "2025-01-01T00:00:00Z",
        }

    # ------------------------------------------------------------------ test controls
    def fiscal_year_of(self, when: datetime) -> Json | None:
        day = when.strftime("%Y-%m-%dT00:00:00")
        return next((fy for fy in self.fiscal_years.values() if fy["StartDate"] <= day <= fy["EndDate"]), None)

    def remove_account(self, number: str) -> None:
        for chart in self.accounts.values():
            chart.pop(number, None)

    def plant(self, body: Json, now: float) -> Json:
        """A voucher made by hand in Visma (a person, another tool): no validation."""
        return self._save(copy.deepcopy(body), now)

    # ------------------------------------------------------------------ routing
    def route(
        self,
        method: str,
        endpoint: str,
        rest: list[str],
        query: dict[str, str],
        raw: bytes,
        quirks: Collection[str],
        now: float,
    ) -> Answer:
        if method == "POST" and endpoint == "vouchers" and not rest:
            body = parse_body(raw)
            return Answer(201, copy.deepcopy(self.create_voucher(body, query, now)))  # server.py applies create-200
        if method != "GET":
            raise ApiError(405, 1000, f"The requested resource does not support http method '{method}'.")
        if endpoint == "fiscalyears":
            return self._get(endpoint, self.fiscal_years, rest, _FISCAL_FIELDS, query, quirks, now)
        if endpoint == "accounts":
            if not rest:
                every = {f"{a['FiscalYearId']}/{n}": a for chart in self.accounts.values() for n, a in chart.items()}
                return self._get(endpoint, every, [], _ACCOUNT_FIELDS, query, quirks, now)
            chart = self.accounts.get(rest[0].lower())
            if chart is None:
                raise ApiError(404, 3001, f"FiscalYearDoesNotExist - No fiscal year has the id {rest[0]}.")
            return self._get(endpoint, chart, rest[1:], _ACCOUNT_FIELDS, query, quirks, now)
        if rest:
            if rest[0].lower() not in self.fiscal_years:
                raise ApiError(404, 3001, f"FiscalYearDoesNotExist - No fiscal year has the id {rest[0]}.")
            fy = self.fiscal_years[rest[0].lower()]
            mine = {k: v for k, v in self.vouchers.items() if fy["StartDate"] <= v["VoucherDate"] <= fy["EndDate"]}
            return self._get(endpoint, mine, rest[1:], _VOUCHER_FIELDS, query, quirks, now)
        return self._get(endpoint, self.vouchers, [], _VOUCHER_FIELDS, query, quirks, now)

    def _get(
        self,
        endpoint: str,
        table: dict[str, Json],
        rest: list[str],
        fields: tuple[str, ...],
        query: dict[str, str],
        quirks: Collection[str],
        now: float,
    ) -> Answer:
        if len(rest) > 1:
            raise ApiError(404, 3000, "No resource matches the request URI.")
        if rest:
            record = table.get(rest[0]) or table.get(rest[0].lower())
            if record is None:
                raise ApiError(404, 3000, f"ResourceNotFound - The resource with id {rest[0]} was not found.")
            return Answer(200, copy.deepcopy(record))
        return Answer(200, copy.deepcopy(list_page(endpoint, list(table.values()), fields, query, quirks, now)))

    # ------------------------------------------------------------------ POST /vouchers
    def create_voucher(self, body: Any, query: dict[str, str], now: float) -> Json:
        if not isinstance(body, dict):
            raise validation_error([field_error("body", "A JSON object is required.", "InvalidType")])
        errors = self._field_errors(body)
        if errors:
            raise validation_error(errors)
        rows = body["Rows"]
        debit = sum((_dec(r.get("DebitAmount") or 0) for r in rows), Decimal(0))
        credit = sum((_dec(r.get("CreditAmount") or 0) for r in rows), Decimal(0))
        if debit != credit:
            raise validation_error(
                [field_error("Rows", f"The voucher is not balanced: debit {debit}, credit {credit}.", "Unbalanced")]
            )
        when = parse_datetime(str(body["VoucherDate"])) if body.get("VoucherDate") else None
        when = when or datetime.fromtimestamp(now, tz=timezone.utc)
        fy = self.fiscal_year_of(when)
        if fy is None:
            raise ApiError(400, 3001, f"FiscalYearDoesNotExist - No fiscal year exists for {when.date().isoformat()}.")
        if fy["IsLockedForAccounting"]:
            raise validation_error(
                [
                    field_error(
                        "VoucherDate",
                        f"The fiscal year of {when.date().isoformat()} is locked for accounting.",
                        "Locked",
                    )
                ]
            )
        chart = self.accounts[fy["Id"]]
        for i, row in enumerate(rows):
            number = str(row["AccountNumber"])
            account = chart.get(number)
            if account is None:
                raise ApiError(
                    400,
                    3002,
                    f"AccountNotFound - Account {number} does not exist in the fiscal year {fy['StartDate'][:4]}.",
                )
            if not account["IsActive"] or account["IsBlockedForManualBooking"]:
                what = "inactive" if not account["IsActive"] else "blocked for manual booking"
                raise validation_error(
                    [field_error(f"Rows[{i}].AccountNumber", f"Account {number} is {what}.", "Account")]
                )
        stored = {**body, "VoucherDate": when.strftime("%Y-%m-%dT00:00:00")}
        stored["Rows"] = [
            {
                "AccountNumber": row["AccountNumber"],
                "AccountDescription": chart[str(row["AccountNumber"])]["Name"],
                "DebitAmount": _dec(row.get("DebitAmount") or 0),
                "CreditAmount": _dec(row.get("CreditAmount") or 0),
                "TransactionText": row.get("TransactionText"),
                "CostCenterItemId1": None,
                "CostCenterItemId2": None,
                "CostCenterItemId3": None,
                "VatCodeId": None,
                "VatCodeAndPercent": None,
                "VatAmount": None,
                "ProjectId": None,
            }
            for row in rows
        ]
        return self._save(stored, now)

    def _save(self, body: Json, now: float) -> Json:
        when = parse_datetime(str(body.get("VoucherDate") or "")) or datetime.fromtimestamp(now, tz=timezone.utc)
        fy = self.fiscal_year_of(when)
        fid = fy["Id"] if fy else ""
        number = self._next.get(fid, 1)
        self._next[fid] = number + 1
        voucher = {
            "Id": str(uuid.uuid4()),
            "VoucherDate": when.strftime("%Y-%m-%dT00:00:00"),
            "VoucherText": body.get("VoucherText") or "",
            "Rows": body.get("Rows") or [],
            "NumberAndNumberSeries": f"{DEFAULT_SERIES}{number}",
            "NumberSeries": DEFAULT_SERIES,
            "ImportedVoucherNumber": None,
            "Attachments": None,
            "ModifiedUtc": utc(now),
            "VoucherType": body.get("VoucherType", 2),
            "SourceId": None,
            "CreatedUtc": utc(now),
        }
        self.vouchers[voucher["Id"]] = voucher
        return voucher

    @staticmethod
    def _field_errors(body: Json) -> list[Json]:
        errors: list[Json] = []
        text = body.get("VoucherText")
        if not isinstance(text, str) or not text.strip():
            errors.append(field_error("VoucherText", "The VoucherText field is required.", "Required"))
        elif len(text) > 1000:
            errors.append(
                field_error("VoucherText", "The field VoucherText must be at most 1000 characters.", "MaxLength")
            )
        date_value = body.get("VoucherDate")
        if date_value is not None and (not isinstance(date_value, str) or parse_datetime(date_value) is None):
            errors.append(
                field_error("VoucherDate", "The value for VoucherDate is not a valid date-time.", "InvalidType")
            )
        rows = body.get("Rows")
        if not isinstance(rows, list) or not rows:
            errors.append(field_error("Rows", "The Rows field is required.", "Required"))
            return errors
        for i, row in enumerate(rows):
            at = f"Rows[{i}]."
            if not isinstance(row, dict):
                errors.append(field_error(at.rstrip("."), "A JSON object is required.", "InvalidType"))
                continue
            number = row.get("AccountNumber")
            if number is None:
                errors.append(field_error(at + "AccountNumber", "The AccountNumber field is required.", "Required"))
            elif not isinstance(number, int) or isinstance(number, bool):
                errors.append(
                    field_error(
                        at + "AccountNumber", "The value for AccountNumber is not a valid integer.", "InvalidType"
                    )
                )
            elif not 1 <= number <= MAX_ACCOUNT:
                errors.append(
                    field_error(at + "AccountNumber", f"AccountNumber must be between 1 and {MAX_ACCOUNT}.", "Range")
                )
            amounts = {}
            for name in ("DebitAmount", "CreditAmount"):
                value = row.get(name)
                if value is None:
                    continue
                if not _number(value):
                    errors.append(field_error(at + name, f"The value for {name} is not a valid number.", "InvalidType"))
                elif value < 0:
                    errors.append(field_error(at + name, f"{name} must be 0 or more.", "Range"))
                elif _decimals(_dec(value)) > 2:
                    errors.append(field_error(at + name, f"{name}: at most 2 decimals are allowed.", "Decimals"))
                else:
                    amounts[name] = _dec(value)
            if len(amounts) == 2 and all(amounts.values()):
                errors.append(
                    field_error(at + "DebitAmount", "A row is either a debit or a credit, not both.", "Invalid")
                )
            elif not any(amounts.values()) and not any(e["Field"].startswith(at) for e in errors):
                errors.append(field_error(at + "DebitAmount", "A row needs a debit or a credit amount.", "Required"))
            tt = row.get("TransactionText")
            if tt is not None and (not isinstance(tt, str) or len(tt) > 60):
                errors.append(
                    field_error(at + "TransactionText", "TransactionText: at most 60 characters.", "MaxLength")
                )
        return errors
