"""`shopvisma init`: a commented starter config, so the first run starts from the keys
that matter instead of an empty file. It never overwrites a config (that would lose
the user's mapping), and it needs no valid config itself."""

from __future__ import annotations

from shopvisma.console import Console


def run(console: Console) -> int:
    from shopvisma.config.settings import config_path, write_starter_config

    path = config_path(console.config)
    write_starter_config(path)
    console.say(f"wrote {path}; fill in [shopify] shop, then run `shopvisma login shopify` and `shopvisma login visma`")
    return 0
