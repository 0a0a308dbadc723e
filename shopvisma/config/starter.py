"""Text generated from the settings schema: the starter config.toml and the [mapping]
reference table of docs/configuration.md.

Both are generated from `MappingSettings` field metadata so that a mapping key added
in mapping/settings.py shows up in `shopvisma init` and in the docs without a second edit
(a test compares docs/configuration.md with `mapping_doc_table()`).

Regenerate the docs block: `python -m shopvisma.config.starter docs/configuration.md`.
"""

from __future__ import annotations

import dataclasses
import sys
import typing
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import tomli_w

from shopvisma.mapping.settings import MappingSettings

DOC_BEGIN = "<!-- mapping-table:begin (generated from MappingSettings; do not edit by hand) -->"
DOC_END = "<!-- mapping-table:end -->"


def _default(f: dataclasses.Field[Any]) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def _toml_value(value: Any) -> str:
    """One TOML value as text (Decimal as a string: config/settings.py reads it back without float)."""
    if isinstance(value, Decimal):
        value = str(value)
    if isinstance(value, dict):
        return (
            "{ "
            + ", ".join(f"{tomli_w.dumps({'k': str(k)})[4:].strip()} = {_toml_value(v)}" for k, v in value.items())
            + " }"
            if value
            else "{}"
        )
    return tomli_w.dumps({"k": value}).split("=", 1)[1].strip()


def _type_name(ann: Any) -> str:
    origin, args = typing.get_origin(ann), typing.get_args(ann)
    if origin is typing.Literal:
        return " \\| ".join(f'`"{a}"`' for a in args)
    if origin is dict:
        return "table of string → " + _type_name(args[1]) if args else "table"
    if origin in (tuple, list):
        return "list of " + _type_name(args[0])
    return {str: "string", int: "integer", bool: "boolean", Decimal: "decimal (string or number)"}.get(
        ann, getattr(ann, "__name__", str(ann))
    )


def _example(name: str, ann: Any, default: Any) -> str:
    origin, args = typing.get_origin(ann), typing.get_args(ann)
    if origin is typing.Literal:
        return f'{name} = "{args[-1]}"'
    if origin is dict:
        return f'{name} = {{ "25" = "…" }}'
    if ann is Decimal:
        return f'{name} = "{default}"'
    if ann is str and not default:
        return f'{name} = "…"'
    return f"{name} = {_toml_value(default)}"


def mapping_doc_table() -> str:
    """The Markdown table of every [mapping] key: name, type, default, example, meaning."""
    hints = typing.get_type_hints(MappingSettings)
    rows = ["| key | type | default | example | meaning |", "|---|---|---|---|---|"]
    for f in dataclasses.fields(MappingSettings):
        default = _default(f)
        shown = f"`{_toml_value(default)}`" + (" (see meaning)" if default in ("", {}) else "")
        doc = str(f.metadata.get("doc", "")).replace("|", "\\|").replace("\n", " ")
        rows.append(
            f"| `mapping.{f.name}` | {_type_name(hints[f.name])} | {shown} | "
            f"`{_example(f.name, hints[f.name], default)}` | {doc} |"
        )
    return "\n".join(rows)


def update_docs(path: Path) -> bool:
    """Rewrite the generated block of docs/configuration.md; True when it changed."""
    text = path.read_text(encoding="utf-8")
    head, _, rest = text.partition(DOC_BEGIN)
    _, _, tail = rest.partition(DOC_END)
    new = f"{head}{DOC_BEGIN}\n{mapping_doc_table()}\n{DOC_END}{tail}"
    if new != text:
        path.write_text(new, encoding="utf-8")
    return new != text


def _mapping_lines() -> str:
    lines = []
    for f in dataclasses.fields(MappingSettings):
        doc = str(f.metadata.get("doc", "")).replace("\n", " ")
        lines.append(f"# {doc}")
        lines.append(f"# {f.name} = {_toml_value(_default(f))}")
    return "\n".join(lines)


def starter_text(shop: str = "") -> str:
    go_live = datetime.now(timezone.utc).strftime("%Y-%m-%dT00:00:00Z")
    return f"""\
# shopvisma configuration. Every key is described in docs/configuration.md.
# Secrets (tokens, client ids and secrets) never go in this file: run
# `shopvisma login shopify` and `shopvisma login visma`, or set SHOPVISMA_* variables.

[shopify]
# Your store's domain: "example.myshopify.com" (or just "example").
shop = {_toml_value(shop)}
api_version = "2025-07"
# Override of the Admin GraphQL endpoint (emulators/tests; http only on loopback):
# api_url = "http://127.0.0.1:8001/admin/api/2025-07/graphql.json"

[visma]
environment = "production"          # or "sandbox" (Visma's test environment)
workflow = "invoice-draft"          # or "order" (a sales order per Shopify order)
# redirect_uri = "http://127.0.0.1:8765/callback"   # must match the one registered for your Visma app
# api_url = "http://127.0.0.1:8002/v2"
# identity_url = "http://127.0.0.1:8002/identity"

[criteria]
financial_status = ["paid"]         # Shopify financial statuses, lower case; [] = any
fulfillment_status = []             # e.g. ["fulfilled"]; [] = any
# Go-live: orders created before this are never transferred (set to the day this file was written).
created_at_min = "{go_live}"
# tags_include = ["b2b"]            # only orders with at least one of these tags
# tags_exclude = ["no-invoice"]     # never orders with any of these tags

[mapping]
# Every mapping has a default read from your Visma company; set a key only to override it.
{_mapping_lines()}

[state]
# Folder for the checkpoint, tokens and run log (relative to this file; ~ allowed).
# Default: the platform's user state folder. $SHOPVISMA_STATE_DIR overrides it.
# dir = "state"

[notify]
# A URL pinged (GET) after each pass, e.g. a healthchecks.io check; "" = none.
# healthcheck_url = "https://hc-ping.com/your-uuid"

[sync]
# overlap_minutes = 10              # re-read orders updated this long before the bookmark
# max_wait_seconds = 300            # total time a pass may spend waiting on rate limits
# visma_requests_per_minute = 590   # pace under Visma's 600 requests/min per endpoint
# bulk_first_import = true          # first run (no bookmark): one Shopify bulk operation, not pages
"""


if __name__ == "__main__":  # pragma: no cover - maintenance helper
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/configuration.md")
    print("updated" if update_docs(target) else "up to date", target)
