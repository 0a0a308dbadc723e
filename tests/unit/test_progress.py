"""On a terminal a pass shows each order's line above a live progress line; never elsewhere."""

from __future__ import annotations

import io

from shopvisma import render
from shopvisma.console import Console
from shopvisma.engine.outcomes import OrderOutcome


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_the_order_lines_and_a_progress_line_that_goes_away() -> None:
    term = Terminal()
    console = Console(stderr=term)
    sink = render.pass_sink(console)
    assert isinstance(sink, render.ProgressSink)
    sink(OrderOutcome("#1001", "created", kind="draft", document_id="d1"))
    sink(OrderOutcome("#1002", "failed", reason="no e-mail", field="email"))
    sink.close()
    out = term.getvalue()
    assert "#1001" in out and "#1002" in out and "no e-mail" in out


def test_no_progress_line_in_cron_mail_or_json() -> None:
    assert not isinstance(render.pass_sink(Console(stderr=io.StringIO())), render.ProgressSink)
    assert not isinstance(render.pass_sink(Console(stderr=Terminal(), json=True)), render.ProgressSink)
    assert not isinstance(render.pass_sink(Console(stderr=Terminal(), quiet=True)), render.ProgressSink)
