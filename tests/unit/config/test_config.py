"""config.toml → Settings: every problem is a ConfigError naming file, key and fix."""

from __future__ import annotations

import dataclasses
import re
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from shopvisma.config import settings as config
from shopvisma.config.settings import config_path, known_keys, load_settings, write_starter_config
from shopvisma.config.starter import DOC_BEGIN, DOC_END, mapping_doc_table
from shopvisma.errors import ConfigError, ExitCode
from shopvisma.mapping.settings import MappingSettings
from support.paths import ROOT

DOCS = ROOT / "docs" / "configuration.md"

MINIMAL = '[shopify]\nshop = "example.myshopify.com"\n'


@pytest.fixture(autouse=True)
def _isolate(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("SHOPVISMA_CONFIG", raising=False)
    monkeypatch.delenv("SHOPVISMA_STATE_DIR", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def error(tmp_path: Path, text: str) -> ConfigError:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    err = info.value
    assert err.exit_code == ExitCode.CONFIG
    assert str(path) in str(err)
    return err


def test_minimal_config_gets_documented_defaults(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path, MINIMAL))
    assert s.path == tmp_path / "config.toml"
    assert s.shopify.shop == "example.myshopify.com"
    assert s.shopify.api_version == "2025-07"
    assert s.shopify.api_url == "https://example.myshopify.com/admin/api/2025-07/graphql.json"
    assert s.shopify.origin == "https://example.myshopify.com"
    assert s.shopify.token_url == "https://example.myshopify.com/admin/oauth/access_token"
    assert s.visma.environment == "production" and s.visma.workflow == "invoice-draft"
    assert s.visma.api_url == "https://eaccountingapi.vismaonline.com/v2"
    assert s.visma.token_url == "https://identity.vismaonline.com/connect/token"
    assert s.visma.redirect_uri == "http://127.0.0.1:8765/callback"
    assert s.criteria.financial_status == ("paid",)
    assert s.criteria.fulfillment_status == () and s.criteria.created_at_min is None
    assert s.mapping == MappingSettings()
    assert s.notify.healthcheck_url == ""
    assert (s.sync.overlap_minutes, s.sync.max_wait_seconds) == (10, 300)
    assert s.state_dir == tmp_path / "xdg-state" / "shopvisma"
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.shopify.shop = "x"  # type: ignore[misc]


def test_contract_example_loads(tmp_path: Path) -> None:
    s = load_settings(
        write(
            tmp_path,
            """
[shopify]
shop = "example.myshopify.com"
api_version = "2025-07"
api_url = "http://127.0.0.1:8001/admin/api/2025-07/graphql.json"

[visma]
environment = "sandbox"
workflow = "order"
api_url = "http://127.0.0.1:8002/v2"
identity_url = "http://127.0.0.1:8002/identity/"

[criteria]
financial_status = ["paid", "partially_refunded"]
fulfillment_status = ["unfulfilled", "partially_fulfilled", "fulfilled"]
created_at_min = "2026-01-01T00:00:00Z"
tags_include = [" b2b ", "b2b"]
""",
        )
    )
    assert s.shopify.origin == "http://127.0.0.1:8001"
    assert s.shopify.token_url == "http://127.0.0.1:8001/admin/oauth/access_token"
    assert s.visma.workflow == "order"
    assert s.visma.token_url == "http://127.0.0.1:8002/identity/connect/token"
    assert s.criteria.created_at_min == datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert s.criteria.tags_include == ("b2b",)


def test_sandbox_environment_defaults(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path, MINIMAL + '[visma]\nenvironment = "sandbox"\n'))
    assert s.visma.api_url == "https://eaccountingapi-sandbox.test.vismaonline.com/v2"
    assert s.visma.identity_url == "https://identity-sandbox.test.vismaonline.com"


@pytest.mark.parametrize(
    "given",
    [
        "example",
        "example.myshopify.com",
        "https://Example.myshopify.com/",
        "example.myshopify.com/admin",
        "https://admin.shopify.com/store/example",
    ],
)
def test_shop_is_normalised(tmp_path: Path, given: str) -> None:
    s = load_settings(write(tmp_path, f'[shopify]\nshop = "{given}"\n'))
    assert s.shopify.shop == "example.myshopify.com"


