"""Docs that cannot rot: every `shopvisma …` line in a ```sh block of README.md and
docs/*.md is run against the sandbox. A renamed command or option (exit 2) or a
crash (exit 70) fails the test; a documented example must also not print a traceback."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys

import pytest

from support.paths import ROOT

FENCE = re.compile(r"```(?:sh|bash|console|shell)\n(.*?)```", re.S)
# Interactive or foreground examples: checked with --help instead of run.
NOT_RUN = ("shopvisma login visma", "shopvisma sandbox", "shopvisma demo")


def documented_examples() -> list[tuple[str, str]]:
    found: dict[str, str] = {}
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for block in FENCE.findall(path.read_text(encoding="utf-8")):
            for line in block.splitlines():
                line = line.split(" #", 1)[0].strip()
                if line.startswith("shopvisma "):
                    found.setdefault(line, path.name)
    return sorted((line, where) for line, where in found.items())


EXAMPLES = documented_examples()


def test_there_are_examples() -> None:
    assert len(EXAMPLES) >= 15


@pytest.mark.parametrize(("line", "where"), EXAMPLES, ids=[e[0] for e in EXAMPLES])
def test_documented_example_runs(world, line: str, where: str) -> None:
    from shopvisma.sandbox.seed.orders import demo_orders

    for order in demo_orders():
        world.shop.add_order(order)
    argv = shlex.split(line)[1:]
    if line.startswith(NOT_RUN) or (argv[:2] == ["login", "shopify"] and len(argv) == 2):
        argv = [*argv, "--help"]
    if argv[:1] == ["init"]:
        argv = ["init", "--config", str(world.tmp / "new-config.toml")]
    if "--client-id" in argv and "CLIENT_ID" in argv:
        argv[argv.index("CLIENT_ID")] = world.shop.client_id
        if "CLIENT_SECRET" in argv:
            argv[argv.index("CLIENT_SECRET")] = world.shop.client_secret
    res = subprocess.run(
        [sys.executable, "-m", "shopvisma", *argv],
        capture_output=True,
        text=True,
        env=world.env | {"PATH": "/usr/bin:/bin"},
        input="",
        timeout=120,
    )
    assert res.returncode not in (2, 70), f"{where}: `{line}` exited {res.returncode}\n{res.stderr}"
    assert "Traceback" not in res.stderr, f"{where}: `{line}` printed a traceback"
