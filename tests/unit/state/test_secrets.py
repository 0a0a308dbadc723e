"""Secret lookup order (env → keyring → 0600 file) and the atomic 0600 tokens.json."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import chainer, fail, null

from shopvisma.errors import ConfigError
from shopvisma.state.secrets import ENV_VARS, SECRET_NAMES, SecretStore, TokenFile, keyring_usable

SECRET = "s3cr3t-value-xyz"


class MemoryKeyring(KeyringBackend):
    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.store.pop((service, username), None)


class BrokenKeyring(MemoryKeyring):
    """Like SecretService from cron without D-Bus: configured, but every call fails."""

    def get_password(self, service: str, username: str) -> str | None:
        raise keyring.errors.KeyringLocked("locked")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise keyring.errors.PasswordSetError("locked")


class EmptyChainer(chainer.ChainerBackend):
    backends: list[KeyringBackend] = []  # type: ignore[assignment]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for var in [*ENV_VARS.values(), "SHOPVISMA_SECRETS", "SHOPVISMA_VISMA_REFRESH_TOKEN"]:
        monkeypatch.delenv(var, raising=False)
    previous = keyring.get_keyring()
    yield
    keyring.set_keyring(previous)


@pytest.fixture
def memory() -> MemoryKeyring:
    kr = MemoryKeyring()
    keyring.set_keyring(kr)
    return kr


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_env_wins(tmp_path: Path, memory: MemoryKeyring, monkeypatch: pytest.MonkeyPatch) -> None:
    store = SecretStore(tmp_path)
    assert store.set("shopify_token", "from-keyring") == "keyring"
    monkeypatch.setenv("SHOPVISMA_SHOPIFY_TOKEN", "from-env")
    assert store.get("shopify_token") == "from-env"
    assert store.source("shopify_token") == "env"


def test_keyring_used_when_usable(tmp_path: Path, memory: MemoryKeyring) -> None:
    store = SecretStore(tmp_path)
    assert store.backend == "keyring"
    for name in SECRET_NAMES:
        assert store.set(name, f"{name}-v") == "keyring"
    assert memory.store[("shopvisma", "visma_client_secret")] == "visma_client_secret-v"
    assert SecretStore(tmp_path).get("visma_client_secret") == "visma_client_secret-v"
    assert not (tmp_path / "secrets.json").exists()
    store.delete("visma_client_secret")
    assert store.get("visma_client_secret") is None


@pytest.mark.parametrize("backend", [fail.Keyring(), null.Keyring(), EmptyChainer()])
def test_unusable_keyring_falls_back_to_0600_file(tmp_path: Path, backend: KeyringBackend) -> None:
    keyring.set_keyring(backend)
    assert not keyring_usable()
    store = SecretStore(tmp_path / "state")
    assert store.backend == "file"
    where = store.set("visma_client_secret", SECRET)
    path = tmp_path / "state" / "secrets.json"
    assert where == str(path)
    assert mode(path) == 0o600
    assert SecretStore(tmp_path / "state").get("visma_client_secret") == SECRET
    store.delete("visma_client_secret")
    assert store.get("visma_client_secret") is None


def test_secrets_file_forced_by_env(tmp_path: Path, memory: MemoryKeyring, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOPVISMA_SECRETS", "file")
    store = SecretStore(tmp_path)
    assert store.backend == "file"
    assert store.set("shopify_client_id", "cid") == str(tmp_path / "secrets.json")
    assert memory.store == {}
    assert store.get("shopify_client_id") == "cid"


def test_broken_keyring_at_runtime_uses_file(tmp_path: Path) -> None:
    keyring.set_keyring(BrokenKeyring())
    store = SecretStore(tmp_path)
    assert store.set("shopify_token", SECRET) == str(tmp_path / "secrets.json")
    assert SecretStore(tmp_path).get("shopify_token") == SECRET


def test_corrupt_secrets_file_names_file_not_content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOPVISMA_SECRETS", "file")
    (tmp_path / "secrets.json").write_text('{"shopify_token": "' + SECRET)
    with pytest.raises(ConfigError) as info:
        SecretStore(tmp_path).get("shopify_token")
    assert "secrets.json" in str(info.value) and "shopvisma login" in info.value.hint
    assert SECRET not in str(info.value) and SECRET not in repr(info.value)


def test_unknown_name_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        SecretStore(tmp_path).get("password")


def test_env_lookup_does_not_import_keyring(tmp_path: Path) -> None:
    code = (
        "import sys; from shopvisma.config import settings; from shopvisma.state import checkpoint, secrets\n"
        f"s = secrets.SecretStore({str(tmp_path)!r})\n"
        "assert s.get('shopify_token') == 'tok'\n"
        "print('keyring' in sys.modules)\n"
    )
    env = {**os.environ, "SHOPVISMA_SHOPIFY_TOKEN": "tok"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_reprs_hold_no_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOPVISMA_SHOPIFY_TOKEN", SECRET)
    store = SecretStore(tmp_path)
    store.get("shopify_token")
    tokens = TokenFile(tmp_path / "tokens.json")
    tokens.save({"visma": {"refresh_token": SECRET}})
    assert SECRET not in repr(store) and SECRET not in repr(tokens)


# ---------------------------------------------------------------- tokens.json


def test_token_file_roundtrip_and_mode(tmp_path: Path) -> None:
    tf = TokenFile(tmp_path / "state" / "tokens.json")
    assert tf.load() == {}
    old_umask = os.umask(0)  # even a permissive umask must not widen it
    try:
        tf.update("visma", {"access_token": "a1", "refresh_token": "r1", "expires_at": 1.5, "rotated_at": "x"})
    finally:
        os.umask(old_umask)
    assert mode(tf.path) == 0o600
    tf.update("shopify", {"access_token": "s1", "expires_at": 2.0})
    tf.update("visma", {"refresh_token": "r2"})
    data = tf.load()
    assert data["visma"] == {"access_token": "a1", "refresh_token": "r2", "expires_at": 1.5, "rotated_at": "x"}
    assert data["shopify"]["access_token"] == "s1"
    assert mode(tf.path) == 0o600
    assert [p.name for p in tf.path.parent.iterdir()] == ["tokens.json"]  # no temp files left


@pytest.mark.parametrize("content", ["", '{"visma": {"refresh_token": "' + SECRET, "[1]", '{"visma": 3}'])
def test_corrupt_token_file(tmp_path: Path, content: str) -> None:
    path = tmp_path / "tokens.json"
    path.write_text(content)
    with pytest.raises(ConfigError) as info:
        TokenFile(path).load()
    assert str(path) in str(info.value) and "shopvisma login visma" in info.value.hint
    assert SECRET not in str(info.value)


def test_seed_only_when_no_refresh_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tf = TokenFile(tmp_path / "tokens.json")
    assert tf.seed_from_env() is False
    monkeypatch.setenv("SHOPVISMA_VISMA_REFRESH_TOKEN", "seed-1")
    assert tf.seed_from_env() is True
    assert tf.load()["visma"]["refresh_token"] == "seed-1"
    assert mode(tf.path) == 0o600
    tf.update("visma", {"refresh_token": "rotated-2"})
    monkeypatch.setenv("SHOPVISMA_VISMA_REFRESH_TOKEN", "seed-stale")
    assert tf.seed_from_env() is False
    assert tf.load()["visma"]["refresh_token"] == "rotated-2"


def test_save_is_atomic_under_concurrent_readers(tmp_path: Path) -> None:
    """A reader never sees a torn file: every load is one of the written versions."""
    import threading

    tf = TokenFile(tmp_path / "tokens.json")
    tf.save({"visma": {"refresh_token": "r0" * 2000}})
    stop = threading.Event()
    seen: list[str] = []
    errors: list[Exception] = []

    def reader() -> None:
        while not stop.is_set():
            try:
                seen.append(TokenFile(tf.path).load()["visma"]["refresh_token"][:3])
            except Exception as exc:  # noqa: BLE001
                errors.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    for i in range(200):
        tf.save({"visma": {"refresh_token": f"r{i % 10}" * 2000}})
    stop.set()
    thread.join()
    assert not errors and seen
    assert json.loads(tf.path.read_text())["visma"]["refresh_token"].startswith("r9")
