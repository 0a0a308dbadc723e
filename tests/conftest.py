"""Shared fixtures: both emulators on loopback and a state dir in tmp.

Every path the product touches is redirected into tmp_path (config, state,
secrets file); secrets come from the environment, as in a cron setup.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

# Shared fixtures, so that no test module imports another: the Visma sandbox suites'
# (`clock`, `sandbox`, `api`) and the published specs (`visma_specs`, `real_schema`).
pytest_plugins = ["support.visma_api", "support.specs"]


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may read the developer's real config, keyring or state."""
    for key in list(os.environ):
        if key.startswith("SHOPVISMA_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("SHOPVISMA_SECRETS", "file")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("NO_COLOR", "1")


@dataclass
class World:
    """Both sandboxes, a config file pointing at them, and helpers to run the CLI."""

    shop: Any
    visma: Any
    tmp: Path
    config: Path
    state_dir: Path
    env: dict[str, str]

    def cli(self, *args: str, input: str | None = None) -> Any:
        from shopvisma.cli import app

        runner = CliRunner()
        return runner.invoke(app, list(args), env=self.env, input=input, catch_exceptions=False)

    def sync_json(self, *args: str) -> tuple[int, dict[str, Any]]:
        res = self.cli("sync", "--json", *args)
        return res.exit_code, json.loads(res.stdout)

    def write_config(self, **extra: str) -> None:
        from shopvisma.sandbox.harness import write_sandbox_config

        write_sandbox_config(self.config, self.shop, self.visma, **extra)

    def set_config(self, text: str) -> None:
        self.config.write_text(text, encoding="utf-8")


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    from shopvisma.sandbox.harness import sandbox_env, start_sandboxes, write_sandbox_config

    shop, visma = start_sandboxes([])
    try:
        config = write_sandbox_config(tmp_path / "config.toml", shop, visma)
        state_dir = tmp_path / "state"
        env = sandbox_env(shop, visma, state_dir, config)
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        yield World(shop, visma, tmp_path, config, state_dir, env)
    finally:
        shop.stop()
        visma.stop()
