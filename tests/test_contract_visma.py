"""Contract tests: the Visma sandbox against Visma's own published specs.

The sandbox is only worth something if what it accepts the real API would accept too,
and if what it refuses it refuses for a reason the specs state. These tests tie the
shipped `visma_schema.json` and the sandbox's answers to the 2026 OpenAPI and the 2018
swagger in /work/shared/reference (skipped when that folder is absent).

Run as a script to regenerate the shipped JSON from the specs:
    python tests/test_contract_visma.py --write
"""

from __future__ import annotations

import copy
import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"
SPEC26_PATH = REFERENCE / "visma-eaccounting-openapi-v2.yaml"
SPEC18_PATH = REFERENCE / "visma-eaccounting-swagger.json"
SHIPPED = Path(__file__).resolve().parents[1] / "shopvisma" / "sandbox" / "visma_schema.json"

# The POST bodies the sandbox accepts: schema name in both specs → row schema (if any).
BODY_SCHEMAS = (
    "CustomerApi",
    "ArticleApi",
    "CustomerInvoiceDraftApi",
    "CustomerInvoiceDraftRowApi",
    "OrderApi",
    "OrderRowApi",
)
_DECIMALS = re.compile(r"\\d\{1,(\d+)\}")


# ---------------------------------------------------------------- extraction (the generator)
def _types(prop: dict[str, Any]) -> list[str]:
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
    out: dict[str, Any] = {"type": _types(src)}
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
        out["items"] = _ref_name(items) or _types(items)[0]
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


def load_specs() -> tuple[dict[str, Any], dict[str, Any]]:
    import yaml

    with SPEC26_PATH.open(encoding="utf-8") as f:
        spec26 = yaml.safe_load(f)
    with SPEC18_PATH.open(encoding="utf-8") as f:
        spec18 = json.load(f)
    return spec26, spec18


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=1, ensure_ascii=False, sort_keys=False) + "\n"


if __name__ == "__main__" and "--write" in sys.argv:
    SHIPPED.write_text(render(extract_schema(*load_specs())), encoding="utf-8")
    print(f"wrote {SHIPPED}")
    sys.exit(0)
