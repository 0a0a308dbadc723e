"""An idle cron pass must stay cheap: `shopvisma sync` with a bookmark and nothing new in
the shop loads only what an idle pass needs (bench/results.md measures the cost; this
pins the lazy imports that keep it low, so they cannot decay silently).

The CLI runs in a fresh interpreter through a tiny bootstrap that runs `python -m
shopvisma` (shopvisma/__main__.py → shopvisma.cli:main) via runpy and, at exit, writes
sorted(sys.modules) to a file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from support.sandboxes import paid

BOOTSTRAP = textwrap.dedent("""\
    import atexit, runpy, sys

    out = sys.argv.pop(1)

    def _dump():
        with open(out, "w", encoding="utf-8") as f:
            f.write("\\n".join(sorted(sys.modules)))

    atexit.register(_dump)
    sys.argv[0] = "shopvisma"
    runpy.run_module("shopvisma", run_name="__main__", alter_sys=True)
""")

# Each rule: module names an idle pass must not import, exactly or as a package (the name
# and everything under it), or by prefix.
RULES: dict[str, dict[str, tuple[str, ...]]] = {
    # The mapping code; mapping.settings (the [mapping] table's dataclass) is config, loaded by design.
    "shopvisma.mapping*": {
        "exact": (
            "shopvisma.mapping.plan",
            "shopvisma.mapping.rows",
            "shopvisma.mapping.bodies",
            "shopvisma.mapping.company",
        ),
        "prefix": ("shopvisma.mapping_",),
    },
    "shopvisma.engine.transfer": {"exact": ("shopvisma.engine.transfer",)},
    "difflib": {"exact": ("difflib",)},
    "ipaddress": {"exact": ("ipaddress",)},
    "logging.handlers": {"exact": ("logging.handlers",)},
    "rich": {"package": ("rich",)},
    "shopvisma.sandbox": {"package": ("shopvisma.sandbox",)},
}
if os.name == "posix":  # the run lock is a kernel flock there (state/lock.py); filelock only elsewhere
    RULES["filelock"] = {"package": ("filelock",)}

# difflib (typer's vendored click) and ipaddress (urllib.parse on 3.11) are in the floor the
# budget is measured against (`import typer, requests`): an idle pass may load them only because
# that floor does. Nothing else is known to break a rule today.
FLOOR_ONLY = ("difflib", "ipaddress")
KNOWN_TODAY: dict[str, str] = {}


@pytest.fixture(scope="module")
def floor_modules() -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", "import sys, typer, requests; print(' '.join(sys.modules))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return set(out.split())


def broken(rule: dict[str, tuple[str, ...]], modules: list[str]) -> list[str]:
    return sorted(
        m
        for m in modules
        if m in rule.get("exact", ())
        or any(m == p or m.startswith(p + ".") for p in rule.get("package", ()))
        or m.startswith(rule.get("prefix", ("\0",)))
    )


def forbidden(modules: list[str]) -> list[str]:
    return sorted({m for rule in RULES.values() for m in broken(rule, modules)})


def test_the_rule_itself() -> None:
    assert forbidden(
        [
            "shopvisma.mapping",
            "shopvisma.mapping.settings",
            "shopvisma.mapping.plan",
            "shopvisma.mapping_rows",
            "rich.console",
            "shopvisma.sandbox.harness",
            "difflib",
            "richer",
            "shopvisma.sandboxes",
            "logging",
        ]
    ) == ["difflib", "rich.console", "shopvisma.mapping.plan", "shopvisma.mapping_rows", "shopvisma.sandbox.harness"]


@pytest.fixture(scope="module")
def idle_modules(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """sorted(sys.modules) at the exit of an idle `shopvisma sync` run in a subprocess."""
    from shopvisma.sandbox.harness import sandbox_env, start_sandboxes, write_sandbox_config

    tmp = tmp_path_factory.mktemp("import-budget")
    shop, visma = start_sandboxes(paid(2, seed=1))
    try:
        config = write_sandbox_config(tmp / "config.toml", shop, visma)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("SHOPVISMA_")},
            **sandbox_env(shop, visma, tmp / "state", config),
            "XDG_CONFIG_HOME": str(tmp / "xdg-config"),
            "XDG_STATE_HOME": str(tmp / "xdg-state"),
            "XDG_DATA_HOME": str(tmp / "xdg-data"),
            "NO_COLOR": "1",
        }
        bootstrap = tmp / "bootstrap.py"
        bootstrap.write_text(BOOTSTRAP, encoding="utf-8")

        def sync(dump: Path) -> dict:
            proc = subprocess.run(
                [sys.executable, str(bootstrap), str(dump), "sync", "--json"],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
                stdin=subprocess.DEVNULL,
            )
            assert proc.returncode == 0, proc.stderr
            return json.loads(proc.stdout)

        first = sync(tmp / "first.txt")  # sets the bookmark
        assert first["counts"].get("created") == 2, first
        idle = sync(tmp / "modules.txt")
        assert not {k: v for k, v in idle["counts"].items() if v}, idle  # an idle pass: nothing to do
        assert idle["requests"]["visma_writes"] == 0
    finally:
        shop.stop()
        visma.stop()
    modules = (tmp / "modules.txt").read_text(encoding="utf-8").split("\n")
    ours = [m for m in modules if m == "shopvisma" or m.startswith("shopvisma.")]
    print(f"\nidle sync: {len(modules)} modules loaded, {len(ours)} of them shopvisma: {' '.join(ours)}")
    assert "shopvisma.cli" in modules and "shopvisma.engine.sync_pass" in modules  # the dump is of a real pass
    return modules


@pytest.mark.slow
@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=KNOWN_TODAY[n])) if n in KNOWN_TODAY else n
        for n in RULES
    ],
)
def test_an_idle_sync_does_not_import(idle_modules: list[str], floor_modules: set[str], name: str) -> None:
    found = broken(RULES[name], idle_modules)
    if name in FLOOR_ONLY:
        found = [m for m in found if m not in floor_modules]
    assert found == []
