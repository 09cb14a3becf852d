"""Mutation check of the method tests: break one loss term (or one trainer duty) at a time; some test must fail.

The mutations are found in the source, not listed by hand, so a method whose loss changes is checked as it is
now. For every registered method the script reads its files (``src/cmhash_hf/methods/<name>/*.py``, and the shared
``methods/*.py`` they import, e.g. ``adversarial.py``) and, in each function, enumerates:

- a sum of loss terms assigned to ``total`` or returned (``return total + w * penalty, parts``, ``return 0.5 *
  (a + b)``; a sum divided by a normaliser counts too): **drop** each term, **flip** its sign, and **zero** its weight when the term
  is ``weight * part`` with a ``*_weight`` field (``config.balance_weight``, ``weights[name]``, ...);
- a ``weights = {...}`` table (totals written as ``sum(weights[name] * value ...)``): **zero** each entry;
- a ``parts = {...}`` table of attached terms: **flip** each entry, and **drop** it when the total sums the table;
- the method's ``on_epoch_end`` and ``update_training_state``: **skip** them (an empty body);

plus the trainer's duties (``src/cmhash_hf/training/trainer.py``): **no per-step freezing** (`only_these_trainable`
becomes a null context) and **no epoch-end update** (the ``on_epoch_end`` call is removed).

Each mutation is written into a temporary copy of ``src/`` (the AST, edited and unparsed), and the method's
tests run against the copy with ``-x``: ``tests/test_<name>.py``, then the method's rows of
``tests/test_method_training.py`` and ``tests/test_models.py`` (``-k <name>``); trainer mutations run
``tests/test_method_training.py``. The first failing test is the one that caught the mutation. The unmutated
selection is run first (it must pass). A mutation no test catches is reported as MISSED and the exit status is 1.

Usage:
    python benchmarks/mutations.py                                # every method and the trainer
    python benchmarks/mutations.py --methods dcmh dth --list      # the mutations only, nothing is run
    python benchmarks/mutations.py --methods dcph --output /tmp/mutations-dcph.json
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
PACKAGE = SRC / "cmhash_hf"
METHODS = PACKAGE / "methods"
TRAINER = PACKAGE / "training" / "trainer.py"
WEIGHT_SUFFIX = "_weight"


@dataclass
class Mutation:
    """One edit of one file: ``apply`` changes the parsed module in place."""

    target: str  # a method name, or "trainer"
    path: Path
    label: str
    apply: Callable[[ast.Module], None] = field(repr=False)

    @property
    def name(self) -> str:
        return f"{self.target}: {self.label}"


# ----------------------------------------------------------------------------------------------- finding terms
def _addends(node: ast.expr) -> list[tuple[int, ast.expr]]:
    """The terms of a chain a ± b ± c as (sign, term); a single non-sum expression is one term."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):
        right_sign = 1 if isinstance(node.op, ast.Add) else -1
        return _addends(node.left) + [(right_sign, node.right)]
    return [(1, node)]


def _rebuild(terms: list[tuple[int, ast.expr]]) -> ast.expr:
    first_sign, expr = terms[0]
    if first_sign < 0:
        expr = ast.UnaryOp(op=ast.USub(), operand=expr)
    for sign, term in terms[1:]:
        expr = ast.BinOp(left=expr, op=ast.Add() if sign > 0 else ast.Sub(), right=term)
    return expr


