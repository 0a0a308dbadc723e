"""Visma's error envelope → typed errors, each with the contract exit code it deserves.

Kept apart from visma/client.py (the transport) because this is where every reading of the
docs meets the operator: one Visma number can mean two things (4002 is both "no access
to the module" and "cannot be created or updated"), codes come as ints or numeric
strings, and whatever Visma answers must end as 0/1/69/77/78, never as the 70 of a bug.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import requests

from shopvisma.errors import AuthError, ExitCode, ShopvismaError

LOGIN_HINT = "run: shopvisma login visma"

# Which scope each table endpoint needs (docs/authentication): reads also take the _readonly variant.
SALES_ENDPOINTS = frozenset(
    {
        "customers",
        "articles",
        "customerinvoicedrafts",
        "customerinvoices",
        "orders",
        "units",
        "termsofpayments",
        "articleaccountcodings",
    }
)
ACCOUNTING_ENDPOINTS = frozenset({"vatcodes", "accounts", "fiscalyears", "vouchers"})
PURCHASE_ENDPOINTS = frozenset({"bankaccounts"})  # the 2026 OpenAPI: ea:purchase / ea:purchase_readonly
_READS = frozenset({"GET", "HEAD", "OPTIONS"})
_MODULE = re.compile(r"module:?\s*([A-Za-z][\w-]*)", re.IGNORECASE)
_TRY_AGAIN = re.compile(
    r"(?:try again|retry)\s+(?:in|after)\s+(\d+(?:\.\d+)?)\s*(second|sec|s\b|minute|min)", re.IGNORECASE
)


class AmbiguousWriteError(ShopvismaError):
    """A POST/PUT was sent but its outcome is unknown (timeout, dropped connection, 5xx).

    The caller must look the document up by its reference before trying again.
    """

    exit_code = ExitCode.UNAVAILABLE

    def __init__(self, message: str, *, method: str, path: str):
        super().__init__(message, hint="look the document up by its reference before retrying")
        self.method = method
        self.path = path


class VismaError(ShopvismaError):
    """Visma refused a request; carries the envelope's fields for the caller to decide.

    Defaults to 69 rather than the base class's 70: whatever Visma answers is not a bug in
    this program, and "the next run retries" is the safe reading of an unknown refusal."""

    exit_code = ExitCode.UNAVAILABLE

    def __init__(
        self,
        message: str,
        *,
        status: int,
        error_code: int | None = None,
        field_errors: list[dict[str, Any]] | None = None,
        error_id: str | None = None,
        hint: str = "",
        exit_code: ExitCode | None = None,
    ):
        super().__init__(message, hint=hint, exit_code=exit_code)
        self.status = status
        self.error_code = error_code
        self.field_errors = field_errors or []
        self.error_id = error_id


class VismaValidationError(VismaError):
    """400 / 2000 (or 4002 with field errors): the body was refused; that order stays pending
    with this reason. Also what a refused `$filter` raises, which callers fall back from."""

    exit_code = ExitCode.PARTIAL


class VismaConflictError(VismaValidationError):
    """4000 / 409: the object exists already (a number or reference is taken)."""


class VismaModuleError(VismaError):
    """4002 with no field errors: the company lacks the module this endpoint belongs to."""

    exit_code = ExitCode.CONFIG


class VismaStartupGuideError(VismaError):
    """4003: a fresh company whose startup guide was never finished answers nothing else."""

    exit_code = ExitCode.CONFIG


class VismaCompanyInactiveError(VismaError):
    """4004: the company is not active (ended subscription, or not yet activated)."""

    exit_code = ExitCode.CONFIG


class VismaAuthError(AuthError):
    """401 / 4005 after the one refresh retry: the grant no longer works. An AuthError, not a
    VismaError, on purpose: code that handles a refused request (`except VismaError`) must
    not swallow "log in again"; it carries the same envelope fields for whoever looks."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        error_code: int | None = None,
        field_errors: list[dict[str, Any]] | None = None,
        error_id: str | None = None,
        hint: str = "",
    ):
        super().__init__(message, hint=hint)
        self.status = status
        self.error_code = error_code
        self.field_errors = field_errors or []
        self.error_id = error_id


