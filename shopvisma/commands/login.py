"""`login shopify` and `login visma`: get credentials into the secret store once.

Visma's authorization-code flow usually runs on a laptop with a browser, but the
registered redirect URI may not be loopback (Visma decides what a developer app
may register), so pasting the redirect URL back is a first-class path, not a
fallback. The `state` parameter is always checked.
"""

from __future__ import annotations

import secrets as pysecrets
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, TextIO
from urllib.parse import parse_qs, urlsplit

from shopvisma.config.settings import Settings
from shopvisma.console import Console
from shopvisma.errors import AuthError, ExitCode, ShopvismaError
from shopvisma.redact import register


def _ask(console: Console, prompt: str, *, secret: bool, stdin: TextIO) -> str:
    """A prompt on stderr even under -q: the user must see what is asked (stdout may be --json)."""
    import getpass

    if secret and stdin.isatty():
        return getpass.getpass(prompt + ": ").strip()
    print(prompt + ": ", end="", file=console.stderr, flush=True)
    return stdin.readline().strip()


def login_shopify(
    settings: Settings,
    console: Console,
    *,
    token: str | None,
    client_id: str | None,
    client_secret: str | None,
    stdin: TextIO = sys.stdin,
) -> str:
    """Store a static Admin API token, or a client id + secret whose 24 h token is then
    fetched at once (so a wrong secret fails now, not at 3 a.m. in cron). Returns where it
    was stored (also the --json document)."""
    from shopvisma.state.files import state_paths
    from shopvisma.state.secrets import SecretStore, TokenFile

    store = SecretStore(settings.state_dir)
    if not token and not client_id:
        token = _ask(
            console,
            "Shopify Admin API token (shpat_…; leave empty to use a client id + secret)",
            secret=True,
            stdin=stdin,
        )
        if not token:
            client_id = _ask(console, "Shopify app client id", secret=False, stdin=stdin)
    if token:
        register(token)
        where = store.set("shopify_token", token)
        for stale in ("shopify_client_id", "shopify_client_secret"):  # one way of logging in at a time
            store.delete(stale)
        console.say(f"Shopify token stored in {where}")
        _emit_stored(console, where)
        return where
    if not client_id:
        raise ShopvismaError(
            "no Shopify token or client id given",
            hint="run: shopvisma login shopify --token shpat_…",
            exit_code=ExitCode.USAGE,
        )
    client_secret = client_secret or _ask(console, "Shopify app client secret", secret=True, stdin=stdin)
    register(client_secret)
    from shopvisma.shopify.auth import client_credentials_token

    tokens = TokenFile(state_paths(settings.state_dir).tokens)
    client_credentials_token(settings.shopify.origin, client_id, client_secret, tokens, force=True)
    store.set("shopify_client_id", client_id)
    where = store.set("shopify_client_secret", client_secret)
    store.delete("shopify_token")  # a static token would otherwise win over the new app
    console.say(f"Shopify client credentials stored in {where}; an access token was fetched and cached")
    _emit_stored(console, where)
    return where


def _emit_stored(console: Console, where: str) -> None:
    if console.json:
        console.emit_json({"stored": where})


def login_visma(
    settings: Settings,
    console: Console,
    *,
    no_browser: bool,
    client_id: str | None,
    client_secret: str | None,
    stdin: TextIO = sys.stdin,
    open_browser: Callable[[str], Any] | None = None,
    timeout: float = 300.0,
) -> dict[str, Any]:
    """The grant goes to tokens.json under the run lock, since a running pass may be
    rotating the same refresh token. Returns the --json document."""
    from shopvisma.commands.common import locked_state_dir
    from shopvisma.state.files import state_paths
    from shopvisma.state.secrets import SecretStore, TokenFile
    from shopvisma.visma.auth import authorize_url, exchange_code

    store = SecretStore(settings.state_dir)
    client_id = client_id or store.get("visma_client_id") or _ask(console, "Visma client id", secret=False, stdin=stdin)
    client_secret = (
        client_secret
        or store.get("visma_client_secret")
        or _ask(console, "Visma client secret", secret=True, stdin=stdin)
    )
    if not client_id or not client_secret:
        raise AuthError(
            "a Visma client id and secret are needed", hint="create a developer app: see docs/setup-visma.md"
        )
    register(client_secret)
    state = pysecrets.token_urlsafe(24)
    redirect_uri = settings.visma.redirect_uri
    from shopvisma.visma.errors import scopes_for

    # What this config needs and no more: [payouts] posts vouchers (ea:accounting).
    wanted = scopes_for(
        settings.visma.workflow, payouts=settings.payouts is not None, payments=settings.payments is not None
    )
    url = authorize_url(settings.visma.identity_url, client_id, redirect_uri, state, wanted)
    if no_browser:
        console.say("Open this URL in a browser, log in to Visma and approve access:")
        console.say(url)
        console.say("Then paste the full URL the browser was sent to (it contains code=…):")
        pasted = stdin.readline().strip()
    else:
        pasted = _browser_flow(url, redirect_uri, open_browser, timeout, console)
    code = _code_from_redirect(pasted, state)
    register(code)
    store.set("visma_client_id", client_id)
    where = store.set("visma_client_secret", client_secret)
    with locked_state_dir(settings) as paths:
        tokens = TokenFile(paths.tokens)
        exchange_code(settings.visma.identity_url, client_id, client_secret, code, redirect_uri, tokens)
    console.say(f"Visma grant stored in {state_paths(settings.state_dir).tokens}; client secret in {where}")
    info = {"stored": where, "tokens": str(state_paths(settings.state_dir).tokens)}
    if console.json:
        console.emit_json(info)
    return info


def _code_from_redirect(pasted: str, expected_state: str) -> str:
    query = parse_qs(urlsplit(pasted).query) if "?" in pasted else parse_qs(pasted)
    if "error" in query:
        raise AuthError(f"Visma refused the login: {query['error'][0]}", hint="run: shopvisma login visma")
    code = (query.get("code") or [""])[0]
    if not code:
        raise AuthError(
            "the pasted URL has no code=… parameter", hint="paste the whole address the browser was sent to"
        )
    if (query.get("state") or [""])[0] != expected_state:
        raise AuthError(
            "the state parameter does not match this login (a stale or forged redirect)",
            hint="run: shopvisma login visma again and use the URL it prints",
        )
    return code


def _browser_flow(
    url: str, redirect_uri: str, open_browser: Callable[[str], Any] | None, timeout: float, console: Console
) -> str:
    """Catch the redirect on a loopback listener; needs a loopback redirect URI."""
    parts = urlsplit(redirect_uri)
    if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise AuthError(
            f"the redirect URI {redirect_uri} is not on this machine, so the browser flow cannot catch it",
            hint="run: shopvisma login visma --no-browser",
        )
    got: dict[str, str] = {}
    done = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            if urlsplit(self.path).path != (parts.path or "/"):
                self.send_error(404)
                return
            got["url"] = f"{redirect_uri}?{urlsplit(self.path).query}"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.end_headers()
            self.wfile.write(b"shopvisma: login received, you can close this tab.")
            done.set()

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer((parts.hostname or "127.0.0.1", parts.port or 80), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        if open_browser is None:
            import webbrowser

            open_browser = webbrowser.open
        console.say(f"Opening {url}")
        console.say("If no browser opens, run: shopvisma login visma --no-browser")
        open_browser(url)
        if not done.wait(timeout):
            raise AuthError("no login arrived within the time limit", hint="run: shopvisma login visma --no-browser")
    finally:
        server.shutdown()
        server.server_close()
    return got["url"]
