"""`shopvisma doctor` as a live, read-only preflight: one reading of the Visma docs per test
(the sandbox's quirks), each checked in the printed table, the JSON, the exit code, the stored
observations file and the sandbox's write count (doctor must never write to Visma)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shopvisma.state import observations
from shopvisma.visma.preflight import FULL_LIST

LOOKUPS = [
    ["customerinvoicedrafts", "YourReference"],
    ["customerinvoices", "YourReference"],
    ["customers", "EmailAddress"],
    ["articles", "Number"],
]


def doctor(world: Any, *quirks: str) -> tuple[int, dict[str, Any], dict[str, dict[str, Any]]]:
    """Run `doctor --json` under `quirks`; (exit code, document, rows by key)."""
    for name in quirks:
        world.visma.quirks.add(name)
    res = world.cli("doctor", "--json")
    doc = json.loads(res.stdout)
    assert world.visma.writes() == 0, "doctor wrote to Visma"
    return res.exit_code, doc, {row["key"]: row for row in doc.get("observations", [])}


def use_order_workflow(world: Any) -> None:
    text = world.config.read_text(encoding="utf-8")
    world.set_config(text.replace('workflow = "invoice-draft"', 'workflow = "order"'))


def test_default_company_nothing_blocks(world: Any) -> None:
    code, doc, rows = doctor(world)
    assert code == 0 and doc["blocking"] is False and doc["exit_code"] == 0
    assert {"company", "codings", "vat_mapping"} <= doc.keys()  # what doctor always listed stays
    assert doc["codings"] and doc["vat_mapping"]
    assert all({"item", "observed", "action", "blocking"} <= row.keys() for row in doc["observations"])
    assert rows["startup-guide"]["observed"].startswith("finished")
    assert rows["vat-rate-scale"]["observed"].startswith("percent")
    assert rows["page-size"]["observed"].startswith("1000 rows per page")
    assert rows["order-module"]["observed"].startswith("active")
    assert rows["scope:ea:sales"]["observed"].startswith("granted")
    assert rows["scope:ea:accounting"]["observed"].startswith("granted")
    assert rows["includes-vat"]["action"] == "checked on every document (read back and corrected)"
    assert "590/min" in rows["rate-limit"]["observed"] and "Retry-After" in rows["rate-limit"]["action"]
    for endpoint, prop in LOOKUPS:
        assert rows[f"filter:{endpoint}.{prop}"]["observed"] == "accepted"
    assert "filter:orders.YourReference" not in rows  # workflow = invoice-draft never looks orders up
    obs = observations.load(world.state_dir)
    assert obs.by == "doctor" and obs.observed_at
    assert obs.vat_rate_scale == "percent" and obs.page_size == 1000 and obs.order_module is True
    assert sorted(obs.filterable) == sorted(LOOKUPS) and obs.unfilterable == []
    assert {"ea:sales", "ea:accounting"} <= set(obs.scopes)
    assert not (world.state_dir / "checkpoint.json").exists()  # read-only: no checkpoint written


def test_human_table_on_stderr(world: Any) -> None:
    res = world.cli("doctor")
    assert res.exit_code == 0 and res.stdout == ""
    assert "what shopvisma will do" in res.stderr and "observed" in res.stderr
    assert "coding VAT rate" in res.stderr and "percent" in res.stderr
    assert "article account codings" in res.stderr and "VAT rate → coding" in res.stderr  # as before
    assert "doctor: nothing blocks a sync" in res.stderr
    assert "BLOCKS" not in res.stderr
    assert world.visma.writes() == 0


def test_vat_rate_fraction(world: Any) -> None:
    code, doc, rows = doctor(world, "vat-rate-fraction")
    assert code == 0, doc
    assert rows["vat-rate-scale"]["observed"].startswith("fraction")
    assert not rows["vat-rate-scale"]["blocking"]
    assert observations.load(world.state_dir).vat_rate_scale == "fraction"


def test_filter_whitelist(world: Any) -> None:
    code, doc, rows = doctor(world, "filter-whitelist")
    assert code == 0 and doc["blocking"] is False
    for endpoint, prop in LOOKUPS:
        row = rows[f"filter:{endpoint}.{prop}"]
        assert row["observed"].startswith("refused (HTTP 400") and row["action"] == FULL_LIST
        assert not row["blocking"]
    obs = observations.load(world.state_dir)
    assert sorted(obs.unfilterable) == sorted(LOOKUPS) and obs.filterable == []
    assert obs.refuses_filter("customers", "EmailAddress")


def test_filter_reading_replaces_an_earlier_one(world: Any) -> None:
    doctor(world, "filter-whitelist")
    world.visma.quirks.discard("filter-whitelist")
    code, _, _ = doctor(world)
    assert code == 0
    obs = observations.load(world.state_dir)
    assert obs.unfilterable == [] and sorted(obs.filterable) == sorted(LOOKUPS)


def test_page_cap_50(world: Any) -> None:
    code, _, rows = doctor(world, "page-cap-50")
    assert code == 0
    assert rows["page-size"]["observed"].startswith("50 rows per page (asked 1000)")
    assert "Meta totals" in rows["page-size"]["action"] and not rows["page-size"]["blocking"]
    assert observations.load(world.state_dir).page_size == 50


def test_no_order_module_blocks_the_order_workflow(world: Any) -> None:
    use_order_workflow(world)
    code, doc, rows = doctor(world, "no-order-module")
    assert code == 78 and doc["blocking"] is True and doc["exit_code"] == 78
    row = rows["order-module"]
    assert row["blocking"] and row["observed"].startswith("not active (HTTP 403 ErrorCode 4002")
    assert 'workflow = "invoice-draft"' in row["action"] and "activate" in row["action"]
    assert [r["key"] for r in doc["observations"] if r["blocking"]] == ["order-module"]
    assert rows["filter:orders.YourReference"]["observed"].startswith("not checked")
    assert observations.load(world.state_dir).order_module is False


def test_order_workflow_probes_the_orders_filter(world: Any) -> None:
    use_order_workflow(world)
    code, _, rows = doctor(world)
    assert code == 0
    assert rows["filter:orders.YourReference"]["observed"] == "accepted"
    assert rows["order-module"]["action"] == "creates sales orders"


def test_no_order_module_is_only_reported_for_drafts(world: Any) -> None:
    code, doc, rows = doctor(world, "no-order-module")
    assert code == 0 and doc["blocking"] is False
    assert rows["order-module"]["observed"].startswith("not active") and not rows["order-module"]["blocking"]
    assert observations.load(world.state_dir).order_module is False


def test_startup_guide(world: Any) -> None:
    code, doc, rows = doctor(world, "startup-guide")
    assert code == 78 and doc["exit_code"] == 78
    assert rows["startup-guide"]["blocking"] and "4003" in rows["startup-guide"]["observed"]
    assert "finish the startup guide in Visma" in rows["startup-guide"]["action"]
    assert doc["company"] is None and doc["codings"] == [] and doc["vat_mapping"] == {}
    assert rows["vat-rate-scale"]["observed"].startswith("not checked")
    obs = observations.load(world.state_dir)
    assert obs.by == "doctor" and obs.vat_rate_scale is None and obs.page_size is None


def test_startup_guide_human(world: Any) -> None:
    world.visma.quirks.add("startup-guide")
    res = world.cli("doctor")
    assert res.exit_code == 78
    assert "BLOCKS" in res.stderr and "finish the startup guide in Visma" in res.stderr
    assert "company: not readable" in res.stderr and "Traceback" not in res.stderr
    assert world.visma.writes() == 0


def test_no_sales_scope(world: Any) -> None:
    code, doc, rows = doctor(world, "no-sales-scope")
    assert code == 77 and doc["exit_code"] == 77
    row = rows["scope:ea:sales"]
    assert row["blocking"] and row["observed"].startswith("missing") and "4006" in row["observed"]
    assert "shopvisma login visma" in row["action"]
    assert rows["scope:ea:accounting"]["observed"].startswith("granted")
    assert doc["observations"][[r["key"] for r in doc["observations"]].index("scope:ea:sales")]["exit_code"] == 77
    obs = observations.load(world.state_dir)
    assert "ea:sales" not in obs.scopes and "ea:accounting" in obs.scopes


@pytest.mark.parametrize("quiet", [False, True])
def test_revoked_grant_stops_with_77_as_every_command(world: Any, quiet: bool) -> None:
    world.visma.revoke_grant()
    res = world.cli("doctor", "--json", *(["-q"] if quiet else []))
    assert res.exit_code == 77
    assert "login visma" in json.loads(res.stdout)["hint"]
    assert not observations.path_of(world.state_dir).exists()


def test_disagreeing_coding_blocks_with_78(world: Any) -> None:
    """A coding whose number and label disagree: VAT would be misstated, so it blocks by name."""
    coding = next(c for c in world.visma.codings.values() if c["VatRatePercent"] == 25 and c["IsActive"])
    coding["VatRate"] = "12%"
    code, doc, rows = doctor(world)
    assert code == 78
    row = rows["vat-rate-scale"]
    assert row["blocking"] and row["observed"].startswith("disagreement") and coding["Id"] in row["observed"]
    assert "vat_codings" in row["action"]


def test_missing_unit_blocks_but_the_other_rows_are_observed(world: Any) -> None:
    for unit in world.visma.units.values():
        unit.update(Code="x", Abbreviation="x", AbbreviationEnglish="x", Name="x")
    code, doc, rows = doctor(world)
    assert code == 78 and rows["company-defaults"]["blocking"]
    assert "unit_id" in rows["company-defaults"]["action"]
    assert rows["filter:customers.EmailAddress"]["observed"] == "accepted"  # one failure does not end doctor
    assert observations.load(world.state_dir).page_size == 1000


def test_quiet_prints_only_blocking_rows(world: Any) -> None:
    quiet = world.cli("doctor", "-q")
    assert quiet.exit_code == 0 and quiet.stderr == ""
    world.visma.quirks.add("startup-guide")
    quiet = world.cli("doctor", "-q")
    assert quiet.exit_code == 78 and "BLOCKS startup guide" in quiet.stderr
    assert "rate limit" not in quiet.stderr


@pytest.mark.parametrize(
    "reading",
    [
        "retry-after-header",
        "retry-after-only",
        "create-200",
        "put-204",
        "inner-codes-int",
        "includes-vat-spec-2026",
        "vat-per-row",
    ],
)
def test_readings_doctor_cannot_see_do_not_block(world: Any, reading: str) -> None:
    """Readings that only show on a write or a 429: doctor passes, writes nothing, and says
    what the product does about them."""
    code, doc, rows = doctor(world, reading)
    assert code == 0 and doc["blocking"] is False
    assert rows["includes-vat"]["action"].startswith("checked on every document")


def test_doctor_shows_the_includes_vat_reading_a_sync_learned(world: Any) -> None:
    from shopvisma.sandbox.seed.orders import generate_orders

    world.visma.quirks.add("includes-vat-spec-2026")
    order = next(
        o
        for o in generate_orders(10, seed=3)
        if o["displayFinancialStatus"] == "PAID" and not o.get("cancelledAt") and not o.get("test")
    )
    world.shop.add_order(order)
    assert world.sync_json()[0] == 0
    writes = world.visma.writes()
    res = world.cli("doctor", "--json")
    assert res.exit_code == 0 and world.visma.writes() == writes
    rows = {r["key"]: r for r in json.loads(res.stdout)["observations"]}
    assert "IncludesVat false" in rows["includes-vat"]["observed"], rows["includes-vat"]
    assert observations.load(world.state_dir).includes_vat
