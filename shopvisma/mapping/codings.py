"""The VAT rate → article account coding table a plan books each row on.

Read from the company (the active Goods coding per rate) with `[mapping] vat_codings` on
top; a rate with none or several is refused by name in the plan, never guessed. Apart from
the planner because doctor and load_company read the same table without planning anything.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from shopvisma.mapping.rows import fmt_pct, pct_key

if TYPE_CHECKING:
    from shopvisma.mapping.company import Coding, Company
    from shopvisma.mapping.settings import MappingSettings


class VatCodings(dict[Decimal, str]):
    """Rate percent → CodingId, plus `problems`: rates that could not be resolved and why,
    and `key_problems`: (config key, reason) for rate keys of the `[mapping]` table that
    are not numbers, which refuse every order (what the user meant is unknown)."""

    def __init__(self) -> None:
        super().__init__()
        self.problems: dict[Decimal, str] = {}
        self.key_problems: list[tuple[str, str]] = []


def rate_key(key: object) -> Decimal | None:
    """A `[mapping]` rate key ("25", "12.5", "25.0") as a canonical percent, None when it is not
    a finite number ("25%", "moms", "NaN")."""
    try:
        rate = Decimal(str(key).strip())
    except (InvalidOperation, ValueError):
        return None
    return pct_key(rate) if rate.is_finite() else None


def _key_problems(settings: MappingSettings) -> list[tuple[str, str]]:
    return [
        (name, f'[mapping] {name} key "{key}" is not a number')
        for name in ("vat_codings", "shipping_articles")
        for key in getattr(settings, name)
        if rate_key(key) is None
    ]


def resolve_vat_codings(company: Company, settings: MappingSettings) -> VatCodings:
    """Auto: the single active Goods coding per rate; config overrides win but must exist,
    be active and carry the same rate (a mapping to another rate would misstate VAT).
    Never raises on a bad config key: it is reported in `key_problems` instead."""
    result = VatCodings()
    result.key_problems = _key_problems(settings)
    goods: dict[Decimal, list[Coding]] = {}
    for c in company.codings:
        if c.active and c.type.strip().lower() == "goods":
            goods.setdefault(pct_key(c.vat_percent), []).append(c)
    for rate, found in goods.items():
        if len(found) == 1:
            result[rate] = found[0].id
        else:
            names = ", ".join(f"{c.name} ({c.id})" for c in found)
            result.problems[rate] = f"several active Goods codings have {fmt_pct(rate)} % VAT: {names}"
    by_id = {c.id: c for c in company.codings}
    for key, coding_id in settings.vat_codings.items():
        stated = rate_key(key)
        if stated is None:
            continue  # in key_problems
        rate = stated
        chosen = by_id.get(coding_id)
        if chosen is None:
            result.problems[rate] = f"vat_codings {fmt_pct(rate)!r} names coding {coding_id}, which Visma does not have"
        elif not chosen.active:
            result.problems[rate] = (
                f"vat_codings {fmt_pct(rate)!r} names coding {chosen.name} ({chosen.id}), which is inactive"
            )
        elif pct_key(chosen.vat_percent) != rate:
            result.problems[rate] = (
                f"vat_codings {fmt_pct(rate)!r} names coding {chosen.name} ({chosen.id}), "
                f"which has {fmt_pct(chosen.vat_percent)} % VAT"
            )
        else:
            result[rate] = chosen.id
            result.problems.pop(rate, None)
            continue
        result.pop(rate, None)
    return result
