"""console.Console: the stream rules and the one error boundary, without a CLI runner.

These are the contract's stdout/stderr and exit-code rules at their source, so a
change that breaks them fails here first, in milliseconds.
"""

from __future__ import annotations

import io
import json
import logging
from decimal import Decimal
from pathlib import Path

import pytest

from shopvisma.console import Console
from shopvisma.errors import AuthError, ExitCode, LockedError
from shopvisma.redact import register


def _console(**flags: bool) -> Console:
    return Console(stdout=io.StringIO(), stderr=io.StringIO(), **flags)


def _out(c: Console) -> str:
    assert isinstance(c.stdout, io.StringIO)
    return c.stdout.getvalue()


def _err(c: Console) -> str:
    assert isinstance(c.stderr, io.StringIO)
    return c.stderr.getvalue()


@pytest.fixture(autouse=True)
def _no_log_handlers() -> None:
    logging.getLogger("shopvisma").handlers.clear()


def test_say_goes_to_stderr_and_quiet_silences_it_unless_always() -> None:
    c = _console()
    c.say("hello")
    assert _err(c) == "hello\n" and _out(c) == ""
    q = _console(quiet=True)
    q.say("hidden")
    q.say("shown", always=True)
    assert _err(q) == "shown\n"


def test_emit_json_is_one_document_on_stdout_with_exact_decimals() -> None:
    c = _console(json=True)
    c.emit_json({"total": Decimal("10.10")})
    assert json.loads(_out(c)) == {"total": 10.1}
    assert '"total": 10.10' in _out(c) and _err(c) == ""


def test_merge_lets_options_come_before_or_after_the_command() -> None:
    c = Console().merge(Path("a.toml"), json_=True)
    c.merge(None, quiet=True)
    assert (c.config, c.json, c.quiet, c.verbose) == (Path("a.toml"), True, True, False)
    assert c.merge(Path("b.toml")).config == Path("b.toml")


def test_two_consoles_share_nothing() -> None:
    a, b = _console(quiet=True), _console()
    b.say("only b")
    assert _err(a) == "" and not b.quiet


def test_guard_returns_the_bodys_exit_code() -> None:
    c = _console()
    assert c.guard(lambda: 0) == 0
    assert c.guard(lambda: int(ExitCode.PARTIAL)) == 1
    assert c.guard(lambda: None) == 0


def test_a_domain_error_is_its_exit_code_with_message_and_hint_redacted() -> None:
    register("s3cret-value-xyz")
    c = _console(json=True)

    def body() -> int:
        raise AuthError("token s3cret-value-xyz revoked", hint="run: shopvisma login visma")

    assert c.guard(body) == 77
    assert "s3cret-value-xyz" not in _err(c) + _out(c)
    assert _err(c).startswith("shopvisma: error: token ") and "hint: run: shopvisma login visma" in _err(c)
    doc = json.loads(_out(c))
    assert doc["exit_code"] == 77 and doc["hint"] == "run: shopvisma login visma"


def test_locked_is_silent_under_quiet_but_not_otherwise() -> None:
    def body() -> int:
        raise LockedError("another sync holds the lock")

    q = _console(quiet=True)
    assert q.guard(body) == 75 and _err(q) == "" and _out(q) == ""
    loud = _console()
    assert loud.guard(body) == 75 and "another sync holds the lock" in _err(loud)


def test_a_bug_is_70_with_the_traceback_only_in_the_log_file(tmp_path: Path) -> None:
    c = _console(json=True)
    c.setup_logging(tmp_path)

    def body() -> int:
        raise KeyError("boom")

    assert c.guard(body) == 70
    assert "Traceback" not in _err(c) and "internal error (KeyError)" in _err(c)
    assert str(tmp_path / "shopvisma.log") in _err(c)
    assert json.loads(_out(c)) == {"error": "internal error (KeyError)", "exit_code": 70}
    for h in logging.getLogger("shopvisma").handlers:
        h.flush()
    assert "Traceback" in (tmp_path / "shopvisma.log").read_text()


def test_a_read_only_command_leaves_no_log_file_unless_it_fails(tmp_path: Path) -> None:
    c = _console()
    c.setup_logging(tmp_path, persist=False)
    logging.getLogger("shopvisma").info("a quiet read")
    assert not (tmp_path / "shopvisma.log").exists()


def test_no_colour_and_no_progress_off_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    c = _console()
    assert not c.color and not c.progress

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    t = Console(stdout=io.StringIO(), stderr=Tty())
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert t.color and t.progress
    monkeypatch.setenv("NO_COLOR", "1")
    assert not t.color
    assert not Console(stderr=Tty(), quiet=True).progress and not Console(stderr=Tty(), json=True).progress
