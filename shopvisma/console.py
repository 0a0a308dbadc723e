"""Where output goes, and the one place an error becomes an exit code.

A `Console` is made per invocation from the common options and handed to every
command, so nothing reads a global and a test can run two invocations (or swap
the streams) without one leaking into the other. The stream rule is the
contract's: stdout carries only `--json` documents (and `schedule`'s product),
humans and progress go to stderr, so cron mail stays short and scripts can pipe
`--json` safely.

Only the standard library is imported at module level: an idle cron pass pays
for this module on every run. `logging.handlers` (pickle, socket, queue) and
the redactor are imported where they are used.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from shopvisma.errors import ExitCode, ShopvismaError

log = logging.getLogger("shopvisma")


@dataclass
class Console:
    """The common options plus the two streams; `merge` lets the options come before or
    after the command name, as the contract allows both."""

    json: bool = False
    quiet: bool = False
    verbose: bool = False
    config: Path | None = None  # carried with the other common options; settings are loaded from it
    # Bound when the console is made, inside the invocation: a test runner swaps sys.std*
    # per invocation, so binding at import time would write to a stale stream.
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)

    def merge(
        self, config: Path | None = None, json_: bool = False, quiet: bool = False, verbose: bool = False
    ) -> Console:
        """A flag given at either level counts; a --config after the command wins."""
        self.config = config or self.config
        self.json = self.json or json_
        self.quiet = self.quiet or quiet
        self.verbose = self.verbose or verbose
        return self

    # ------------------------------------------------------------------ output

    def say(self, text: str = "", *, always: bool = False) -> None:
        """Human text on stderr; -q silences it unless `always` (what cron must mail)."""
        if always or not self.quiet:
            print(text, file=self.stderr)

    def emit_json(self, doc: Any) -> None:
        """stdout carries exactly one JSON document; Decimals stay exact numbers."""
        from shopvisma.http import encode_json

        print(encode_json(doc, indent=2).decode("utf-8"), file=self.stdout)

    def emit_text(self, text: str) -> None:
        """stdout for a command whose product is text a user redirects (`schedule`)."""
        print(text, end="", file=self.stdout)

    @property
    def color(self) -> bool:
        """Colour only for a person at a terminal, and never when NO_COLOR is set (no-color.org)."""
        return not os.environ.get("NO_COLOR") and _isatty(self.stderr)

    @property
    def progress(self) -> bool:
        """Progress bars only when stderr is a terminal: in cron mail they are noise."""
        return not (self.quiet or self.json) and _isatty(self.stderr)

    # ------------------------------------------------------------------ errors

    def fail(self, exc: ShopvismaError) -> int:
        """Tell the user (message and hint, redacted) and give the exit code to end with."""
        from shopvisma.redact import redact

        if exc.exit_code == ExitCode.TEMPFAIL and self.quiet:
            return int(exc.exit_code)  # overlapping cron runs are normal: no mail
        if self.json:
            self.emit_json(
                {"error": redact(exc.message), "hint": redact(exc.hint) or None, "exit_code": int(exc.exit_code)}
            )
        print(f"shopvisma: error: {redact(str(exc))}", file=self.stderr)
        return int(exc.exit_code)

    def guard(self, body: Callable[[], int | None]) -> int:
        """The one error boundary: run a command body and return its exit code.

        A ShopvismaError carries its own code (the contract's sysexits table); anything
        else is a bug: a short message on stderr, the traceback only in the log file
        (exit 70), because cron mails stderr and a traceback may hold order data.
        """
        import typer  # already loaded by the CLI: an Exit is a decision, a BadParameter exit 2 (usage)

        try:
            return int(body() or 0)
        except (typer.Exit, typer.BadParameter):
            raise
        except ShopvismaError as exc:
            log.info("error: %s", exc)
            return self.fail(exc)
        except KeyboardInterrupt:
            print("shopvisma: interrupted", file=self.stderr)
            return 130
        except Exception as exc:  # noqa: BLE001 - the one place a bug becomes exit 70
            from shopvisma.redact import redact

            log.exception("internal error")
            print(f"shopvisma: internal error ({type(exc).__name__}): {redact(str(exc))[:200]}", file=self.stderr)
            print(f"  the traceback is in {_log_path_hint()}; please report it", file=self.stderr)
            if self.json:
                self.emit_json({"error": f"internal error ({type(exc).__name__})", "exit_code": int(ExitCode.SOFTWARE)})
            return int(ExitCode.SOFTWARE)

    # ------------------------------------------------------------------ logging

    def setup_logging(self, state_dir: Path | None, *, persist: bool = True, level: str | None = None) -> None:
        """Log to shopvisma.log in the state dir, at INFO (what a pass did, its waits and
        warnings) unless -v or `level="debug"` (`[sync] log_level`) asks for every request:
        at DEBUG each request is a line, which cron every 5 minutes would pile up for nothing.
        The level is set on the file's handler, not on the logger, so a test's caplog (or any
        other handler) still sees every record. The file is bounded by size (`_BoundedLog`).
        Read-only commands (persist=False) keep their records in memory and write them only if
        an error occurs, so `dry-run` leaves every file in the state dir byte-identical."""
        from shopvisma.redact import RedactingFilter
        from shopvisma.state.files import state_paths

        logger = logging.getLogger("shopvisma")
        logger.setLevel(logging.DEBUG)
        file_level = logging.DEBUG if self.verbose or (level or "").strip().lower() == "debug" else logging.INFO
        for h in list(logger.handlers):
            logger.removeHandler(h)
            h.close()
        if state_dir is not None:
            try:
                state_dir.mkdir(parents=True, exist_ok=True)
                fh = _BoundedLog(state_paths(state_dir).log)
                fh.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
                fh.setLevel(file_level)
                fh.addFilter(RedactingFilter())
                if persist:
                    logger.addHandler(fh)
                else:
                    from logging.handlers import MemoryHandler  # not on a sync: it imports pickle, socket, queue

                    mh = MemoryHandler(10_000, flushLevel=logging.ERROR, target=fh, flushOnClose=False)
                    mh.setLevel(file_level)  # a MemoryHandler's flush skips its target's level check
                    mh.addFilter(RedactingFilter())
                    logger.addHandler(mh)
            except OSError:
                pass
        if self.verbose:
            sh = logging.StreamHandler(self.stderr)
            sh.setFormatter(_NoTraceback())  # tracebacks go to the log file only
            sh.setLevel(logging.INFO)
            sh.addFilter(RedactingFilter())
            logger.addHandler(sh)


LOG_MAX_BYTES = 1_000_000  # per file; with LOG_BACKUPS the log never takes more than ~4 MB
LOG_BACKUPS = 3  # shopvisma.log.1 .. .3, oldest last


class _BoundedLog(logging.Handler):
    """shopvisma.log, rotated by size: at most (LOG_BACKUPS + 1) x LOG_MAX_BYTES (plus one record).

    Cron runs a pass every 5 minutes for years, so an unrotated log grows without end. The
    stdlib's RotatingFileHandler does the rotating, but `logging.handlers` imports pickle,
    socket and queue, which an idle pass must not pay for (tests/test_import_budget.py). So a
    plain FileHandler writes until the file reaches the bound, which most passes never see
    (an idle pass at INFO writes nothing); only then is RotatingFileHandler imported and put
    in its place for the rest of the process. The check runs after each write (and before
    the first, for a file left full by an older version), so a file may end one record
    past the bound.
    """

    def __init__(self, path: Path, max_bytes: int = LOG_MAX_BYTES, backups: int = LOG_BACKUPS) -> None:
        super().__init__()
        self.baseFilename = os.path.abspath(path)  # what _log_path_hint names in a bug report
        self.max_bytes = max_bytes
        self.backups = backups
        self._file: logging.FileHandler = logging.FileHandler(path, encoding="utf-8", delay=True)
        self._rotating = False

    def setFormatter(self, fmt: logging.Formatter | None) -> None:  # noqa: N802 - the logging API's name
        super().setFormatter(fmt)
        self._file.setFormatter(fmt)

    def emit(self, record: logging.LogRecord) -> None:
        if not self._rotating and self._file.stream is None and self._full():
            self._rotate()  # the first write of a process, to a file already full (an older, unrotated log)
        self._file.emit(record)  # the FileHandler reports its own write errors (handleError)
        if not self._rotating and self._full():
            self._rotate()  # RotatingFileHandler checks the size itself, before each write

    def _full(self) -> bool:
        """The file has reached the bound: the open stream's position, else the file's size."""
        stream = self._file.stream
        try:
            size = stream.tell() if stream is not None else os.path.getsize(self.baseFilename)
        except (OSError, ValueError):  # no file yet, or a stream that cannot tell
            return False
        return size >= self.max_bytes

    def _rotate(self) -> None:
        """Roll the full file to .1 (and .1 to .2, …) and let the stdlib handler go on."""
        from logging.handlers import RotatingFileHandler  # only once a file is full; see the class docstring

        rotating = RotatingFileHandler(
            self.baseFilename, maxBytes=self.max_bytes, backupCount=self.backups, encoding="utf-8", delay=True
        )
        rotating.setFormatter(self.formatter)
        self._file.close()
        try:
            rotating.doRollover()
        except OSError:
            pass  # e.g. a backup name not writable: keep appending rather than lose the records
        self._file = rotating
        self._rotating = True

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.close()
        super().close()


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or minimal stream is not a terminal
        return False


def _log_path_hint() -> str:
    """Name the file the traceback went to, so the bug report has it."""
    for h in logging.getLogger("shopvisma").handlers:
        target = getattr(h, "target", None) or h
        name = getattr(target, "baseFilename", None)
        if isinstance(name, str):
            return name
    return "the log file"


class _NoTraceback(logging.Formatter):
    """-v shows log lines on stderr, which cron may mail: the traceback stays in the file."""

    def format(self, record: logging.LogRecord) -> str:
        saved = record.exc_info, record.exc_text
        record.exc_info = record.exc_text = None
        try:
            return super().format(record)
        finally:
            record.exc_info, record.exc_text = saved
