"""`shopvisma schedule`: a ready crontab line and systemd units for this config.

Prints only, installs nothing: editing someone's crontab or unit folder is a
decision for the operator. Everything it writes is absolute (the executable and
the config path), because cron runs with a tiny PATH and another working
directory, and a schedule that works in the terminal but finds no `shopvisma`
at 3 a.m. is the most common cron failure.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path

from shopvisma.config.settings import Settings
from shopvisma.console import Console
from shopvisma.errors import ExitCode, ShopvismaError

UNIT_NAME = "shopvisma"
# Environment that changes which files a pass uses; mirrored into the schedule when it is
# set where `schedule` runs, so cron sees the same state dir and secret store.
# Secret values (tokens, client secrets) are never copied.
MIRRORED_ENV = ("SHOPVISMA_STATE_DIR", "SHOPVISMA_SECRETS")


def run(settings: Settings, console: Console, *, interval_minutes: int, executable: str | None) -> int:
    """The schedule is the command's product, so it goes to stdout (a user redirects it
    into a file) even without --json."""
    parts = render_schedule(
        settings.path, executable=executable, interval_minutes=interval_minutes, state_dir=settings.state_dir
    )
    if console.json:
        console.emit_json(parts)
    else:
        console.emit_text(schedule_text(parts))
    return 0


def resolve_executable(executable: str | None = None) -> list[str]:
    """The command that starts shopvisma, as absolute argv words.

    Kept absolute but not symlink-resolved: pipx's ~/.local/bin/shopvisma is a
    symlink whose target moves on reinstall, the link itself does not.
    """
    if executable:
        found = shutil.which(executable) if os.sep not in executable else executable
        return [os.path.abspath(os.path.expanduser(found or executable))]
    argv0 = sys.argv[0] if sys.argv else ""
    if Path(argv0).name.startswith("shopvisma") and not argv0.endswith(".py") and os.path.isfile(argv0):
        return [os.path.abspath(argv0)]
    found = shutil.which("shopvisma")
    if found:
        return [os.path.abspath(found)]
    return [os.path.abspath(sys.executable), "-m", "shopvisma"]  # `python -m shopvisma`, or pytest


def cron_spec(interval_minutes: int) -> str:
    """Five cron fields for "every N minutes"; only intervals cron can express evenly."""
    n = interval_minutes
    if 1 <= n < 60 and 60 % n == 0:
        return "* * * * *" if n == 1 else f"*/{n} * * * *"
    if n >= 60 and n % 60 == 0 and 24 % (n // 60) == 0:
        hours = n // 60
        return "0 * * * *" if hours == 1 else ("0 0 * * *" if hours == 24 else f"0 */{hours} * * *")
    raise ShopvismaError(
        f"an interval of {n} minutes cannot be written as an even cron schedule",
        hint="use a divisor of 60 (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30) or whole hours dividing 24 (60, 120, 180, 240, 360, 480, 720, 1440)",
        exit_code=ExitCode.USAGE,
    )


def _cron_word(word: str) -> str:
    # cron turns an unescaped % into a newline (stdin of the command)
    return shlex.quote(word).replace("%", r"\%")


_SYSTEMD_PLAIN = re.compile(r"^[A-Za-z0-9_@+=:,./-]+$")


def _systemd_word(word: str) -> str:
    """One ExecStart argument: % starts a specifier and $ a variable in systemd, so double them."""
    text = word.replace("%", "%%").replace("$", "$$")
    if _SYSTEMD_PLAIN.match(word):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _env_assignment(name: str, value: str) -> str:
    """One Environment= word; % is a specifier there too, $ is not expanded."""
    text = f"{name}={value}".replace("%", "%%")
    return text if _SYSTEMD_PLAIN.match(value) else '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_schedule(
    config_path: Path,
    *,
    executable: str | None = None,
    interval_minutes: int = 5,
    state_dir: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """{"crontab": ..., "service": ..., "timer": ...}, each ready to paste.

    `env` (default: os.environ) is only read for MIRRORED_ENV, so the scheduled
    run uses the same state dir and secret store as the shell `schedule` ran in.
    """
    env = os.environ if env is None else env
    config = os.path.abspath(os.path.expanduser(str(config_path)))
    command = [*resolve_executable(executable), "sync", "-q", "--config", config]
    spec = cron_spec(interval_minutes)
    mirrored = {k: env[k].strip() for k in MIRRORED_ENV if env.get(k, "").strip()}
    if "SHOPVISMA_STATE_DIR" in mirrored:
        mirrored["SHOPVISMA_STATE_DIR"] = os.path.abspath(os.path.expanduser(mirrored["SHOPVISMA_STATE_DIR"]))
    logs = f"{os.path.abspath(state_dir)}/" if state_dir else "the state dir: "
    every = "every minute" if interval_minutes == 1 else f"every {interval_minutes} minutes"

    cron_lines = [
        f"# shopvisma: one sync pass {every}. Install: `crontab -e`, paste these lines.",
        "# Success prints nothing; a failure prints a short summary on stderr, which cron mails to MAILTO:",
        "# MAILTO=you@example.com",
        f"# Run log: {logs}runs.jsonl; tracebacks: {logs}shopvisma.log.",
        "# Exit 75 = the previous pass still holds the lock; this run did nothing and the next one continues.",
    ]
    if "SHOPVISMA_SECRETS" not in mirrored:
        cron_lines += [
            "# Headless server, or a desktop keyring cron cannot unlock: store the secrets with",
            "#   SHOPVISMA_SECRETS=file shopvisma login shopify   (and login visma), then uncomment:",
            "# SHOPVISMA_SECRETS=file",
        ]
    cron_lines += [f"{k}={v}" for k, v in mirrored.items()]
    cron_lines.append(f"{spec} {' '.join(_cron_word(w) for w in command)}")

    env_line = " ".join(_env_assignment(k, v) for k, v in mirrored.items())
    service_lines = [
        "# ~/.config/systemd/user/shopvisma.service (user unit; see the timer for installing)",
        "[Unit]",
        "Description=shopvisma: one Shopify to Visma sync pass",
        "# No network-online.target: a user unit cannot wait for it. Without a network a pass exits 69",
        "# and the next one resumes; OnBootSec= in the timer gives the network time after a boot.",
        "",
        "[Service]",
        "Type=oneshot",
        f"ExecStart={' '.join(_systemd_word(w) for w in command)}",
        "# 75 = another pass holds the lock: this run did nothing, which is not a failure.",
        "SuccessExitStatus=75",
        "# API waits are capped by [sync] max_wait_seconds; this only stops a hung process (a big backfill may take long).",
        "TimeoutStartSec=2h",
    ]
    if env_line:
        service_lines.append(f"Environment={env_line}")
    else:
        service_lines.append(
            "# Headless server without a keyring: secrets in secrets.json (after `SHOPVISMA_SECRETS=file shopvisma login …`)"
        )
        service_lines.append("# Environment=SHOPVISMA_SECRETS=file")
    service_lines.append("")

    timer_lines = [
        "# ~/.config/systemd/user/shopvisma.timer",
        "# Install: systemctl --user daemon-reload && systemctl --user enable --now shopvisma.timer",
        "# Keep it running after logout: loginctl enable-linger $USER.  Logs: journalctl --user -u shopvisma",
        "[Unit]",
        f"Description=Run shopvisma sync {every}",
        "",
        "[Timer]",
        "OnBootSec=2min",
        f"OnUnitActiveSec={interval_minutes}min",
        "# Persistent= only acts on OnCalendar= timers; kept so switching to OnCalendar= catches up missed runs.",
        "Persistent=true",
        f"Unit={UNIT_NAME}.service",
        "",
        "[Install]",
        "WantedBy=timers.target",
        "",
    ]
    return {
        "crontab": "\n".join(cron_lines) + "\n",
        "service": "\n".join(service_lines),
        "timer": "\n".join(timer_lines),
    }


def schedule_text(parts: Mapping[str, str]) -> str:
    """All three parts for the terminal, each under a header line that is a comment in its own syntax."""
    return (
        "# ---- crontab (pick this OR the systemd units) ----\n"
        + parts["crontab"]
        + "\n# ---- systemd: shopvisma.service ----\n"
        + parts["service"]
        + "\n# ---- systemd: shopvisma.timer ----\n"
        + parts["timer"]
    )
