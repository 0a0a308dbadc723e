"""What this company's Visma was seen to do where the docs are silent, kept in the state dir.

Visma's documentation leaves several behaviours open (see docs/sandbox-visma.md,
"Readings"): whether a coding's `VatRatePercent` is 25 or 0.25, which properties
`$filter` accepts, how large a page really is, how `IncludesVat` is decided. The
product handles every reading; what it *observed* (by `shopvisma doctor`, or by a
pass that had to fall back) is written here so the next pass does not pay for
finding out again (a refused filter, or a corrected document per order).

Losing this file costs a few requests, never correctness: every reading is still
checked where it matters (a document's totals are always read back).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

FILE = "visma-observations.json"
SCHEMA = 1


@dataclass
class Observations:
    """Each field is None (or empty) until observed."""

    vat_rate_scale: str | None = None  # "percent" (25) or "fraction" (0.25)
    unfilterable: list[list[str]] = field(default_factory=list)  # [endpoint, property] refused by $filter
    filterable: list[list[str]] = field(default_factory=list)  # [endpoint, property] seen accepted
    page_size: int | None = None  # rows per page Visma actually serves when asked for 1000
    # How Visma decided IncludesVat, as seen on a created document: key
    # "private=<bool>,excl_pc=<bool>" (customer private person, company ShowPricesExclVatPC) → bool
    includes_vat: dict[str, bool] = field(default_factory=dict)
    order_module: bool | None = None
    scopes: list[str] = field(default_factory=list)
    observed_at: str = ""
    by: str = ""  # "doctor" or "sync"

    def refuses_filter(self, endpoint: str, prop: str) -> bool:
        return [endpoint, prop] in self.unfilterable


def path_of(state_dir: Path) -> Path:
    return Path(state_dir) / FILE


def load(state_dir: Path) -> Observations:
    """A missing, unreadable or foreign file is the same as no observation."""
    try:
        raw = json.loads(path_of(state_dir).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return Observations()
    if not isinstance(raw, dict) or raw.get("schema") != SCHEMA:
        return Observations()
    known = Observations.__dataclass_fields__
    try:
        return Observations(**{k: v for k, v in raw.items() if k in known})
    except TypeError:
        return Observations()


def save(state_dir: Path, obs: Observations) -> None:
    from shopvisma.state.files import atomic_write

    data: dict[str, Any] = {"schema": SCHEMA, **asdict(obs)}
    atomic_write(path_of(state_dir), json.dumps(data, indent=2, sort_keys=True).encode("utf-8") + b"\n")
