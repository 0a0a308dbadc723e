"""`shopvisma status`: what an operator needs, from local files only.

No network and no lock: it must answer while a pass runs, and when the network
or the credentials are the problem.
"""

from __future__ import annotations

from typing import Any

from shopvisma import render
from shopvisma.config.settings import Settings
from shopvisma.console import Console
from shopvisma.errors import ShopvismaError
from shopvisma.state.checkpoint import load_checkpoint
from shopvisma.state.files import state_paths
from shopvisma.state.lock import lock_state
from shopvisma.state.runlog import last_runs
from shopvisma.timefmt import iso_z


def run(settings: Settings, console: Console) -> int:
    render.show_status(console, collect_status(settings))
    return 0


def collect_status(settings: Settings) -> dict[str, Any]:
    """The `--json` document of `status` (schema 1); an unreadable tokens.json is reported
    in it rather than raised, since status is how one finds out what is wrong."""
    from shopvisma.state.secrets import TokenFile

    paths = state_paths(settings.state_dir)
    checkpoint = load_checkpoint(paths.checkpoint)
    tokens = {}
    try:
        tokens = TokenFile(paths.tokens).load()
    except ShopvismaError as exc:
        tokens = {"error": exc.message}
    visma_tok = tokens.get("visma") or {}
    grant: dict[str, Any] = {
        "present": bool(visma_tok.get("refresh_token")),
        "refresh_token_rotated_at": visma_tok.get("rotated_at"),
        "access_token_expires_at": (iso_z(float(visma_tok["expires_at"])) if visma_tok.get("expires_at") else None),
    }
    if "error" in tokens:
        grant["error"] = tokens["error"]
    return {
        "schema": 1,
        "config": str(settings.path),
        "state_dir": str(settings.state_dir),
        "workflow": settings.visma.workflow,
        "last_run": checkpoint.last_run,
        "recent_runs": last_runs(settings.state_dir, 5),
        "bookmark": checkpoint.bookmark,
        "pending": [{"order": name, **info} for name, info in sorted(checkpoint.pending.items())],
        "in_doubt": [{"order": name, **info} for name, info in sorted(checkpoint.intents.items())],
        "attention": [{"order": name, **info} for name, info in sorted(checkpoint.edited.items())],
        "recent_transfers": len(checkpoint.recent),
        "visma_grant": grant,
        "lock": lock_state(settings.state_dir),
        **({"payouts": _payouts(checkpoint.payouts or {})} if settings.payouts is not None else {}),
        **({"payments": _payments(checkpoint)} if settings.payments is not None else {}),
        **({"write_back": _write_back(checkpoint)} if settings.shopify.write_back or checkpoint.write_back else {}),
    }


def _write_back(cp: Any) -> dict[str, Any]:
    """[shopify] write_back: the orders whose Shopify tag/metafield is still to write, oldest first."""
    queued = sorted(((info.get("first_seen") or "", name, info) for name, info in (cp.write_back or {}).items()))
    return {
        "queued": len(queued),
        "oldest": [
            {"order": name, **{k: info.get(k) for k in ("tag", "error", "attempts", "first_seen", "last_tried")}}
            for _, name, info in queued[:5]
        ],
    }


def _payments(cp: Any) -> dict[str, Any]:
    """[payments]: invoices booked (recent transfers), payments the last run registered, and the
    orders whose payment is pending with the reason and the key to set."""
    counts = (cp.last_run or {}).get("counts") or {}
    return {
        "invoices_recent": sum(1 for d in cp.recent.values() if d.get("kind") == "invoice"),
        "paid_recent": sum(1 for d in cp.recent.values() if d.get("paid") is not None),
        "last_run_booked": counts.get("booked", 0),
        "last_run_payments": counts.get("payments", 0),
        "pending": [{"order": name, **info} for name, info in sorted(cp.pending.items()) if info.get("payment")],
    }


def _payouts(st: dict[str, Any]) -> dict[str, Any]:
    """[payouts]: the last payout booked, those waiting for Shopify (not PAID yet), those pending
    with their reason, and any POST whose answer a crash lost (the next sync looks it up first)."""
    pending = [{"payout": k, **v} for k, v in sorted(st.get("pending", {}).items())]
    return {
        "last_booked": st.get("last"),
        "bookmark": st.get("bookmark"),
        "pending": [p for p in pending if not p.get("waiting")],
        "waiting": [p for p in pending if p.get("waiting")],
        "in_doubt": [{"payout": k, **v} for k, v in sorted(st.get("intents", {}).items())],
        "booked_recently": len(st.get("done", {})),
    }
