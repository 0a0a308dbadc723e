"""Every price mode end to end: tax-included and tax-excluded shops, private and company
customers, both company settings, and both readings of Visma's IncludesVat (the product
predicts it, reads it back and corrects the rows with PUT when Visma decided otherwise)."""

from __future__ import annotations

import pytest

from shopvisma.sandbox.seed.orders import generate_orders


def _paid(n: int, seed: int, taxes_included: bool) -> list[dict]:
    orders = [
        o
        for o in generate_orders(n * 3, seed=seed, taxes_included=taxes_included)
        if o["displayFinancialStatus"] in ("PAID", "PARTIALLY_REFUNDED")
        and not o.get("cancelledAt")
        and not o.get("test")
    ]
    return orders[:n]


@pytest.mark.parametrize("taxes_included", [True, False], ids=["shop-incl", "shop-excl"])
@pytest.mark.parametrize("excl_for_private", [False, True], ids=["setting-off", "setting-on"])
@pytest.mark.parametrize("rule", ["setting-name", "spec-2026"])
def test_totals_equal_shopify_in_every_price_mode(
    world, taxes_included: bool, excl_for_private: bool, rule: str
) -> None:
    world.visma._state.includes_vat_rule = rule
    world.visma.company_settings["ShowPricesExclVatPC"] = excl_for_private
    orders = _paid(25, seed=31, taxes_included=taxes_included)
    for o in orders:
        world.shop.add_order(o)
    code, doc = world.sync_json()
    assert code == 0, [o for o in doc["orders"] if o["status"] == "failed"]
    by_ref = {d["YourReference"]: d for d in world.visma.drafts.values()}
    for o in orders:
        draft = by_ref[o["name"]]
        assert f"{draft['TotalAmount']:.2f}" == f"{float(o['totalPriceSet']['presentmentMoney']['amount']):.2f}"
