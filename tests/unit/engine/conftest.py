"""Fixtures of the engine's unit tests; the doubles themselves are in fakes.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from unit.engine.fakes import FakeVisma

from shopvisma.config.settings import Settings, parse_settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return parse_settings({"shopify": {"shop": "example.myshopify.com"}}, tmp_path / "config.toml")


@pytest.fixture
def visma() -> FakeVisma:
    return FakeVisma()
