"""`shopvisma schedule` output: absolute paths, the interval, units that parse."""

from __future__ import annotations

import configparser
import os
import shlex
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from shopvisma.commands.schedule import cron_spec, render_schedule, resolve_executable, schedule_text
from shopvisma.errors import ShopvismaError
from support.paths import ROOT


def _ini(text: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True)  # strict: no duplicate keys
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # systemd keys are case-sensitive
    parser.read_string(text)
    return parser


def _cron_job(crontab: str) -> tuple[list[str], list[str]]:
    """(five schedule fields, command words) of the one job line."""
    jobs = [line for line in crontab.splitlines() if line and not line.startswith("#") and "=" not in line.split()[0]]
    assert len(jobs) == 1, crontab
    fields = jobs[0].split(None, 5)
    return fields[:5], shlex.split(fields[5].replace(r"\%", "%"))


def test_everything_is_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    parts = render_schedule(Path("conf/config.toml"), executable="bin/shopvisma", env={})
    fields, words = _cron_job(parts["crontab"])
    assert fields == ["*/5", "*", "*", "*", "*"]
    assert words == [str(tmp_path / "bin/shopvisma"), "sync", "-q", "--config", str(tmp_path / "conf/config.toml")]

    service = _ini(parts["service"])
    exec_words = shlex.split(service["Service"]["ExecStart"])
    assert exec_words == words
    assert all(Path(w).is_absolute() for w in (exec_words[0], exec_words[-1]))


def test_service_and_timer_units(tmp_path: Path) -> None:
    parts = render_schedule(tmp_path / "config.toml", executable="/opt/sv/bin/shopvisma", interval_minutes=15, env={})
    service = _ini(parts["service"])
    assert service["Service"]["Type"] == "oneshot"
    assert service["Service"]["SuccessExitStatus"] == "75"
    assert "Install" not in service  # started by the timer only

    timer = _ini(parts["timer"])
    assert timer["Timer"]["OnBootSec"] == "2min"
    assert timer["Timer"]["OnUnitActiveSec"] == "15min"
    assert timer["Timer"]["Persistent"] == "true"
    assert timer["Timer"]["Unit"] == "shopvisma.service"
    assert timer["Install"]["WantedBy"] == "timers.target"
    assert _cron_job(parts["crontab"])[0][0] == "*/15"


@pytest.mark.parametrize(
    ("minutes", "spec"),
    [
        (1, "* * * * *"),
        (5, "*/5 * * * *"),
        (30, "*/30 * * * *"),
        (60, "0 * * * *"),
        (120, "0 */2 * * *"),
        (1440, "0 0 * * *"),
    ],
)
def test_interval_is_honoured(minutes: int, spec: str) -> None:
    assert cron_spec(minutes) == spec
    parts = render_schedule(
        Path("/etc/shopvisma/config.toml"), executable="/usr/bin/shopvisma", interval_minutes=minutes, env={}
    )
    assert " ".join(_cron_job(parts["crontab"])[0]) == spec
    assert _ini(parts["timer"])["Timer"]["OnUnitActiveSec"] == f"{minutes}min"


@pytest.mark.parametrize("minutes", [0, 7, 45, 90, 600])
def test_uneven_interval_is_a_usage_error(minutes: int) -> None:
    with pytest.raises(ShopvismaError) as info:
        render_schedule(Path("/c.toml"), executable="/usr/bin/shopvisma", interval_minutes=minutes, env={})
    assert info.value.exit_code == 2


def test_awkward_paths_are_quoted(tmp_path: Path) -> None:
    config = tmp_path / "my 100% config" / "config.toml"
    parts = render_schedule(config, executable="/opt/shop visma/bin/shopvisma", env={})
    assert r"\%" in parts["crontab"]  # cron would turn a bare % into a newline
    assert _cron_job(parts["crontab"])[1][-1] == str(config)
    exec_start = _ini(parts["service"])["Service"]["ExecStart"]
    assert "%%" in exec_start  # systemd specifier escape
    assert shlex.split(exec_start.replace("%%", "%"))[0] == "/opt/shop visma/bin/shopvisma"


