"""The outside of the tool that needs no config, no credentials and no network."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shopvisma import __version__
from shopvisma.cli import app
from support.paths import ROOT

COMMANDS = [
    ["sync"],
    ["dry-run"],
    ["status"],
    ["login"],
    ["login", "shopify"],
    ["login", "visma"],
    ["demo"],
    ["init"],
    ["sandbox"],
    ["replay"],
    ["reconcile"],
    ["doctor"],
    ["schedule"],
]


def test_version_without_anything() -> None:
    res = CliRunner().invoke(app, ["--version"])
    assert res.exit_code == 0
    assert __version__ in res.stdout


@pytest.mark.parametrize("cmd", COMMANDS, ids=" ".join)
def test_every_command_has_help(cmd: list[str]) -> None:
    res = CliRunner().invoke(app, [*cmd, "--help"])
    assert res.exit_code == 0, res.output
    assert "Usage" in res.output


def test_every_command_is_documented() -> None:
    docs = "\n".join(p.read_text() for p in (ROOT / "docs").glob("*.md"))
    docs += (ROOT / "README.md").read_text()
    for cmd in COMMANDS:
        assert f"shopvisma {' '.join(cmd)}" in docs, f"`shopvisma {' '.join(cmd)}` is not in README.md or docs/"


def test_python_dash_m() -> None:
    out = subprocess.run([sys.executable, "-m", "shopvisma", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"shopvisma {__version__}"


def test_usage_error_is_two() -> None:
    assert CliRunner().invoke(app, ["sync", "--limit", "zero"]).exit_code == 2
    assert CliRunner().invoke(app, ["no-such-command"]).exit_code == 2


def test_missing_config_is_78(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["sync", "--config", str(tmp_path / "nope.toml")])
    assert res.exit_code == 78
    assert "nope.toml" in res.stderr


def test_options_before_or_after_the_command(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing.toml")
    assert CliRunner().invoke(app, ["--config", missing, "status"]).exit_code == 78
    assert CliRunner().invoke(app, ["status", "--config", missing]).exit_code == 78


def test_a_bad_date_is_a_usage_error_not_a_bug(world) -> None:
    """Contract: a command-line usage error is exit 2 (Click's own), never 70."""
    res = world.cli("reconcile", "--from", "01/11/2026", "--to", "2026-11-30")
    assert res.exit_code == 2, res.output
    assert "YYYY-MM-DD" in res.output and "internal error" not in res.output
