"""One domain error class and the exit codes of the contract.

Only the error boundary (console.Console.guard) turns a `ShopvismaError` into an exit code; every
layer below raises. Codes follow sysexits.h because cron and mail tooling read
them.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0  # pass completed; every selected order is in Visma, or nothing to do
    PARTIAL = 1  # pass completed, some orders could not be transferred (named)
    USAGE = 2  # command-line usage error (Click's own code)
    UNAVAILABLE = 69  # EX_UNAVAILABLE: a remote service stayed down after retries
    SOFTWARE = 70  # EX_SOFTWARE: a bug; traceback only in the log file
    TEMPFAIL = 75  # EX_TEMPFAIL: another sync holds the lock
    NOPERM = 77  # EX_NOPERM: a token is missing, invalid or revoked
    CONFIG = 78  # EX_CONFIG: missing or invalid config (or checkpoint)


class ShopvismaError(Exception):
    """An error a user can act on: a message, a hint and the exit code."""

    exit_code: ExitCode = ExitCode.SOFTWARE

    def __init__(self, message: str, *, hint: str = "", exit_code: ExitCode | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        if exit_code is not None:
            self.exit_code = exit_code

    def __str__(self) -> str:
        return f"{self.message}\n  hint: {self.hint}" if self.hint else self.message


class ConfigError(ShopvismaError):
    exit_code = ExitCode.CONFIG


class AuthError(ShopvismaError):
    exit_code = ExitCode.NOPERM


class UnavailableError(ShopvismaError):
    exit_code = ExitCode.UNAVAILABLE


class LockedError(ShopvismaError):
    exit_code = ExitCode.TEMPFAIL


class OrderError(ShopvismaError):
    """One order cannot be transferred; the pass goes on, the order stays pending."""

    exit_code = ExitCode.PARTIAL

    def __init__(self, order_name: str, message: str, *, hint: str = "", field: str = ""):
        super().__init__(f"{order_name}: {message}", hint=hint)
        self.order_name = order_name
        self.reason = message
        self.field = field
