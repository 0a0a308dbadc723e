"""Every module docs/architecture.md names exists: backticked `shopvisma/...py` paths,
dotted `shopvisma.x.y` names, and the files and folders of its tree diagram(s).

Tree lines are read by indentation: a `name/` token opens a folder for the lines indented
under it (and for the rest of its own line); `x.py` tokens resolve inside the innermost open
folder, relative to shopvisma/ (a top-level `shopvisma/` is the package itself; `tests/`,
`bench/`, `docs/` are the repository's). Box-drawing characters are ignored, and so is
anything after a `←` or inside `(←…)` (where a module came from is history, not a claim that it exists).
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest

from support.paths import ROOT

DOC = ROOT / "docs" / "architecture.md"
PACKAGE = ROOT / "shopvisma"
REPO_DIRS = ("tests", "bench", "docs", ".ci")

_FENCE = re.compile(r"^(```|~~~)[^\n]*\n(.*?)^\1[ \t]*$", re.S | re.M)
_BACKTICKED = re.compile(r"`([^`\n]+)`")
_PATH = re.compile(r"(?<![\w/.-])shopvisma/[\w/]*\w\.py\b")
_DOTTED = re.compile(r"(?<![\w/.-])shopvisma(?:\.[A-Za-z_]\w*)+")
_TOKEN = re.compile(r"(?<![\w/.-])((?:[\w.-]+/)*[\w-]+(?:\.py|/))(?![\w/])")
_ARROWED = re.compile(r"\(←[^)]*\)")  # `server.py(←shopify.py)`
_TREE_CHARS = re.compile(r"[│├└─┬┼┐┘┌┤|`+\\]")
_NOT_MODULES = {"log", "toml", "json", "jsonl", "md", "txt", "lock", "yaml", "yml", "service", "timer", "cfg", "gz"}


def _text() -> str:
    if not DOC.exists():
        pytest.skip("docs/architecture.md not present")
    return DOC.read_text(encoding="utf-8")


def _prose(text: str) -> str:
    return _FENCE.sub("", text)


def named_paths(text: str) -> set[str]:
    """`shopvisma/...py` inside backticks, anywhere in the prose."""
    return {m.group(0) for span in _BACKTICKED.findall(_prose(text)) for m in _PATH.finditer(span)}


def dotted_names(text: str) -> set[str]:
    """`shopvisma.x.y` names anywhere (prose and code), minus file names such as shopvisma.log."""
    names = set()
    for m in _DOTTED.finditer(text):
        name = m.group(0).split(":")[0]
        if name.rsplit(".", 1)[-1] not in _NOT_MODULES:
            names.add(name)
    return names


def tree_entries(text: str) -> set[str]:
    """Repository-relative paths of the files and folders in the tree diagram(s)."""
    entries: set[str] = set()
    for block in _FENCE.finditer(text):
        body = block.group(2)
        if len(re.findall(r"\w\.py\b", body)) < 2:
            continue  # not a tree of modules (a shell example, a TOML snippet)
        stack: list[tuple[int, str]] = []  # (column, repo-relative folder)
        for raw in body.splitlines():
            line = _TREE_CHARS.sub(" ", _ARROWED.sub(" ", raw).split("←")[0])
            tokens = list(_TOKEN.finditer(line))
            if not line.strip():
                continue
            column = len(line) - len(line.lstrip())
            while stack and stack[-1][0] >= column:
                stack.pop()
            first = line.strip().split()[0] if line.strip() else ""
            here = stack[-1][1] if stack else "shopvisma"
            for i, tok in enumerate(tokens):
                name = tok.group(1)
                if i == 0 and tok.start() == column and name == first and name.endswith("/"):
                    top = name.rstrip("/")
                    if not stack and top == "shopvisma":
                        folder = "shopvisma"
                    elif not stack and top.split("/")[0] in REPO_DIRS:
                        folder = top
                    else:
                        folder = f"{here}/{top}"
                    entries.add(folder + "/")
                    stack.append((column, folder))
                    here = folder
                elif name.endswith(".py"):  # `a/b.py` further along a line: from the tree's root
                    root = stack[0][1].split("/")[0] if stack and "/" in name else here
                    entries.add(f"{root}/{name}")
    return entries


@cache
def _top_level_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                names |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return names


def _module_file(parts: list[str]) -> Path | None:
    base = ROOT.joinpath(*parts)
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    return None


def dotted_problem(name: str) -> str | None:
    """None if `name` is a module, or a module and then a name defined at its top level."""
    parts = name.split(".")
    for cut in range(len(parts), 1, -1):
        found = _module_file(parts[:cut])
        if found is None:
            continue
        if cut == len(parts) or parts[cut] in _top_level_names(found):
            return None
        return f"{'.'.join(parts[:cut])} has no top-level {parts[cut]!r}"
    return "no such module"


def test_the_parser_reads_a_tree() -> None:
    doc = "\n".join(
        [
            "```",
            "shopvisma/",
            "  cli.py        Typer wiring;  console.py: the Console",
            "  config/       (__init__ empty)",
            "    settings.py   ← config.py",
            "  errors.py",
            "  sandbox/",
            "    shopify/  server.py(←shopify.py) graphql.py",
            "tests/",
            "  conftest.py",
            "  faults/       test_faults.py (deduplicate with e2e/test_sync.py)",
            "```",
            "and `shopvisma/state/files.py`, shopvisma.engine.sync_pass.run_pass, shopvisma.log",
        ]
    )
    assert tree_entries(doc) == {
        "shopvisma/",
        "shopvisma/cli.py",
        "shopvisma/console.py",
        "shopvisma/config/",
        "shopvisma/config/settings.py",
        "shopvisma/errors.py",
        "shopvisma/sandbox/",
        "shopvisma/sandbox/shopify/",
        "shopvisma/sandbox/shopify/server.py",
        "shopvisma/sandbox/shopify/graphql.py",
        "tests/",
        "tests/conftest.py",
        "tests/faults/",
        "tests/faults/test_faults.py",
        "tests/e2e/test_sync.py",
    }
    assert named_paths(doc) == {"shopvisma/state/files.py"}
    assert dotted_names(doc) == {"shopvisma.engine.sync_pass.run_pass"}
    assert tree_entries("```\ncli.py   wiring\n  └─ runner.py   around a pass\n```") == {
        "shopvisma/cli.py",
        "shopvisma/runner.py",
    }  # call nesting is not folder nesting


def test_every_module_in_the_architecture_doc_exists() -> None:
    text = _text()
    entries = tree_entries(text)
    assert entries, "no tree diagram of modules found in docs/architecture.md"
    missing = sorted(p for p in entries | named_paths(text) if not (ROOT / p).exists())
    wrong = sorted(f"{n}: {why}" for n in dotted_names(text) if (why := dotted_problem(n)))
    assert not missing and not wrong, "docs/architecture.md names modules that do not exist:\n  " + "\n  ".join(
        missing + wrong
    )
