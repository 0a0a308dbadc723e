"""Static secrets (env → OS keyring → 0600 file) and rotating tokens (tokens.json).

Two stores because they live differently: client ids/secrets change when a person
says so (`shopvisma login`), so the keyring suits them; Visma refresh tokens rotate on
every use and must be on disk before the new one is used, from cron, where a keyring
is often locked or absent. Nothing here ever puts a secret value into a message.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from shopvisma.errors import ConfigError
from shopvisma.state.files import atomic_write, state_paths
from shopvisma.timefmt import iso_z, utc_now

SERVICE = "shopvisma"
ENV_VARS: dict[str, str] = {
    "shopify_token": "SHOPVISMA_SHOPIFY_TOKEN",
    "shopify_client_id": "SHOPVISMA_SHOPIFY_CLIENT_ID",
    "shopify_client_secret": "SHOPVISMA_SHOPIFY_CLIENT_SECRET",
    "visma_client_id": "SHOPVISMA_VISMA_CLIENT_ID",
    "visma_client_secret": "SHOPVISMA_VISMA_CLIENT_SECRET",
}
SECRET_NAMES = tuple(ENV_VARS)
REFRESH_TOKEN_ENV = "SHOPVISMA_VISMA_REFRESH_TOKEN"


def _check_name(name: str) -> None:
    if name not in ENV_VARS:
        raise ValueError(f"unknown secret name {name!r} (known: {', '.join(SECRET_NAMES)})")


def keyring_usable() -> bool:
    """True when a real keyring backend is configured (not fail/null/an empty chainer).

    Imported here, not at module import: loading keyring scans entry points and may
    talk to D-Bus, which a pass that finds its secrets in the environment never needs."""
    try:
        import keyring
        from keyring.backends import chainer, fail

        backend = keyring.get_keyring()
    except Exception:  # noqa: BLE001 - any failure means "no usable keyring"
        return False
    if isinstance(backend, fail.Keyring):
        return False
    if type(backend).__module__.endswith("backends.null"):
        return False
    if isinstance(backend, chainer.ChainerBackend) and not backend.backends:
        return False
    return True


class SecretStore:
    """Looks a secret up env-first; stores it in the keyring, or the 0600 file where none works."""

    def __init__(self, state_dir: Path, env: Mapping[str, str] | None = None) -> None:
        self.state_dir = Path(state_dir)
        self.path = state_paths(self.state_dir).secrets
        self._env = env if env is not None else os.environ
        self._keyring_ok: bool | None = None

    def __repr__(self) -> str:
        return f"SecretStore({str(self.state_dir)!r})"

    def _use_keyring(self) -> bool:
        if self._env.get("SHOPVISMA_SECRETS", "").strip().lower() == "file":
            return False
        if self._keyring_ok is None:
            self._keyring_ok = keyring_usable()
        return self._keyring_ok

    @property
    def backend(self) -> str:
        return "keyring" if self._use_keyring() else "file"

    def source(self, name: str) -> str | None:
        """Where `name` would come from ("env", "keyring", "file") or None; for `status`."""
        _check_name(name)
        if self._env.get(ENV_VARS[name], "").strip():
            return "env"
        if self._use_keyring() and self._keyring_get(name):
            return "keyring"
        return "file" if self._read_file().get(name) else None

    def get(self, name: str) -> str | None:
        _check_name(name)
        value = self._env.get(ENV_VARS[name], "").strip()
        if value:
            return value
        if self._use_keyring():
            value = self._keyring_get(name) or ""
            if value:
                return value
        return self._read_file().get(name) or None

    def set(self, name: str, value: str) -> str:
        """Store and say where ("keyring" or the file path), so `login` can tell the user."""
        _check_name(name)
        if not value or not value.strip():
            raise ValueError(f"empty value for secret {name!r}")
        if self._use_keyring():
            try:
                import keyring

                keyring.set_password(SERVICE, name, value)
                self._drop_from_file(name)  # one copy only: a stale file copy would shadow nothing but confuse
                return "keyring"
            except Exception:  # noqa: BLE001 - a locked/broken keyring: fall back to the file
                self._keyring_ok = False
        data = self._read_file()
        data[name] = value
        self._write_file(data)
        return str(self.path)

    def delete(self, name: str) -> None:
        _check_name(name)
        if self._use_keyring():
            try:
                import keyring

                keyring.delete_password(SERVICE, name)
            except Exception:  # noqa: BLE001 - absent or keyring broken: nothing to delete there
                pass
        self._drop_from_file(name)

    def _keyring_get(self, name: str) -> str | None:
        try:
            import keyring

            return keyring.get_password(SERVICE, name)
        except Exception:  # noqa: BLE001 - locked keyring (cron without D-Bus): use the file
            self._keyring_ok = False
            return None

    def _read_file(self) -> dict[str, str]:
        try:
            raw = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise ConfigError(
                f"secrets file {self.path} cannot be read: {exc.strerror or exc}",
                hint="check its owner and permissions (it should be mode 0600)",
            ) from None
        try:
            data = json.loads(raw)
        except ValueError:
            data = None
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            raise ConfigError(
                f"secrets file {self.path} is corrupt (not a JSON object of strings)",
                hint="remove it and run `shopvisma login shopify` and `shopvisma login visma` again",
            )
        return {k: v for k, v in data.items() if k in ENV_VARS}

    def _write_file(self, data: dict[str, str]) -> None:
        atomic_write(self.path, (json.dumps(data, indent=1, sort_keys=True) + "\n").encode(), mode=0o600)

    def _drop_from_file(self, name: str) -> None:
        if not self.path.exists():
            return
        data = self._read_file()
        if data.pop(name, None) is not None:
            self._write_file(data)


class TokenFile:
    """tokens.json: {"visma": {access_token, refresh_token, expires_at, rotated_at},
    "shopify": {access_token, expires_at}}. 0600 from creation, replaced atomically;
    callers hold the run lock while they rotate, so load-modify-save does not race."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"TokenFile({str(self.path)!r})"

    def load(self) -> dict[str, Any]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise ConfigError(
                f"token file {self.path} cannot be read: {exc.strerror or exc}",
                hint="check its owner and permissions (it should be mode 0600)",
            ) from None
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            data = None
        if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
            raise ConfigError(
                f"token file {self.path} is corrupt (not a JSON object of sections)",
                hint="move it aside and run `shopvisma login visma` (and `shopvisma login shopify` "
                "if you use a client id/secret) to get new tokens",
            )
        return data

    def save(self, data: dict[str, Any]) -> None:
        text = json.dumps(data, indent=1, sort_keys=True) + "\n"
        atomic_write(self.path, text.encode("utf-8"), mode=0o600)

    def update(self, section: str, values: dict[str, Any]) -> dict[str, Any]:
        """Merge `values` into one section and save; returns the whole new content."""
        data = self.load()
        data[section] = {**data.get(section, {}), **values}
        self.save(data)
        return data

    def section(self, section: str) -> dict[str, Any]:
        return dict(self.load().get(section, {}))

    def seed_from_env(self, env: Mapping[str, str] | None = None) -> bool:
        """Use SHOPVISMA_VISMA_REFRESH_TOKEN only when no Visma grant is stored: once the
        token has rotated, the env value is void and must not overwrite the live one."""
        value = (env if env is not None else os.environ).get(REFRESH_TOKEN_ENV, "").strip()
        if not value:
            return False
        data = self.load()
        if data.get("visma", {}).get("refresh_token"):
            return False
        data["visma"] = {"access_token": "", "refresh_token": value, "expires_at": 0.0, "rotated_at": iso_z(utc_now())}
        self.save(data)
        return True
