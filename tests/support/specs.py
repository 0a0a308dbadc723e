"""The published API specs in shared/reference, for every suite that checks against them:
the Visma 2018 swagger and 2026 OpenAPI (loaders, the shipped-schema extraction, one
validator per spec) and the Shopify 2025-01 Admin schema.

Registered as a pytest plugin in tests/conftest.py, so its fixtures (`visma_specs`,
`real_schema`) are shared without one test module importing another. Both skip the test
when shared/reference is absent.
"""

from __future__ import annotations

import functools
import gzip
import json
import re
from typing import TYPE_CHECKING, Any

import pytest

from support.paths import REFERENCE, ROOT

if TYPE_CHECKING:
    from graphql import GraphQLSchema

SPEC26_PATH = REFERENCE / "visma-eaccounting-openapi-v2.yaml"
SPEC18_PATH = REFERENCE / "visma-eaccounting-swagger.json"
SHOPIFY_SCHEMA_PATH = REFERENCE / "shopify-admin-2025-01.json.gz"
SHIPPED = ROOT / "shopvisma" / "sandbox" / "visma" / "schema.json"  # what the Visma sandbox validates with

# The POST bodies the sandbox accepts: schema name in both specs → row schema (if any).
BODY_SCHEMAS = (
    "CustomerApi",
    "ArticleApi",
    "CustomerInvoiceDraftApi",
    "CustomerInvoiceDraftRowApi",
    "OrderApi",
    "OrderRowApi",
)
ROWS = {"CustomerInvoiceDraftApi": "CustomerInvoiceDraftRowApi", "OrderApi": "OrderRowApi"}
_DECIMALS = re.compile(r"\\d\{1,(\d+)\}")


def visma_specs_present() -> bool:
    return SPEC26_PATH.exists() and SPEC18_PATH.exists()


needs_visma_specs = pytest.mark.skipif(not visma_specs_present(), reason="shared/reference specs not available")


# ---------------------------------------------------------------- Visma: loading and validating
def load_specs() -> tuple[dict[str, Any], dict[str, Any]]:
    """(2026 OpenAPI, 2018 swagger), parsed (cached: the YAML takes a while)."""
    return _load_specs()


@functools.cache
def _load_specs() -> tuple[dict[str, Any], dict[str, Any]]:
    import yaml

    with SPEC26_PATH.open(encoding="utf-8") as f:
        spec26 = yaml.safe_load(f)
    with SPEC18_PATH.open(encoding="utf-8") as f:
        spec18 = json.load(f)
    return spec26, spec18


def validator18(spec18: dict[str, Any], name: str) -> Any:
    import jsonschema

    return jsonschema.Draft4Validator({"$ref": f"#/definitions/{name}", "definitions": spec18["definitions"]})


def validator26(spec26: dict[str, Any], name: str) -> Any:
    import jsonschema

    return jsonschema.Draft202012Validator({"$ref": f"#/components/schemas/{name}", "components": spec26["components"]})


# ---------------------------------------------------------------- Visma: the shipped extraction
def types_of(prop: dict[str, Any]) -> list[str]:
    if "$ref" in prop:
        return ["object"]
    t = prop.get("type", "object")
    return list(t) if isinstance(t, list) else [t]


def _ref_name(prop: dict[str, Any]) -> str | None:
    ref = prop.get("$ref")
    return ref.rsplit("/", 1)[-1] if ref else None


def _extract_property(p26: dict[str, Any] | None, p18: dict[str, Any] | None) -> dict[str, Any]:
    """One property: 2026 type and readOnly (2018 has no nullability and only marks
    read-only in prose), the smallest maxLength and decimal count either spec states."""
    src = p26 if p26 is not None else p18
    assert src is not None
    out: dict[str, Any] = {"type": types_of(src)}
    fmt = (p26 or {}).get("format") or (p18 or {}).get("format")
    if fmt in ("uuid", "date-time"):
        out["format"] = fmt
    lengths = [p["maxLength"] for p in (p26, p18) if p and "maxLength" in p]
    if lengths:
        out["maxLength"] = min(lengths)
    decimals = [int(m.group(1)) for p in (p26, p18) if p and (m := _DECIMALS.search(p.get("pattern", "")))]
    if decimals:
        out["decimals"] = min(decimals)
    if "array" in out["type"]:
        items = src.get("items", {})
        out["items"] = _ref_name(items) or types_of(items)[0]
    if p26 is not None:
        read_only = bool(p26.get("readOnly"))
    else:
        read_only = str((p18 or {}).get("description", "")).startswith("Read-only")
        out["only2018"] = True
    if read_only:
        out["readOnly"] = True
    return out


def extract_schema(spec26: dict[str, Any], spec18: dict[str, Any]) -> dict[str, Any]:
    """The shipped extraction. Required = union of both specs' required lists (a field
    either version requires is sent; read-only ones the 2018 spec requires stay required,
    because only a field BOTH specs leave optional may be left out)."""
    s26 = spec26["components"]["schemas"]
    s18 = spec18["definitions"]
    result: dict[str, Any] = {}
    for name in BODY_SCHEMAS:
        d26, d18 = s26[name], s18[name]
        props26, props18 = d26.get("properties", {}), d18.get("properties", {})
        names = list(props26) + [n for n in props18 if n not in props26]
        result[name] = {
            "required": sorted(set(d26.get("required", [])) | set(d18.get("required", []))),
            "properties": {n: _extract_property(props26.get(n), props18.get(n)) for n in names},
        }
    return result


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=1, ensure_ascii=False, sort_keys=False) + "\n"


# ---------------------------------------------------------------- Shopify
@functools.cache
def load_shopify_schema() -> GraphQLSchema:
    from graphql import build_client_schema

    data = json.load(gzip.open(SHOPIFY_SCHEMA_PATH))
    return build_client_schema(data.get("data", data), assume_valid=True)


# ---------------------------------------------------------------- fixtures
@pytest.fixture(scope="session")
def visma_specs() -> tuple[dict[str, Any], dict[str, Any]]:
    """(2026 OpenAPI, 2018 swagger)."""
    if not visma_specs_present():
        pytest.skip("shared/reference specs not available")
    return load_specs()


@pytest.fixture(scope="session")
def real_schema() -> GraphQLSchema:
    """The published Shopify 2025-01 Admin schema."""
    if not SHOPIFY_SCHEMA_PATH.exists():
        pytest.skip("shared/reference not present")
    return load_shopify_schema()