def _sum_slot(node: ast.stmt) -> tuple[Callable[[ast.stmt], ast.expr], Callable[[ast.stmt, ast.expr], None]] | None:
    """Where a loss sum lives in a statement: ``total = <sum>`` (or ``<sum> / n``), ``return <sum>, parts``."""
    def unwrap(expr: ast.expr) -> tuple[ast.expr, Callable[[ast.expr], ast.expr]]:
        if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Div):  # (a + b) / (N * b)
            return expr.left, lambda new, expr=expr: ast.BinOp(left=new, op=ast.Div(), right=expr.right)
        if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Mult) and isinstance(expr.left, ast.Constant):
            return expr.right, lambda new, expr=expr: ast.BinOp(left=expr.left, op=ast.Mult(), right=new)  # ½(a + b)
        return expr, lambda new: new

    if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name) \
            and node.targets[0].id == "total":
        def get(stmt):
            return unwrap(stmt.value)[0]

        def put(stmt, new):
            stmt.value = unwrap(stmt.value)[1](new)
        return get, put
    if isinstance(node, ast.Return) and isinstance(node.value, ast.BinOp) and unwrap(node.value)[0] is not node.value:
        def get(stmt):  # return ½(a + b), return (a + b) / n
            return unwrap(stmt.value)[0]

        def put(stmt, new):
            stmt.value = unwrap(stmt.value)[1](new)
        return get, put
    if isinstance(node, ast.Return) and isinstance(node.value, ast.Tuple) and node.value.elts \
            and isinstance(node.value.elts[0], ast.BinOp):
        def get(stmt):
            return unwrap(stmt.value.elts[0])[0]

        def put(stmt, new):
            stmt.value.elts[0] = unwrap(stmt.value.elts[0])[1](new)
        return get, put
    return None


def _is_weight(node: ast.expr) -> bool:
    if isinstance(node, ast.Attribute):
        return node.attr.endswith(WEIGHT_SUFFIX)
    if isinstance(node, ast.Name):
        return node.id.endswith(WEIGHT_SUFFIX)
    return isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id == "weights"


def _weight_side(term: ast.expr) -> str | None:
    if isinstance(term, ast.BinOp) and isinstance(term.op, ast.Mult):
        if _is_weight(term.left):
            return "left"
        if _is_weight(term.right):
            return "right"
    return None


def _dict_assign(node: ast.stmt, name: str) -> bool:
    return (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id == name and isinstance(node.value, ast.Dict))


def _is_detached(value: ast.expr) -> bool:
    return isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) and value.func.attr == "detach"


