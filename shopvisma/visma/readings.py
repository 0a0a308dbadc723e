"""Readings of Visma fields whose scale or spelling the docs leave open.

An article account coding's VAT rate is the case that matters: the spec says only
"VAT rate percent" for `VatRatePercent`, and real companies may serve 25 or 0.25; the
human label `VatRate` may say "25%", "25", "25,00 %" or be a code. Reading one wrong
misstates VAT on every document, so the scale is decided for the whole list at once
(one company serves one scale), each coding is cross-checked against its label where
the label is a number, and a disagreement stops the run with the coding named rather
than guessing. Pure functions, standard library only: `doctor` and a pass both use it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from shopvisma.errors import ExitCode, ShopvismaError

log = logging.getLogger("shopvisma.visma.client")

PERCENT, FRACTION, MIXED = "percent", "fraction", "mixed"
HUNDRED = Decimal(100)
_LABEL = re.compile(r"^\s*(\d+(?:[.,]\d+)?)\s*(%?)\s*$")


@dataclass(frozen=True)
class CodingReading:
    """The rates (coding Id → percent) and the scale they were read in: "percent",
    "fraction", "mixed" (decided per coding from its label), or None when no coding had a
    non-zero VatRatePercent (then the hint passed in, if any, is returned unchanged)."""

    rates: dict[str, Decimal]
    scale: str | None


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        d = Decimal(str(value).strip().replace(",", "."))
    except (InvalidOperation, ValueError):
        return None
    return d if d.is_finite() else None


def label_percent(vat_rate: Any) -> Decimal | None:
    """VatRate's number, in percent, when the label is a number at all ("25%", "25,00 %", "25");
    a bare number of at most 1 is a fraction (no VAT rate is between 0 and 1 %); a code → None."""
    if isinstance(vat_rate, bool) or vat_rate is None:
        return None
    if isinstance(vat_rate, int | float | Decimal):
        text, sign = str(vat_rate), ""
    else:
        match = _LABEL.match(str(vat_rate))
        if not match:
            return None
        text, sign = match.group(1), match.group(2)
    n = _number(text)
    if n is None:
        return None
    return n * HUNDRED if not sign and 0 < n <= 1 else n


def detect_scale(values: Iterable[Decimal | None]) -> str | None:
    """All non-zero values at most 1 → fractions; all above 1 → percent; both → mixed."""
    nonzero = [v for v in values if v]
    if not nonzero:
        return None
    small = sum(1 for v in nonzero if v <= 1)
    return FRACTION if small == len(nonzero) else PERCENT if small == 0 else MIXED


def _clean(d: Decimal) -> Decimal:
    """25.00 → 25 and 0.0 → 0, but 100 stays 100 (not 1E+2), so doctor prints what the UI shows."""
    n = d.normalize()
    if n == 0:
        return Decimal(0)
    exponent = n.as_tuple().exponent
    return n.quantize(Decimal(1)) if isinstance(exponent, int) and exponent > 0 else n


def read_codings(
    codings: list[dict[str, Any]], scale: str | None = None, *, stated: Mapping[str, Decimal] | None = None
) -> CodingReading:
    """Every coding's VAT rate in percent. `scale` is an earlier observation ("percent" or
    "fraction"), used only where this list cannot decide (all zero, or a mixed coding without
    a numeric label): the data itself wins, since Visma may change. `stated` is what the config
    says a coding's rate is ([mapping] vat_codings, coding Id → percent): it settles a
    disagreement when it equals one of the two readings."""
    hint = scale if scale in (PERCENT, FRACTION) else None
    raws = {str(c["Id"]): _number(c.get("VatRatePercent")) for c in codings if c.get("Id")}
    detected = detect_scale(raws.values())
    whole = detected if detected in (PERCENT, FRACTION) else hint if detected is None else None
    rates: dict[str, Decimal] = {}
    for c in codings:
        if not c.get("Id"):
            continue
        cid, raw, label = str(c["Id"]), raws[str(c["Id"])], label_percent(c.get("VatRate"))
        if raw is None:
            pct = label if label is not None else Decimal(0)
        elif raw == 0 or whole == PERCENT:
            pct = raw
        elif whole == FRACTION:
            pct = raw * HUNDRED
        elif label is not None and label in (raw, raw * HUNDRED):
            pct = label  # mixed list: this coding's own label tells its scale
        else:
            per = hint or (FRACTION if raw <= 1 else PERCENT)
            pct = raw * HUNDRED if per == FRACTION else raw
        if (label is not None and pct != label) or not 0 <= pct < HUNDRED:
            pct = _disagreement(c, raw, label, pct, (stated or {}).get(cid))
        rates[cid] = _clean(pct)
    return CodingReading(rates, detected if detected is not None else hint)


def coding_rates(
    codings: list[dict[str, Any]], scale: str | None = None, *, stated: Mapping[str, Decimal] | None = None
) -> dict[str, Decimal]:
    """Coding Id → VAT percent (see `read_codings`, which also says which scale it read)."""
    return read_codings(codings, scale, stated=stated).rates


def _disagreement(
    coding: dict[str, Any], raw: Decimal | None, label: Decimal | None, pct: Decimal, stated: Decimal | None
) -> Decimal:
    readings = {pct} | ({label} if label is not None else set())
    if stated is not None and any(stated == r for r in readings):
        return stated
    name, cid = coding.get("Name") or "", coding.get("Id")
    what = (
        f"Visma coding {name!r} ({cid}) has VatRatePercent {coding.get('VatRatePercent')!r} but VatRate "
        f"{coding.get('VatRate')!r}"
        if label is not None and pct != label
        else f"Visma coding {name!r} ({cid}) has VatRatePercent {coding.get('VatRatePercent')!r}, which is no VAT rate"
    )
    if not coding.get("IsActive", True):
        log.warning("%s; it is inactive, so it is read as %s %%", what, pct)
        return pct
    raise ShopvismaError(
        f"{what}: its VAT rate cannot be read safely",
        hint=f'state the rate this coding has: [mapping] vat_codings = {{ "<rate>" = "{cid}" }} (see '
        "docs/configuration.md), or correct the coding in Visma eAccounting",
        exit_code=ExitCode.CONFIG,
    )


def document_total(doc: dict[str, Any], expected: Decimal | None = None) -> Decimal | None:
    """A document's total including VAT, to the cent (None when it carries none).

    Drafts and invoices say `TotalAmount`. A sales order says `Amount` and `VatAmount`, and
    whether its `Amount` includes VAT is undocumented ("2 decimals" is all the spec says):
    both readings are tried, and the one nearer `expected` is the answer, so a right
    order is never taken for a wrong one and a wrong one is still seen to be wrong."""
    cent = Decimal("0.01")
    if doc.get("TotalAmount") is not None:
        return Decimal(str(doc["TotalAmount"])).quantize(cent)
    if doc.get("Amount") is None:
        return None
    amount = Decimal(str(doc["Amount"])).quantize(cent)
    readings = [amount, amount + Decimal(str(doc.get("VatAmount") or 0)).quantize(cent)]
    if expected is None:
        return readings[0]
    return min(readings, key=lambda r: abs(abs(r) - abs(expected)))
