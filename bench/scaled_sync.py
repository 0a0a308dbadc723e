"""`shopvisma sync --json` with the client's Visma pacing scaled like the sandbox's limit.

Why this exists: VismaClient paces itself at RATE_LIMIT (590/min per endpoint) so it never
runs into 429s. When the benchmark scales the sandbox's limit by k to fit a 10,000-order
backlog into minutes, a client still pacing at 590/min would measure its own pacing,
not the product. This wrapper changes only that default (x k, from
SHOPVISMA_BENCH_VISMA_SCALE) and then runs the real CLI entry point unchanged. Shopify
needs no such help: the client sizes its waits from the throttleStatus the sandbox
reports. Drop this file once the pace is configurable.
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    scale = float(os.environ.get("SHOPVISMA_BENCH_VISMA_SCALE") or 1)
    from shopvisma import visma

    defaults = getattr(visma.VismaClient.__init__, "__kwdefaults__", None) or {}
    if scale != 1 and "rate_limit" in defaults:
        defaults["rate_limit"] = int(defaults["rate_limit"] * scale)
    from shopvisma.cli import main as cli_main

    sys.argv = ["shopvisma", "sync", "--json"]
    cli_main()


if __name__ == "__main__":
    main()