def test_missing_file_hints_init(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path / "nope.toml")
    assert "nope.toml" in str(info.value) and "shopvisma init" in info.value.hint


def test_toml_syntax_error_names_line(tmp_path: Path) -> None:
    err = error(tmp_path, '[shopify]\nshop = "x"\nbroken = \n')
    assert "line 3" in str(err)


def test_unknown_key_is_an_error_with_suggestion(tmp_path: Path) -> None:
    err = error(tmp_path, MINIMAL + '[criteria]\nfinancial_statuses = ["paid"]\n')
    assert "criteria.financial_statuses" in str(err) and "unknown key" in str(err)
    assert "criteria.financial_status`" in err.hint


def test_unknown_table_and_misplaced_key(tmp_path: Path) -> None:
    err = error(tmp_path, MINIMAL + '[shopfy]\nshop = "x"\n')
    assert "`shopfy`" in str(err) and "shopify" in err.hint
    err = error(tmp_path, MINIMAL + 'workflow = "order"\n')  # lands in [shopify]
    assert "shopify.workflow" in str(err) and "visma.workflow" in err.hint


def test_unknown_mapping_key_suggests(tmp_path: Path) -> None:
    err = error(tmp_path, MINIMAL + '[mapping]\nunit = "x"\n')
    assert "mapping.unit" in str(err) and "mapping.unit_id" in err.hint


@pytest.mark.parametrize(
    "text, key, fragment",
    [
        ("[shopify]\nshop = 5\n", "shopify.shop", "must be a string"),
        (MINIMAL + '[visma]\nworkflow = "invoices"\n', "visma.workflow", "is not one of"),
        (MINIMAL + '[visma]\nenvironment = "prod"\n', "visma.environment", "is not one of"),
        (MINIMAL + '[criteria]\nfinancial_status = "paid"\n', "criteria.financial_status", "must be a list"),
        (MINIMAL + '[criteria]\nfinancial_status = ["payed"]\n', "criteria.financial_status", "financial status"),
        (MINIMAL + '[criteria]\nfinancial_status = ["PAID"]\n', "criteria.financial_status", "lower case"),
        (MINIMAL + '[criteria]\nfulfillment_status = ["shipped"]\n', "criteria.fulfillment_status", "fulfillment"),
        (MINIMAL + '[criteria]\ncreated_at_min = "2026-01-01T00:00:00"\n', "criteria.created_at_min", "time zone"),
        (MINIMAL + "[criteria]\ncreated_at_min = 2026-01-01\n", "criteria.created_at_min", "time zone"),
        (MINIMAL + '[criteria]\ncreated_at_min = "yesterday"\n', "criteria.created_at_min", "ISO 8601"),
        (MINIMAL + '[sync]\noverlap_minutes = "10"\n', "sync.overlap_minutes", "integer"),
        (MINIMAL + "[sync]\noverlap_minutes = true\n", "sync.overlap_minutes", "integer"),
        (MINIMAL + "[sync]\nmax_wait_seconds = -1\n", "sync.max_wait_seconds", "negative"),
        (MINIMAL + '[mapping]\nrounding_tolerance = "abc"\n', "mapping.rounding_tolerance", "decimal"),
        (MINIMAL + '[mapping]\ndiscount_mode = "row"\n', "mapping.discount_mode", "is not one of"),
        (MINIMAL + '[mapping]\nvat_codings = "x"\n', "mapping.vat_codings", "table"),
        (MINIMAL + '[mapping.vat_codings]\n"25" = 7\n', "mapping.vat_codings.25", "string"),
        (MINIMAL + "[mapping]\nunit_id = 3\n", "mapping.unit_id", "string"),
        (MINIMAL + "shopify = 1\n", "shopify.shopify", "unknown"),
        ('shopify = "x"\n', "shopify", "table"),
        ('[shopify]\napi_version = "latest"\nshop = "x"\n', "shopify.api_version", "API version"),
        ('[shopify]\nshop = "not a shop!"\n', "shopify.shop", "shop domain"),
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, text: str, key: str, fragment: str) -> None:
    err = error(tmp_path, text)
    assert f"`{key}" in str(err), str(err)
    assert fragment in str(err), str(err)


def test_missing_required_shop(tmp_path: Path) -> None:
    err = error(tmp_path, '[visma]\nworkflow = "order"\n')
    assert "`shopify.shop`" in str(err) and "missing" in str(err)
    s = load_settings(write(tmp_path, '[shopify]\napi_url = "http://127.0.0.1:9/admin/api/2025-07/graphql.json"\n'))
    assert s.shopify.origin == "http://127.0.0.1:9"


def test_several_problems_are_reported_together(tmp_path: Path) -> None:
    err = error(tmp_path, MINIMAL + '[visma]\nworkflow = "x"\nenvironment = "y"\n')
    assert "2 problems" in str(err)
    assert err.keys == ["visma.workflow", "visma.environment"]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "key, url",
    [
        ("shopify.api_url", "http://shop.example.com/admin/api/2025-07/graphql.json"),
        ("visma.api_url", "http://10.0.0.5/v2"),
        ("visma.identity_url", "http://identity.example.com"),
        ("notify.healthcheck_url", "http://hc-ping.com/x"),
        ("visma.api_url", "ftp://127.0.0.1/v2"),
        ("notify.healthcheck_url", "https://user:pw@hc-ping.com/x"),
    ],
)
def test_insecure_urls_refused(tmp_path: Path, key: str, url: str) -> None:
    table, name = key.split(".")
    body = MINIMAL if table != "shopify" else '[shopify]\nshop = "example"\n'
    text = (
        body.replace("[shopify]\n", f'[shopify]\n{name} = "{url}"\n')
        if table == "shopify"
        else f'{body}[{table}]\n{name} = "{url}"\n'
    )
    err = error(tmp_path, text)
    assert f"`{key}`" in str(err)
    assert "user:pw" not in str(err)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.1.2.3", "[::1]", "localhost"])
