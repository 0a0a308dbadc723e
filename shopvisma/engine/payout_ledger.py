"""The Visma side of payouts: find a payout's voucher, check the books, post the voucher.

Visma is the source of truth for "done": a payout is booked when a voucher whose text names
it (`Shopify payout <legacyResourceId>`) exists. Vouchers are looked up by a date window
around the payout dates, one `$filter` on VoucherDate for all of a pass's payouts (Visma's
filterable properties are a per-endpoint whitelist, so a refused filter falls back to the
whole list and is remembered in the observations), and matched on the text here, so a
filter Visma ignored or matched loosely cannot make one payout's voucher pass for another's.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shopvisma.mapping.voucher import payout_id_in

if TYPE_CHECKING:
    from shopvisma.engine.ports import VismaApi
    from shopvisma.mapping.voucher import VoucherPlan
    from shopvisma.state.observations import Observations

log = logging.getLogger("shopvisma.engine.payout_ledger")

WINDOW_DAYS = 5  # a voucher is looked for this many days either side of its payout's date
_KEEP = ("Id", "VoucherDate", "VoucherText", "NumberAndNumberSeries", "Rows")


class NotConfirmed(Exception):
    """The POST got no clear answer and the lookup found no voucher: not made (retried next pass)."""


@dataclass
class VoucherBook:
    """What this pass knows of the company's books; every reading is made at most once a pass."""

    client: VismaApi
    observations: Observations
    learned: bool = False
    _years: list[dict[str, Any]] | None = None
    _accounts: dict[tuple[str, str], dict[str, Any] | None] = field(default_factory=dict)
    _currency: str | None = None

    # ------------------------------------------------------------------ lookups
    def vouchers_for(self, dates: list[date]) -> dict[str, list[dict[str, Any]]]:
        """Every voucher naming a payout, by payout id, among those dated around `dates`."""
        if not dates:
            return {}
        lo, hi = min(dates) - timedelta(days=WINDOW_DAYS), max(dates) + timedelta(days=WINDOW_DAYS)
        found: dict[str, list[dict[str, Any]]] = {}
        for v in self._window(lo, hi):
            key = payout_id_in(v.get("VoucherText"))
            if key is not None:
                found.setdefault(key, []).append({k: v[k] for k in _KEEP if k in v})
        return found

    def _window(self, lo: date, hi: date) -> list[dict[str, Any]]:
        from shopvisma.visma.errors import VismaValidationError

        if not self.observations.refuses_filter("vouchers", "VoucherDate"):
            try:
                flt = f"VoucherDate ge {lo.isoformat()} and VoucherDate le {hi.isoformat()}"
                return list(self.client.iter_list("vouchers", filter=flt))
            except VismaValidationError as exc:
                log.warning("Visma refused $filter on vouchers/VoucherDate (%s); reading the list instead", exc.message)
                self.observations.unfilterable.append(["vouchers", "VoucherDate"])
                self.learned = True
        return list(self.client.iter_list("vouchers"))

    def company_currency(self) -> str:
        if self._currency is None:
            cs = self.client.get("companysettings")
            self._currency = str((cs if isinstance(cs, dict) else {}).get("CurrencyCode") or "SEK")
        return self._currency

    def books_problem(self, when: date, accounts: tuple[str, ...]) -> tuple[str, str] | None:
        """(reason, hint) when a voucher dated `when` on `accounts` cannot be posted, else None.
        Visma refuses these too; asking first names the payout and the fix, and costs a few
        reads once a pass instead of a refused write per payout."""
        year = self._year_of(when)
        if year is None:
            return (
                f"Visma has no fiscal year for {when.isoformat()}",
                "create the fiscal year in Visma eAccounting; the next sync books the payout",
            )
        if year.get("IsLockedForAccounting"):
            return (
                f"the Visma fiscal year of {when.isoformat()} is locked for accounting",
                "unlock the year in Visma, or book this payout by hand with the text 'Shopify payout <id>'",
            )
        for number in accounts:
            account = self._account(str(year.get("Id")), number)
            if account is None:
                return (
                    f"account {number} does not exist in the Visma fiscal year {str(year.get('StartDate'))[:4]}",
                    "create the account in Visma, or set another one under [payouts] (docs/configuration.md)",
                )
            if account.get("IsActive") is False or account.get("IsBlockedForManualBooking"):
                return (
                    f"account {number} is inactive or blocked for manual booking in Visma",
                    "activate the account in Visma, or set another one under [payouts]",
                )
        return None

    def _year_of(self, when: date) -> dict[str, Any] | None:
        if self._years is None:
            self._years = list(self.client.iter_list("fiscalyears"))
        day = when.isoformat()
        for y in self._years:
            if str(y.get("StartDate") or "")[:10] <= day <= str(y.get("EndDate") or "")[:10]:
                return y
        return None

    def _account(self, year_id: str, number: str) -> dict[str, Any] | None:
        from shopvisma.visma.errors import VismaError

        key = (year_id, number)
        if key not in self._accounts:
            try:
                got = self.client.get(f"accounts/{year_id}/{number}")
                self._accounts[key] = got if isinstance(got, dict) and got else None
            except VismaError as exc:
                if exc.status not in (400, 404):
                    raise
                self._accounts[key] = None
        return self._accounts[key]

    # ------------------------------------------------------------------ the write
    def post(self, plan: VoucherPlan) -> dict[str, Any]:
        """The voucher made (or, after a lost answer, found); NotConfirmed when neither."""
        from shopvisma.visma.errors import AmbiguousWriteError

        try:
            return self.client.post("vouchers", plan.body())
        except AmbiguousWriteError as exc:
            again = self.vouchers_for([plan.voucher_date]).get(plan.payout_id)
            if again:
                return again[0]
            raise NotConfirmed(str(exc)) from None


def voucher_date(value: Any) -> str:
    """A voucher's date as yyyy-mm-dd, however Visma served it."""
    text = str(value or "")
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).date().isoformat()
    except ValueError:
        return text[:10]


def doctor_rows(client: VismaApi, accounts: tuple[str, str, str], scope_claim: str | None) -> list[dict[str, Any]]:
    """`shopvisma doctor` rows for [payouts] (GETs only): the grant can post vouchers, and today's
    fiscal year is open with the bank, clearing and fees accounts in its chart."""
    from shopvisma.errors import ShopvismaError
    from shopvisma.state.observations import Observations
    from shopvisma.timefmt import utc_now

    rows: list[dict[str, Any]] = []
    granted = (scope_claim or "").split()
    if scope_claim and "ea:accounting" not in granted:
        rows.append(
            {
                "key": "payouts:scope",
                "item": "payouts: scope ea:accounting",
                "observed": f"missing (token scope: {scope_claim})",
                "action": "run shopvisma login visma: with [payouts] set it asks for ea:accounting",
                "blocking": True,
                "exit_code": 77,
            }
        )
    else:
        seen = "granted" if scope_claim else "not stored (the first voucher POST will show it)"
        rows.append(
            {"key": "payouts:scope", "item": "payouts: scope ea:accounting", "observed": seen, "action": "none"}
        )
    try:
        problem = VoucherBook(client, Observations()).books_problem(utc_now().date(), accounts)
    except ShopvismaError as exc:
        problem = (f"not checked ({exc.message})", exc.hint or "see the rows above")
    rows.append(
        {
            "key": "payouts:books",
            "item": "payouts: fiscal year and accounts",
            "observed": problem[0] if problem else f"open; accounts {', '.join(accounts)} exist",
            "action": problem[1] if problem else "none",
        }
    )
    return rows