class VismaScopeError(VismaAuthError):
    """403 / 4006: the grant works but lacks the scope this endpoint needs; a new login grants it."""

    def __init__(self, message: str, *, scopes: tuple[str, ...] = (), **kw: Any):
        super().__init__(message, **kw)
        self.scopes = scopes


def scope_for(endpoint: str, method: str = "GET") -> tuple[str, ...]:
    """The scopes of which any one lets `method` reach `endpoint` (empty: not known)."""
    base = (
        "ea:sales"
        if endpoint in SALES_ENDPOINTS
        else "ea:accounting"
        if endpoint in ACCOUNTING_ENDPOINTS
        else "ea:purchase"
        if endpoint in PURCHASE_ENDPOINTS
        else ""
    )
    if not base:
        return ()
    return (base, f"{base}_readonly") if method.upper() in _READS else (base,)


def scopes_for(workflow: str, *, payouts: bool = False, payments: bool = False) -> tuple[str, ...]:
    """The scopes a grant needs for this configuration, so `login visma` asks for no more than
    it uses: every workflow writes sales documents (ea:sales); payouts post vouchers (ea:accounting),
    everything else only reads the accounting side (VAT codes, fiscal years); payments post to
    customerinvoices (ea:sales) but find their bank account in bankaccounts (ea:purchase_readonly)."""
    del workflow  # every workflow writes with ea:sales
    wanted = ("ea:api", "offline_access", "ea:sales", "ea:accounting" if payouts else "ea:accounting_readonly")
    return (*wanted, "ea:purchase_readonly") if payments else wanted


@dataclass
class Envelope:
    """Visma's `{ErrorCode, DeveloperErrorMessage, ErrorId, Errors[]}`, read leniently: the spec
    types the outer code as an int and the inner ones as strings, real answers may differ."""

    code: int | None = None
    message: str = ""
    error_id: str | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)


