"""`login shopify` and `login visma` end to end against the emulators."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import requests

from shopvisma.commands.login import login_visma
from shopvisma.config.settings import load_settings
from shopvisma.console import Console
from shopvisma.state.secrets import SecretStore


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env_without_secrets(world) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOPVISMA_")}
    env.update(SHOPVISMA_CONFIG=str(world.config), SHOPVISMA_STATE_DIR=str(world.state_dir), SHOPVISMA_SECRETS="file")
    return env


def test_login_visma_no_browser_paste_flow_then_sync(world, monkeypatch) -> None:
    env = _env_without_secrets(world)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "shopvisma",
            "login",
            "visma",
            "--no-browser",
            "--client-id",
            world.visma.client_id,
            "--client-secret",
            world.visma.client_secret,
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    url = ""
    assert proc.stderr is not None and proc.stdin is not None
    while not url:
        line = proc.stderr.readline()
        assert line, "login exited before printing the URL"
        if "/connect/authorize" in line:
            url = line.strip()
    resp = requests.get(url, allow_redirects=False, timeout=10)  # the user logs in and approves
    assert resp.status_code in (302, 303)
    proc.stdin.write(resp.headers["Location"] + "\n")
    proc.stdin.flush()
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    tokens = world.state_dir / "tokens.json"
    assert stat.S_IMODE(tokens.stat().st_mode) == 0o600
    refresh = json.loads(tokens.read_text())["visma"]["refresh_token"]
    assert refresh and refresh not in out + err and world.visma.client_secret not in out + err
    # the stored grant and secrets are what sync uses
    env["SHOPVISMA_SHOPIFY_TOKEN"] = world.shop.access_token
    done = subprocess.run(
        [sys.executable, "-m", "shopvisma", "sync", "--json"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr


def test_login_visma_refuses_a_forged_state(world) -> None:
    env = _env_without_secrets(world)
    forged = "http://127.0.0.1:8765/callback?code=abc&state=not-the-one"
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "shopvisma",
            "login",
            "visma",
            "--no-browser",
            "--client-id",
            world.visma.client_id,
            "--client-secret",
            world.visma.client_secret,
        ],
        input=forged + "\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )
    assert res.returncode == 77
    assert "state" in res.stderr


def test_login_visma_browser_flow_on_loopback(world, monkeypatch) -> None:
    port = _free_port()
    text = world.config.read_text().replace(
        "[visma]\n", f'[visma]\nredirect_uri = "http://127.0.0.1:{port}/callback"\n'
    )
    world.set_config(text)
    monkeypatch.delenv("SHOPVISMA_VISMA_REFRESH_TOKEN")
    settings = load_settings(world.config)

    def browser(url: str) -> None:  # the user's browser: approve, then follow the redirect home
        import threading

        threading.Thread(target=lambda: requests.get(url, timeout=10), daemon=True).start()

    info = login_visma(
        settings,
        no_browser=False,
        client_id=world.visma.client_id,
        client_secret=world.visma.client_secret,
        console=Console(quiet=True),
        open_browser=browser,
        timeout=20,
    )
    assert Path(info["tokens"]).exists()
    assert SecretStore(settings.state_dir).get("visma_client_id") == world.visma.client_id


def test_login_shopify_static_token_and_client_credentials(world) -> None:
    env = _env_without_secrets(world)
    res = subprocess.run(
        [sys.executable, "-m", "shopvisma", "login", "shopify", "--token", "shpat_" + "a" * 32],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )
    assert res.returncode == 0, res.stderr
    secrets_file = world.state_dir / "secrets.json"
    assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
    assert "shpat_" + "a" * 32 not in res.stderr + res.stdout
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "shopvisma",
            "login",
            "shopify",
            "--client-id",
            world.shop.client_id,
            "--client-secret",
            world.shop.client_secret,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )
    assert res.returncode == 0, res.stderr
    assert json.loads((world.state_dir / "tokens.json").read_text())["shopify"]["access_token"]
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "shopvisma",
            "login",
            "shopify",
            "--client-id",
            "nope",
            "--client-secret",
            "wrong-secret-123",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )
    assert bad.returncode == 77, bad.stderr
    assert "wrong-secret-123" not in bad.stderr