def _functions(tree: ast.Module) -> Iterator[tuple[str, ast.FunctionDef]]:
    """Every function with its qualified name (Class.method), in source order."""
    def visit(node: ast.AST, prefix: str) -> Iterator[tuple[str, ast.FunctionDef]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                yield from visit(child, f"{prefix}{child.name}.")
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield f"{prefix}{child.name}", child
                yield from visit(child, f"{prefix}{child.name}.")
    yield from visit(tree, "")


def _find_function(tree: ast.Module, qualname: str) -> ast.FunctionDef:
    return next(fn for name, fn in _functions(tree) if name == qualname)


def _statements(function: ast.FunctionDef) -> list[ast.stmt]:
    """The function's own statements (nested function bodies excluded), in source order."""
    found: list[ast.stmt] = []

    def visit(body: list[ast.stmt]) -> None:
        for stmt in body:
            found.append(stmt)
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
            for name in ("body", "orelse", "finalbody"):
                visit(getattr(stmt, name, []) or [])
    visit(function.body)
    return found


def _describe(node: ast.expr, width: int = 48) -> str:
    text = " ".join(ast.unparse(node).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def method_mutations(method: str, path: Path, only: set[str] | None = None) -> list[Mutation]:
    """The mutations of one source file of a method (see the module docstring); ``only``: these functions."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[Mutation] = []
    for qualname, function in _functions(tree):
        if only is not None and qualname.split(".")[0] not in only:
            continue
        statements = _statements(function)
        summed_parts = any(_dict_assign(s, "weights") for s in statements)
        for position, stmt in enumerate(statements):
            slot = _sum_slot(stmt)
            if slot is not None:
                get, _ = slot
                terms = _addends(get(stmt))
                if len(terms) >= 2:
                    found += _sum_mutations(method, path, f"{qualname} l.{stmt.lineno}", qualname, position, terms)
            if _dict_assign(stmt, "weights"):
                for key in stmt.value.keys:
                    if isinstance(key, ast.Constant):
                        found.append(Mutation(method, path, f"{qualname}: zero weight {key.value!r}",
                                              _dict_edit(qualname, position, "weights", key.value, "zero")))
            if _dict_assign(stmt, "parts"):
                for key, value in zip(stmt.value.keys, stmt.value.values):
                    if not isinstance(key, ast.Constant) or _is_detached(value):
                        continue
                    found.append(Mutation(method, path, f"{qualname}: flip part {key.value!r}",
                                          _dict_edit(qualname, position, "parts", key.value, "flip")))
                    if summed_parts:
                        found.append(Mutation(method, path, f"{qualname}: drop part {key.value!r}",
                                              _dict_edit(qualname, position, "parts", key.value, "drop")))
        if qualname.endswith((".on_epoch_end", ".update_training_state")):
            found.append(Mutation(method, path, f"skip {qualname}", _empty_body(qualname)))
    return found


def _sum_mutations(method: str, path: Path, where: str, qualname: str, position: int,
                   terms: list[tuple[int, ast.expr]]) -> list[Mutation]:
    found = []
    for index, (_, term) in enumerate(terms):
        text = _describe(term)
        found.append(Mutation(method, path, f"{where}: drop term {text}", _sum_edit(qualname, position, index, "drop")))
        found.append(Mutation(method, path, f"{where}: flip term {text}", _sum_edit(qualname, position, index, "flip")))
        if _weight_side(term):
            found.append(Mutation(method, path, f"{where}: zero weight in {text}",
                                  _sum_edit(qualname, position, index, "zero")))
    return found


def _sum_edit(qualname: str, position: int, index: int, kind: str) -> Callable[[ast.Module], None]:
    def apply(tree: ast.Module) -> None:
        stmt = _statements(_find_function(tree, qualname))[position]
        get, put = _sum_slot(stmt)
        terms = _addends(get(stmt))
        sign, term = terms[index]
        if kind == "drop":
            del terms[index]
        elif kind == "flip":
            terms[index] = (-sign, term)
        else:
            side = _weight_side(term)
            setattr(term, side, ast.Constant(0.0))
        put(stmt, _rebuild(terms))
    return apply


def _dict_edit(qualname: str, position: int, name: str, key: str, kind: str) -> Callable[[ast.Module], None]:
    def apply(tree: ast.Module) -> None:
        stmt = _statements(_find_function(tree, qualname))[position]
        table = stmt.value
        index = next(i for i, k in enumerate(table.keys) if isinstance(k, ast.Constant) and k.value == key)
        if kind == "drop":
            del table.keys[index], table.values[index]
        elif kind == "flip":
            table.values[index] = ast.UnaryOp(op=ast.USub(), operand=table.values[index])
        else:
            table.values[index] = ast.Constant(0.0)
    return apply


def _empty_body(qualname: str) -> Callable[[ast.Module], None]:
    def apply(tree: ast.Module) -> None:
        _find_function(tree, qualname).body = [ast.Pass()]
    return apply


def trainer_mutations() -> list[Mutation]:
    """Remove the trainer's per-step freezing, and its end-of-epoch call of the method's update."""
    def no_freezing(tree: ast.Module) -> None:
        for node in ast.walk(tree):
            if isinstance(node, ast.withitem) and isinstance(node.context_expr, ast.Call) \
                    and getattr(node.context_expr.func, "id", None) == "only_these_trainable":
                node.context_expr = ast.parse("contextlib.nullcontext()", mode="eval").body
                return
        raise LookupError("no `with only_these_trainable(...)` in the trainer")

    def no_epoch_end(tree: ast.Module) -> None:
        for node in ast.walk(tree):
            for name in ("body", "orelse"):
                body = getattr(node, name, None)
                if not isinstance(body, list):
                    continue
                for i, stmt in enumerate(body):
                    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call) \
                            and getattr(stmt.value.func, "attr", None) == "on_epoch_end":
                        body[i] = ast.Pass()
                        return
        raise LookupError("no on_epoch_end call in the trainer")

    return [Mutation("trainer", TRAINER, "no per-step freezing (only_these_trainable)", no_freezing),
            Mutation("trainer", TRAINER, "no epoch-end update (on_epoch_end not called)", no_epoch_end)]


def method_files(method: str) -> list[tuple[Path, set[str] | None]]:
    """The method's own files (all functions), then the shared ones under methods/ that they import (e.g.
    adversarial.py) with the functions the method reaches: those it imports and those these call."""
    own = sorted((METHODS / method).glob("*.py"))
    trees = [ast.parse(path.read_text(encoding="utf-8")) for path in own]
    files: list[tuple[Path, set[str] | None]] = [(path, None) for path in own]
    for shared in sorted(METHODS.glob("*.py")):
        imported = {alias.name for tree in trees for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                    and node.level == 2 and node.module == shared.stem for alias in node.names}
        if not imported:
            continue
        functions = {name: fn for name, fn in _functions(ast.parse(shared.read_text(encoding="utf-8")))}
        reached, grown = set(imported), True
        while grown:
            called = {node.id for name in reached if name in functions for node in ast.walk(functions[name])
                      if isinstance(node, ast.Name)}
            grown = bool((called & set(functions)) - reached)
            reached |= called & set(functions)
        files.append((shared, reached))
    return files


def all_mutations(methods: list[str]) -> list[Mutation]:
    found = []
    for method in methods:
        for path, only in method_files(method):
            found += method_mutations(method, path, only)
    return found


# ----------------------------------------------------------------------------------------------- running tests
def test_selection(target: str) -> list[str]:
    """The tests that should catch a mutation of ``target``, most specific first."""
    if target == "trainer":
        return ["tests/test_method_training.py"]
    own = f"tests/test_{target}.py"
    files = ([own] if (ROOT / own).is_file() else []) + ["tests/test_method_training.py", "tests/test_models.py"]
    return [*files, "-k", target]


#: Third-party modules the tests import, loaded once by this process before it forks one child per test run
#: (importing them took most of each run's time). cmhash_hf itself is never imported here: each child imports it
#: from its own (mutated) copy.
PRELOAD = ("numpy", "torch", "transformers", "accelerate", "datasets", "safetensors", "PIL.Image", "numba", "pytest",
           "transformers.models.vit.modeling_vit", "transformers.models.bert.modeling_bert")


def preload() -> None:
    import importlib

    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:  # an optional one; the children import what they need
            pass
    if "cmhash_hf" in sys.modules:
        raise RuntimeError("cmhash_hf was imported before forking: the children would not see the mutations")


def _child(source_root: Path, selection: list[str], log: Path) -> None:
    """In the forked child: tests against the code under ``source_root``, output to ``log``."""
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.chdir(ROOT)
    sys.path.insert(0, str(source_root))
    os.environ.update({"PYTHONPATH": str(source_root), "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1"})
    import pytest

    code = pytest.main(["-q", "-x", "-p", "no:cacheprovider", "-rfE", "--no-header", *selection])
    module = sys.modules.get("cmhash_hf")
    if module is not None and not str(module.__file__).startswith(str(source_root)):
        print(f"cmhash_hf came from {module.__file__}, not the mutated copy")
        code = 99
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(int(code))


def run_tests(source_root: Path, selection: list[str], timeout: int) -> tuple[str | None, float, str]:
    """Run the selection against the code under ``source_root`` in a forked child; (first failing test or None,
    seconds, the end of the output)."""
    log = source_root.parent / "pytest.log"
    started = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        try:
            _child(source_root, selection, log)
        finally:
            os._exit(98)
    deadline = started + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.perf_counter() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            return "timeout", time.perf_counter() - started, ""
        time.sleep(0.2)
    seconds = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    output = log.read_text(encoding="utf-8", errors="replace")
    if code == 0:
        return None, seconds, output[-2000:]
    failed = re.search(r"^(?:FAILED|ERROR) (\S+)", output, flags=re.MULTILINE)
    return (failed.group(1) if failed else f"exit {code}"), seconds, output[-2000:]


def mutated_copy(mutation: Mutation | None, folder: Path) -> Path:
    """A copy of src/ under ``folder`` with ``mutation`` applied; returns the copy's root (for PYTHONPATH)."""
    root = folder / "src"
    if root.exists():
        shutil.rmtree(root)
    shutil.copytree(PACKAGE, root / "cmhash_hf", ignore=shutil.ignore_patterns("__pycache__"))
    if mutation is not None:
        relative = mutation.path.relative_to(SRC)
        tree = ast.parse(mutation.path.read_text(encoding="utf-8"))
        before = ast.dump(tree)
        mutation.apply(tree)
        if ast.dump(tree) == before:
            raise RuntimeError(f"{mutation.name} changed nothing")
        (root / relative).write_text(ast.unparse(ast.fix_missing_locations(tree)) + "\n", encoding="utf-8")
    return root


def table(results: list[dict]) -> str:
    lines = ["| mutation | caught by | s |", "|---|---|---:|"]
    for row in results:
        caught = row["caught_by"] or "**MISSED**"
        lines.append(f"| {row['mutation']} | {caught} | {row['seconds']:.0f} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    known = sorted(p.name for p in METHODS.iterdir() if (p / "__init__.py").is_file())
    parser.add_argument("--methods", nargs="+", default=known, choices=known, help="methods to mutate (default: all)")
    parser.add_argument("--no-trainer", action="store_true", help="leave out the trainer mutations")
    parser.add_argument("--list", action="store_true", help="list the mutations and stop")
    parser.add_argument("--match", default="", help="only mutations whose name contains this text")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per test run")
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "mutations.json"))
    args = parser.parse_args()

    mutations = all_mutations(args.methods) + ([] if args.no_trainer else trainer_mutations())
    # a method whose loss no longer has a shape this script reads must not pass unchecked
    terms = {x.target for x in mutations if " term " in x.name or " part " in x.name}
    unread = [method for method in args.methods if method not in terms]
    if unread:
        print(f"no loss terms found in the source of {unread}: teach method_mutations their loss's shape")
        return 1
    mutations = [m for m in mutations if args.match in m.name]
    if args.list:
        for mutation in mutations:
            print(mutation.name)
        print(f"{len(mutations)} mutations")
        return 0
    preload()
    results: list[dict] = []
    baseline_failures = []
    with tempfile.TemporaryDirectory(prefix="cmhash-mutations-") as scratch:
        folder = Path(scratch)
        for target in dict.fromkeys(m.target for m in mutations):
            failing, seconds, tail = run_tests(mutated_copy(None, folder), test_selection(target), args.timeout)
            print(f"baseline {target}: {'FAILS ' + failing if failing else 'passes'} ({seconds:.0f} s)", flush=True)
            if failing:
                baseline_failures.append(target)
                print(tail)
        for number, mutation in enumerate(mutations, start=1):
            if mutation.target in baseline_failures:
                continue
            caught, seconds, _ = run_tests(mutated_copy(mutation, folder), test_selection(mutation.target),
                                           args.timeout)
            results.append({"target": mutation.target, "mutation": mutation.name, "file": str(mutation.path.relative_to(ROOT)),
                            "caught_by": caught, "seconds": round(seconds, 1)})
            print(f"[{number}/{len(mutations)}] {mutation.name}: {caught or 'MISSED'} ({seconds:.0f} s)", flush=True)
    report = {"results": results, "baseline_failures": baseline_failures,
              "missed": [r["mutation"] for r in results if r["caught_by"] is None]}
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print()
    print(table(results))
    print(f"\n{len(results) - len(report['missed'])}/{len(results)} mutations caught; JSON: {args.output}")
    return 1 if report["missed"] or baseline_failures else 0


if __name__ == "__main__":
    sys.exit(main())