def test_loopback_http_allowed(tmp_path: Path, host: str) -> None:
    s = load_settings(
        write(
            tmp_path,
            MINIMAL + f'[visma]\napi_url = "http://{host}:8002/v2"\n[notify]\nhealthcheck_url = "http://{host}/ping"\n',
        )
    )
    assert s.visma.api_url == f"http://{host}:8002/v2"


def test_mapping_values_converted_from_annotations(tmp_path: Path) -> None:
    s = load_settings(
        write(
            tmp_path,
            MINIMAL
            + """
[mapping]
rounding_tolerance = 0.1
unit_id = "abc"
customer_type = "company"
[mapping.vat_codings]
"25" = "c-25"
"12" = "c-12"
""",
        )
    )
    assert s.mapping.rounding_tolerance == Decimal("0.1")
    assert isinstance(s.mapping.rounding_tolerance, Decimal)
    assert s.mapping.vat_codings == {"25": "c-25", "12": "c-12"}
    assert s.mapping.customer_type == "company" and s.mapping.unit_id == "abc"
    s = load_settings(write(tmp_path, MINIMAL + '[mapping]\nrounding_tolerance = "0.10"\n'))
    assert str(s.mapping.rounding_tolerance) == "0.10"


def test_every_mapping_field_is_a_config_key(tmp_path: Path) -> None:
    keys = known_keys()
    for f in dataclasses.fields(MappingSettings):
        assert f"mapping.{f.name}" in keys


def test_state_dir_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sub = tmp_path / "etc"
    sub.mkdir()
    path = sub / "config.toml"
    path.write_text(MINIMAL + '[state]\ndir = "state"\n')
    assert load_settings(path).state_dir == sub / "state"
    path.write_text(MINIMAL + '[state]\ndir = "~/sv"\n')
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert load_settings(path).state_dir == tmp_path / "home" / "sv"
    monkeypatch.setenv("SHOPVISMA_STATE_DIR", str(tmp_path / "envstate"))
    assert load_settings(path).state_dir == tmp_path / "envstate"


def test_config_path_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert config_path(None) == tmp_path / "xdg-config" / "shopvisma" / "config.toml"
    monkeypatch.setenv("SHOPVISMA_CONFIG", str(tmp_path / "env.toml"))
    assert config_path(None) == tmp_path / "env.toml"
    assert config_path(tmp_path / "cli.toml") == tmp_path / "cli.toml"
    (tmp_path / "env.toml").write_text(MINIMAL)
    assert load_settings().path == tmp_path / "env.toml"


