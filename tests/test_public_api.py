"""Plugins use ftcore's public API only: every ``.py`` file of the packages in plugins/*/src and examples/plugin/
is read (AST, imports inside functions included) and may neither touch a ``_private`` ftcore name nor import a
name that docs/api.md does not list under the module it is imported from."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "api.md"


def documented() -> dict[str, set[str]]:
    """docs/api.md: module -> the names listed under its ``## `module``` heading (one ``- `name``` per line)."""
    out: dict[str, set[str]] = {}
    module = None
    for line in DOC.read_text(encoding="utf-8").splitlines():
        heading = re.match(r"^## `([\w.]+)`\s*$", line)
        if heading:
            module = heading.group(1)
            out[module] = set()
        elif module and (item := re.match(r"^- `(\w+)`", line)):
            out[module].add(item.group(1))
    return out


def plugin_files() -> list[Path]:
    files = [p for p in ROOT.glob("plugins/*/src/**/*.py")]
    files += [p for p in ROOT.glob("examples/plugin/*/**/*.py")]
    files += [p for p in ROOT.glob("tests/plugins_kit/*/src/**/*.py")]  # written from the docs only (issue 16)
    return sorted(files)


def _private(part: str) -> bool:
    return part.startswith("_") and not (part.startswith("__") and part.endswith("__"))


def _dotted(node: ast.AST) -> list[str] | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    return [node.id, *reversed(parts)] if isinstance(node, ast.Name) else None


def _is_ftcore(module: str) -> bool:
    return module == "ftcore" or module.startswith("ftcore.")


def uses(source: str, docs: dict[str, set[str]]) -> list[tuple[str, str | None, int]]:
    """``(module, name, line)`` for every use of an ftcore name in ``source``: ``from M import name``,
    ``import M`` (name None), and attributes of a name bound to an ftcore module (``ftcore.ModelSpec``,
    ``loading.ModelLoader`` after ``from ftcore.models import loading``)."""
    tree = ast.parse(source)
    found: list[tuple[str, str | None, int]] = []
    bound: dict[str, str] = {}  # local name -> the ftcore module it names
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and _is_ftcore(node.module):
            for alias in node.names:
                found.append((node.module, alias.name, node.lineno))
                if f"{node.module}.{alias.name}" in docs:
                    bound[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if _is_ftcore(alias.name):
                    found.append((alias.name, None, node.lineno))
                    bound[alias.asname or "ftcore"] = alias.name if alias.asname else "ftcore"
    inner = {id(child.value) for child in ast.walk(tree) if isinstance(child, ast.Attribute)}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute) or id(node) in inner:
            continue  # only whole chains: ftcore.models.loading.X, not its ftcore.models part again
        chain = _dotted(node)
        if chain is None or chain[0] not in bound:
            continue
        path = [*bound[chain[0]].split("."), *chain[1:]]
        # the module is the longest prefix with a section on the page (ftcore.templates.Template), else all but last
        cut = next((c for c in range(len(path) - 1, 0, -1) if ".".join(path[:c]) in docs), len(path) - 1)
        found.append((".".join(path[:cut]), path[cut], node.lineno))
    return found


def problems_of(source: str, where: str, docs: dict[str, set[str]]) -> list[str]:
    out = []
    for module, name, line in uses(source, docs):
        text = f"{module}.{name}" if name else module
        if any(_private(part) for part in text.split(".")):
            out.append(f"{where}:{line}: {text} is private (starts with _)")
        elif name is None or text in docs:  # a module: it needs a section of its own
            if text not in docs:
                out.append(f"{where}:{line}: module {text} is not public (docs/api.md has no section for it)")
        elif module not in docs:
            out.append(f"{where}:{line}: module {module} is not public (docs/api.md has no section for it)")
        elif name not in docs[module]:
            out.append(f"{where}:{line}: {text} is not documented in docs/api.md")
    return out


def test_the_page_lists_real_names() -> None:
    docs = documented()
    assert {"ftcore", "ftcore.models.loading", "ftcore.templates", "ftcore.testing"} <= set(docs)
    for module, names in docs.items():
        mod = importlib.import_module(module)
        for name in names:
            assert hasattr(mod, name), f"docs/api.md lists {module}.{name}, which does not exist"
            assert not _private(name)


def test_plugins_and_examples_exist() -> None:
    files = plugin_files()
    assert any("ftcore_qwen" in str(p) for p in files) and any("ftcore_tigerbot" in str(p) for p in files)


@pytest.mark.parametrize("path", plugin_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_plugin_uses_only_documented_public_names(path: Path) -> None:
    where = str(path.relative_to(ROOT))
    assert problems_of(path.read_text(encoding="utf-8"), where, documented()) == []


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("from ftcore.models.loading import _quantization_kwargs", "is private"),
        ("from ftcore.data import pipeline\n", "module ftcore.data is not public"),
        ("from ftcore.models import loading\nloading._quantization_kwargs", "loading._quantization_kwargs is private"),
        ("import ftcore\nftcore._LAZY", "ftcore._LAZY is private"),
        ("import ftcore\nftcore.models.loading._attn_kwargs(None)", "is private"),
        ("from ftcore.training.pipeline import train", "module ftcore.training.pipeline is not public"),
        ("def f():\n    from ftcore.config import ModelConfig", "module ftcore.config is not public"),
        ("from ftcore import ModelSpec, NotAName", "ftcore.NotAName is not documented"),
    ],
)
def test_the_check_catches(source: str, problem: str) -> None:
    found = problems_of(source, "x.py", documented())
    assert any(problem in p for p in found), found


def test_the_check_accepts_public_names() -> None:
    source = (
        "import ftcore\nfrom ftcore import ModelLoader, ModelSpec\nfrom ftcore.templates import Template\n"
        "@ftcore.hookimpl\ndef f():\n    from ftcore.testing import build_tiny_model_dir\n"
        "    return ftcore.ModelSpec, ftcore.templates.get_template, ftcore.__version__\n"
    )
    assert problems_of(source, "x.py", documented()) == []
