"""Imports flow one way: data -> processor -> model -> retrieval / metrics -> hub & spaces (checked on the source)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "cmhash_hf"
#: Layers below the Hub: none of their modules may import cmhash_hf.hub, at module level or inside a function.
BELOW_HUB = ["modeling_utils.py", "auto.py", "batch_encoding.py", "encoding.py", "evaluation.py", "runs.py",
             "processing.py", "indexing.py", "search.py", "methods", "training", "retrieval", "metrics", "data"]


def imports(path: Path) -> list[tuple[str, bool]]:
    """(module imported, whether the import sits inside a function) for each import in a file, resolved to
    ``cmhash_hf....`` for relative imports."""
    package = ".".join(("cmhash_hf", *path.relative_to(SRC).with_suffix("").parts[:-1]))
    found = []
    tree = ast.parse(path.read_text(encoding="utf-8"))
    functions = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    inner = {id(node) for fn in functions for node in ast.walk(fn)}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(part for part in (base, node.module or "") if part)
            names = [f"{module}.{alias.name}" for alias in node.names] if node.module is None or node.level else [module]
            found += [(name, id(node) in inner) for name in names]
        elif isinstance(node, ast.Import):
            found += [(alias.name, id(node) in inner) for alias in node.names]
    return found


def files(entry: str) -> list[Path]:
    path = SRC / entry
    return sorted(path.rglob("*.py")) if path.is_dir() else [path]


@pytest.mark.parametrize("entry", BELOW_HUB)
def test_layers_below_the_hub_never_import_it(entry):
    for path in files(entry):
        offending = [name for name, _ in imports(path) if name == "cmhash_hf.hub" or name.startswith("cmhash_hf.hub.")]
        assert not offending, f"{path.relative_to(SRC)} imports {offending}"


def test_no_library_module_hides_an_import_of_its_own_package_inside_a_function():
    """Only the command line defers imports (to start fast); elsewhere a deferred import dodges a cycle."""
    for path in sorted(SRC.rglob("*.py")):
        if path.name == "cli.py":
            continue
        hidden = [name for name, inside in imports(path) if inside and name.startswith("cmhash_hf")]
        assert not hidden, f"{path.relative_to(SRC)} imports {hidden} inside a function"


def test_the_checker_sees_relative_imports():
    assert ("cmhash_hf.runs.load_run", False) in imports(SRC / "indexing.py")
    assert ("cmhash_hf.file_utils.atomic_write_bytes", False) in imports(SRC / "retrieval" / "index_format.py")