def test_starter_config_loads_once_shop_is_set(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "dir" / "config.toml"
    write_starter_config(path)
    assert path.stat().st_mode & 0o777 == 0o644
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert "`shopify.shop`" in str(info.value)
    path.write_text(path.read_text().replace('shop = ""', 'shop = "example"'))
    s = load_settings(path)
    assert s.shopify.shop == "example.myshopify.com" and s.criteria.created_at_min is not None
    with pytest.raises(ConfigError, match="already exists"):
        write_starter_config(path)
    assert "example" in path.read_text()


def test_starter_config_mapping_lines_are_valid_when_uncommented(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    write_starter_config(path, shop="example")
    text = re.sub(r"^# (\w+ = )", r"\1", path.read_text(), flags=re.M)
    path.write_text(text)
    s = load_settings(path)
    assert s.mapping == MappingSettings()
    assert s.state_dir == tmp_path / "state"
    assert s.notify.healthcheck_url.startswith("https://")


def test_docs_document_every_key() -> None:
    if not DOCS.exists():
        pytest.fail(f"{DOCS} is missing")
    text = DOCS.read_text(encoding="utf-8")
    missing = [key for key in known_keys() if f"`{key}`" not in text]
    assert not missing, f"undocumented config keys in {DOCS}: {missing}"


def test_docs_mapping_table_is_generated_from_metadata() -> None:
    text = DOCS.read_text(encoding="utf-8")
    block = text.split(DOC_BEGIN, 1)[1].split(DOC_END, 1)[0].strip()
    assert block == mapping_doc_table(), (
        "docs/configuration.md is out of date: run `python -m shopvisma.config.starter docs/configuration.md`"
    )


def test_parse_settings_without_file(tmp_path: Path) -> None:
    s = config.parse_settings({"shopify": {"shop": "demo"}, "state": {"dir": "st"}}, tmp_path / "virtual.toml")
    assert s.shopify.shop == "demo.myshopify.com" and s.state_dir == tmp_path / "st"


_scalars = st.one_of(
    st.text(max_size=20),
    st.integers(),
    st.booleans(),
    st.floats(allow_nan=True),
    st.datetimes(timezones=st.one_of(st.none(), st.just(timezone.utc))),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=6,
)


@hyp_settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=st.sampled_from(known_keys() + ["shopify.nope", "extra.key"]), value=_values)
def test_any_value_is_accepted_or_a_config_error(tmp_path: Path, key: str, value: object) -> None:
    table, name = key.split(".")
    data: dict = {"shopify": {"shop": "example"}}
    data.setdefault(table, {})[name] = value
    try:
        config.parse_settings(data, tmp_path / "c.toml")
    except ConfigError as err:
        assert "c.toml" in str(err)


def test_payments_and_payouts_tables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    s = load_settings(
        write(
            tmp_path,
            MINIMAL
            + '[visma]\nworkflow = "invoice"\n[payments]\naccounts = { Shopify_Payments = "1580", "*" = "1930" }\n'
            '[payouts]\nbank_account = "1930"\nclearing_account = "1580"\nfees_account = "6570"\n',
        )
    )
    assert s.payments is not None and s.payments.account_for("SHOPIFY_PAYMENTS") == "1580"
    assert s.payments.account_for("gift_card") == "1930"
    assert s.payouts is not None and s.payouts.fees_account == "6570"
    assert load_settings(write(tmp_path, MINIMAL)).payments is None


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[payments]\naccounts = { paypal = "1940" }\n', "payments"),  # draft workflow books no invoice
        ('[visma]\nworkflow = "invoice"\n[payments]\n', "payments.accounts"),
        ('[visma]\nworkflow = "invoice"\n[payments]\naccounts = { paypal = " " }\n', "payments.accounts.paypal"),
        ('[payouts]\nbank_account = "1930"\nclearing_account = "1580"\n', "payouts.fees_account"),
        (
            '[payouts]\nbank_account = "19x0"\nclearing_account = "1580"\nfees_account = "6570"\n',
            "payouts.bank_account",
        ),
        ('[visma]\norder_status = "shipped"\n', "visma.order_status"),  # only with workflow = "order"
    ],
)
def test_payment_tables_name_the_key(tmp_path: Path, text: str, key: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert key in error(tmp_path, MINIMAL + text).keys  # type: ignore[attr-defined]
