"""`shopvisma doctor`: a live, read-only preflight against the Visma company.

It reports what the company does (visma/preflight.py) plus the company facts the
mapping defaults come from, so the user can fill `[mapping]` before the first
sync. GETs only; the run lock is held because a token refresh rewrites
tokens.json; what was observed is stored for the next passes.
"""

from __future__ import annotations

from typing import Any

from shopvisma import render
from shopvisma.commands.common import locked_state_dir, open_services
from shopvisma.config.settings import Settings
from shopvisma.console import Console
from shopvisma.errors import ShopvismaError


def run(settings: Settings, console: Console) -> int:
    """Exit 0 when nothing blocks a sync, else the code of the first blocking row."""
    doc = run_doctor(settings)
    render.show_doctor(console, doc)
    return int(doc.get("exit_code") or 0)


def run_doctor(settings: Settings) -> dict[str, Any]:
    """The `--json` document of `doctor`."""
    from shopvisma.state import observations
    from shopvisma.state.secrets import TokenFile
    from shopvisma.visma import preflight

    with locked_state_dir(settings) as paths:
        services = open_services(settings, paths.checkpoint)

        def stored_scope() -> str | None:
            try:
                scope = (TokenFile(paths.tokens).load().get("visma") or {}).get("scope")
            except ShopvismaError:
                return None
            return scope if isinstance(scope, str) and scope.strip() else None

        found = preflight.run(
            services.visma, settings, stored_scope=stored_scope, previous=observations.load(settings.state_dir)
        )
        observations.save(settings.state_dir, found.observations)
    company = found.company
    return {
        "company": None
        if company is None
        else {
            "country": company.country_code,
            "currency": company.currency,
            "show_prices_excl_vat_pc": company.show_prices_excl_vat_pc,
            "terms_of_payment_id": company.terms_of_payment_id,
            "unit_id": company.unit_id,
        },
        "codings": []
        if company is None
        else [
            {"id": c.id, "name": c.name, "type": c.type, "vat_percent": str(c.vat_percent), "active": c.active}
            for c in company.codings
        ],
        "vat_mapping": {}
        if found.resolved is None
        else {str(rate): coding for rate, coding in _as_items(found.resolved)},
        "observations": [f.as_dict() for f in found.findings],
        "blocking": found.blocking,
        "exit_code": found.exit_code,
    }


def _as_items(resolved: Any) -> list[tuple[Any, Any]]:
    """`resolved` is a mapping or a VatCodings object, depending on what preflight could read."""
    items = getattr(resolved, "items", None)
    return list(items()) if callable(items) else list(getattr(resolved, "codings", {}).items())