def test_state_dir_and_secret_store_are_mirrored_but_no_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    env = {
        "SHOPVISMA_STATE_DIR": "state",
        "SHOPVISMA_SECRETS": "file",
        "SHOPVISMA_SHOPIFY_TOKEN": "shpat_do_not_copy_me",
        "SHOPVISMA_VISMA_CLIENT_SECRET": "nor-me-123",
    }
    parts = render_schedule(
        tmp_path / "config.toml", executable="/usr/bin/shopvisma", env=env, state_dir=tmp_path / "state"
    )
    text = schedule_text(parts)
    assert "shpat_do_not_copy_me" not in text and "nor-me-123" not in text
    assert f"SHOPVISMA_STATE_DIR={tmp_path / 'state'}" in parts["crontab"].splitlines()
    assert "SHOPVISMA_SECRETS=file" in parts["crontab"].splitlines()
    environment = _ini(parts["service"])["Service"]["Environment"]
    assert f"SHOPVISMA_STATE_DIR={tmp_path / 'state'}" in environment and "SHOPVISMA_SECRETS=file" in environment
    assert f"{tmp_path / 'state'}/runs.jsonl" in parts["crontab"]


def test_headless_hint_when_no_secret_store_is_set() -> None:
    parts = render_schedule(Path("/c.toml"), executable="/usr/bin/shopvisma", env={})
    assert "# SHOPVISMA_SECRETS=file" in parts["crontab"]
    assert "# Environment=SHOPVISMA_SECRETS=file" in parts["service"]
    assert "Environment" not in _ini(parts["service"])["Service"]


def test_default_executable_is_the_running_script(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = tmp_path / "bin" / "shopvisma"
    script.parent.mkdir()
    script.write_text("#!/bin/sh\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setattr(sys, "argv", [str(script), "schedule"])
    assert resolve_executable() == [str(script)]
    # run as `python -m shopvisma` / from pytest: the one on PATH, else this interpreter with -m
    monkeypatch.setattr(sys, "argv", ["/x/shopvisma/__main__.py"])
    monkeypatch.setenv("PATH", str(script.parent))
    assert resolve_executable() == [str(script)]
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert resolve_executable() == [os.path.abspath(sys.executable), "-m", "shopvisma"]


def test_cron_line_runs_with_crons_tiny_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The job line as cron would run it (sh -c, PATH=/usr/bin:/bin) reaches shopvisma itself:
    with no config file there, that is shopvisma's own exit 78 naming the file."""
    monkeypatch.setattr(sys, "argv", ["-c"])
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # `shopvisma` is not on it: falls back to python -m
    parts = render_schedule(tmp_path / "config.toml", env={})
    line = next(x for x in parts["crontab"].splitlines() if x.startswith("*/5"))
    command = line.split(None, 5)[5]
    cron_env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "SHELL": "/bin/sh",
        "SHOPVISMA_SECRETS": "file",
        "XDG_STATE_HOME": str(tmp_path / "state"),
    }
    out = subprocess.run(["/bin/sh", "-c", command], env=cron_env, cwd="/", capture_output=True, text=True, timeout=60)
    assert out.returncode == 78, out.stderr
    assert out.stdout == ""
    assert str(tmp_path / "config.toml") in out.stderr


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    exe = tmp_path / "bin" / "shopvisma"
    exe.parent.mkdir()
    exe.write_text("#!/bin/sh\nexit 0\n")
    exe.chmod(0o755)
    parts = render_schedule(tmp_path / "config.toml", executable=str(exe), env={"SHOPVISMA_SECRETS": "file"})
    (tmp_path / "shopvisma.service").write_text(parts["service"])
    (tmp_path / "shopvisma.timer").write_text(parts["timer"])
    out = subprocess.run(
        [
            "systemd-analyze",
            "verify",
            "--man=no",
            str(tmp_path / "shopvisma.timer"),
            str(tmp_path / "shopvisma.service"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0, out.stderr
    assert "shopvisma.service" not in out.stderr and "shopvisma.timer" not in out.stderr, out.stderr


def test_docs_example_is_the_real_output() -> None:
    """docs/scheduling.md shows `shopvisma schedule` output verbatim; it must not rot."""
    import re

    doc = (ROOT / "docs" / "scheduling.md").read_text(encoding="utf-8")
    parts = render_schedule(
        Path("/home/shop/.config/shopvisma/config.toml"),
        executable="/home/shop/.local/bin/shopvisma",
        state_dir=Path("/home/shop/.local/state/shopvisma"),
        env={},
    )
    for name in ("crontab", "service", "timer"):
        match = re.search(rf"<!-- schedule-example:{name} -->\n```\w+\n(.*?)```", doc, re.S)
        assert match, f"no {name} example in docs/scheduling.md"
        assert match.group(1).rstrip("\n") == parts[name].rstrip("\n"), f"docs/scheduling.md {name} is out of date"
