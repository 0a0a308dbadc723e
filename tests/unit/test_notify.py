"""Healthcheck pings against a real HTTP server on loopback."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from shopvisma.notify import fail_url, notify_after_pass, ping_body, ping_healthcheck
from shopvisma.redact import register
from shopvisma.render import pass_summary


@dataclass
class Monitor:
    """A tiny healthchecks.io stand-in that records every request."""

    server: ThreadingHTTPServer
    requests: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    delay: float = 0.0

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/ping/abc-123"


@pytest.fixture
def monitor() -> Iterator[Monitor]:
    mon: Monitor

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode("utf-8") if length else ""
            mon.requests.append(
                {
                    "method": self.command,
                    "path": self.path,
                    "body": body,
                    "content_type": self.headers.get("Content-Type"),
                    "user_agent": self.headers.get("User-Agent"),
                }
            )
            if mon.delay:
                time.sleep(mon.delay)
            self.send_response(mon.status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"OK")

        do_GET = do_POST = do_HEAD = _handle  # noqa: N815

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    mon = Monitor(server)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield mon
    finally:
        server.shutdown()
        server.server_close()


def test_success_pings_the_url(monitor: Monitor) -> None:
    assert ping_healthcheck(monitor.url, exit_code=0, summary="3 created, 1 exists") is None
    [req] = monitor.requests
    assert req["method"] == "POST"
    assert req["path"] == "/ping/abc-123"
    assert req["body"] == "exit 0: 3 created, 1 exists"
    assert req["content_type"].startswith("text/plain")
    assert req["user_agent"].startswith("shopvisma/")


@pytest.mark.parametrize("code", [1, 69, 70, 77, 78])
def test_failure_pings_fail_with_code_and_summary(monitor: Monitor, code: int) -> None:
    assert ping_healthcheck(monitor.url + "/", exit_code=code, summary="FAILED #1001:\n no e-mail") is None
    [req] = monitor.requests
    assert req["method"] == "POST"
    assert req["path"] == "/ping/abc-123/fail"
    assert req["body"] == f"exit {code}: FAILED #1001: no e-mail"  # one line


def test_fail_url_keeps_the_query() -> None:
    assert fail_url("https://hc-ping.com/uuid?rid=7") == "https://hc-ping.com/uuid/fail?rid=7"
    assert fail_url("https://hc-ping.com/uuid/") == "https://hc-ping.com/uuid/fail"


def test_body_is_redacted_and_bounded() -> None:
    secret = "visma-client-secret-xyz"
    register(secret)
    body = ping_body(77, f"refresh failed with {secret} and shpat_0123456789abcdef " + "x" * 2000)
    assert secret not in body and "shpat_0123456789" not in body
    assert body.startswith("exit 77: refresh failed with ***")
    assert len(body) <= 500


def test_server_down_never_raises() -> None:
    with socket.socket() as s:  # a port that was free a moment ago: connection refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    problem = ping_healthcheck(f"http://127.0.0.1:{port}/ping/abc", exit_code=1, summary="x", timeout=2)
    assert problem is not None
    assert "127.0.0.1" in problem and "could not connect" in problem
    assert "/ping/abc" not in problem  # the ping URL is a capability; only the host is named


def test_http_error_status_is_reported_not_raised(monitor: Monitor) -> None:
    monitor.status = 404
    problem = ping_healthcheck(monitor.url, exit_code=0, summary="ok")
    assert problem is not None and "HTTP 404" in problem


def test_slow_monitor_times_out(monitor: Monitor) -> None:
    monitor.delay = 2.0
    started = time.monotonic()
    problem = ping_healthcheck(monitor.url, exit_code=0, summary="ok", timeout=0.3)
    assert problem is not None and "timed out" in problem
    assert time.monotonic() - started < 1.5


def test_plain_http_to_a_remote_host_is_never_sent() -> None:
    problem = ping_healthcheck("http://hc-ping.example/uuid", exit_code=0, summary="ok")
    assert problem is not None and "https" in problem


def test_garbage_url_never_raises() -> None:
    assert ping_healthcheck("https://[::1", exit_code=1, summary="x", timeout=1) is not None
    assert ping_healthcheck("", exit_code=0, summary="x") is not None


def test_notify_after_pass_skips_no_url_and_lock_held(monitor: Monitor) -> None:
    assert notify_after_pass("", 0, "ok") is None
    assert notify_after_pass(monitor.url, 75, "another sync holds the lock") is None
    assert monitor.requests == []
    assert notify_after_pass(monitor.url, 69, "Visma unavailable") is None
    assert [r["path"] for r in monitor.requests] == ["/ping/abc-123/fail"]


def test_pass_summary_is_one_line() -> None:
    from shopvisma.engine.outcomes import OrderOutcome, PassResult

    result = PassResult(command="sync", started_at=datetime.now(UTC))
    assert pass_summary(result) == "nothing to do"

    def outcome(name: str, status: str, reason: str = "") -> OrderOutcome:
        return OrderOutcome(name=name, status=status, reason=reason)

    for o in [
        outcome("#1", "created"),
        outcome("#2", "created"),
        *(outcome(f"#{i}", "failed", "no e-mail") for i in range(10, 15)),
    ]:
        result.add(o)
    text = pass_summary(result)
    assert "\n" not in text
    assert text.startswith("2 created, 5 failed; failed #10: no e-mail")
    assert text.endswith("+2 more")


def test_a_real_sync_pass_pings_the_configured_url(world: Any, monitor: Monitor) -> None:
    """Config key → a sync pass on the sandbox → the ping the CLI sends after it."""
    from shopvisma.commands.sync import run_sync
    from shopvisma.config.settings import load_settings

    world.write_config(notify=f'healthcheck_url = "{monitor.url}"')
    settings = load_settings(world.config)
    result = run_sync(settings, dry_run=False)
    assert notify_after_pass(settings.notify.healthcheck_url, int(result.exit_code), pass_summary(result)) is None
    [req] = monitor.requests
    assert (req["path"], req["body"]) == ("/ping/abc-123", "exit 0: nothing to do")