def as_int(value: Any) -> int | None:
    """An error code given as 4002, "4002" or 4002.0; None for anything else (bool included)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def read_envelope(resp: requests.Response) -> Envelope:
    try:
        env = resp.json()
    except ValueError:
        env = None
    if not isinstance(env, dict):
        return Envelope(message=str(resp.reason or "").strip())
    raw = env.get("Errors")
    errors = [e for e in raw if isinstance(e, dict)] if isinstance(raw, list) else []
    message = next(
        (str(env[k]).strip() for k in ("DeveloperErrorMessage", "Message", "error_description") if env.get(k)),
        str(resp.reason or "").strip(),
    )
    error_id = env.get("ErrorId")
    return Envelope(as_int(env.get("ErrorCode")), message, str(error_id) if error_id else None, errors)


def _module_error(env: Envelope, method: str, endpoint: str, base: str, kw: dict[str, Any]) -> VismaModuleError:
    named = _MODULE.search(env.message)
    module = named.group(1) if named else ""
    if endpoint == "orders" and module.lower() in ("", "sales_standard", "order", "orders"):
        what = 'the sales orders module ("Order" / sales_standard in Visma)'
        hint = (
            "activate the sales orders module for this company in Visma eAccounting, "
            'or set [visma] workflow = "invoice-draft" in the config'
        )
    elif module.lower().startswith("api"):
        what = f"the API integration module ({module})"
        hint = (
            "activate the API integration for this company in Visma eAccounting (Apps and extensions), "
            "or log in to the company that has it: shopvisma login visma"
        )
    else:
        what = f"the module {module} that /{endpoint} needs" if module else f"the module that /{endpoint} needs"
        hint = f"activate it for this company in Visma eAccounting, then run the sync again ({method} /{endpoint})"
    return VismaModuleError(f"{base}: the company has no access to {what}", hint=hint, **kw)


def error_from_response(resp: requests.Response, method: str, endpoint: str) -> VismaError | VismaAuthError:
    """The typed error for a 4xx answer (5xx and 429 are the transport's business)."""
    env = read_envelope(resp)
    status, code, fields = resp.status_code, env.code, env.errors
    detail = "; ".join(
        f"{e.get('Field') or '?'}: {e.get('Message') or e.get('ErrorCode') or 'refused'}" for e in fields
    )
    base = f"Visma {method} /{endpoint}: HTTP {status}" + (f" ErrorCode {code}" if code is not None else "")
    message = base + (f": {detail or env.message}" if (detail or env.message) else "")
    kw: dict[str, Any] = {"status": status, "error_code": code, "field_errors": fields, "error_id": env.error_id}
    if code == 4002 and not fields and (status != 400 or "module" in env.message.lower()):
        return _module_error(env, method, endpoint, message, kw)
    if code == 4003:
        return VismaStartupGuideError(
            f"{message}: the company's startup guide is not completed",
            hint="finish the startup guide in Visma eAccounting (log in to the company in the browser), "
            "then run the sync again",
            **kw,
        )
    if code == 4004:
        return VismaCompanyInactiveError(
            f"{message}: the Visma company is not active",
            hint="activate the company (or its subscription) in Visma eAccounting, or log in to an active "
            "company: shopvisma login visma",
            **kw,
        )
    if status == 401 or code == 4005:
        return VismaAuthError(f"Visma refused the access token ({message})", hint=LOGIN_HINT, **kw)
    if code == 3003:
        return VismaAuthError(
            f"{message}: the Visma user who logged in lacks the permission for this",
            hint="log in as a Visma user with that permission: shopvisma login visma",
            **kw,
        )
    if code == 4006 or (status == 403 and code is None):
        scopes = scope_for(endpoint, method)
        need = (
            f"the scope {scopes[0]}" + (f" (or {scopes[1]})" if len(scopes) > 1 else "")
            if scopes
            else f"a scope for /{endpoint}"
        )
        return VismaScopeError(
            f"Visma denied {method} /{endpoint}: the grant lacks {need} ({message})",
            scopes=scopes,
            hint=f"{LOGIN_HINT} to grant {scopes[0] if scopes else 'it'}",
            **kw,
        )
    if code in (3001, 3002):
        thing = "fiscal year" if code == 3001 else "account"
        return VismaError(
            f"{message}: Visma has no such {thing}",
            exit_code=ExitCode.CONFIG,
            **kw,
            hint=f"create the {thing} in Visma eAccounting, or correct the config (see docs/configuration.md)",
        )
    if code == 4000 or status == 409:
        return VismaConflictError(message, **kw)
    if code in (2000, 4001, 4002) or fields or status in (400, 413, 414, 422):
        return VismaValidationError(message, **kw)
    if code == 3000:
        return VismaError(message, **kw, hint="it was removed in Visma meanwhile; the next run looks it up again")
    if status == 404 and code is None:
        return VismaError(
            f"{message}: no such Visma endpoint",
            exit_code=ExitCode.CONFIG,
            **kw,
            hint="check [visma] api_url in the config (it should end in /v2)",
        )
    if status == 403:
        return VismaError(message, exit_code=ExitCode.NOPERM, hint=LOGIN_HINT, **kw)
    ref = f" (ErrorId {env.error_id})" if env.error_id else ""
    return VismaError(
        message, **kw, hint=f"the next scheduled run retries; if it keeps failing, tell Visma support{ref}"
    )


def message_wait(message: str) -> float | None:
    """Seconds named in a quota message ("... Try again in 55 seconds."), if any."""
    match = _TRY_AGAIN.search(message or "")
    if not match:
        return None
    seconds = float(match.group(1))
    return seconds * 60 if match.group(2).lower().startswith("min") else seconds
