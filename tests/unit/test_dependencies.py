"""Every package the code imports is installed by pyproject.toml on a fresh machine.

The library, its scripts and the workflow need only `dependencies`; the tests, tools and
benchmarks may also use the `test` extra (which pulls in `eval` and `tensorboard`).
Each imported distribution must be one of those requirements or a requirement of one
(read from the installed packages' metadata, markers and extras honoured).
"""

from __future__ import annotations

import ast
import importlib.metadata as md
import re
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
NAME = canonicalize_name(PYPROJECT["project"]["name"])
RUNTIME_DIRS = ["src", "scripts"]
TEST_DIRS = ["tests", "tools", "benchmarks"]
SCRIPT_DIRS = ["scripts", "tools", "benchmarks"]


def _imports_of(path: Path) -> set[str]:
    text = path.read_text("utf-8")
    if path.suffix == ".py":
        names = set()
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
        return names
    return set(re.findall(r"^\s*(?:from|import) (\w+)", text, re.M))  # Snakefile, *.smk


def imported_modules(dirs: list[str], extra_files: tuple[str, ...] = ()) -> dict[str, Path]:
    """Third-party top-level modules imported under `dirs` -> one file importing each."""
    files = [p for d in dirs for p in (ROOT / d).rglob("*.py")]
    files += [ROOT / f for f in extra_files]
    # Scripts run with their own folder on sys.path and may import their siblings.
    local = {"tokattn", "tests"} | {p.stem for d in SCRIPT_DIRS for p in (ROOT / d).glob("*.py")}
    found: dict[str, Path] = {}
    for path in files:
        for name in _imports_of(path):
            if name not in sys.stdlib_module_names and name not in local:
                found.setdefault(name, path)
    return found


def _own_requirements(extras: list[str]) -> list[Requirement]:
    """pyproject's dependencies plus `extras`, with self-references (tokattn[eval]) expanded."""
    reqs, todo, done = [], list(extras), set()
    reqs += [Requirement(r) for r in PYPROJECT["project"]["dependencies"]]
    while todo:
        extra = todo.pop()
        if extra in done:
            continue
        done.add(extra)
        for text in PYPROJECT["project"]["optional-dependencies"][extra]:
            req = Requirement(text)
            if canonicalize_name(req.name) == NAME:
                todo += sorted(req.extras)
            else:
                reqs.append(req)
    return reqs


def requirement_closure(reqs: list[Requirement]) -> set[str]:
    """Canonical names of `reqs` and, recursively, of what their installed metadata requires."""
    seen: set[tuple[str, frozenset]] = set()
    names: set[str] = set()
    todo = [(canonicalize_name(r.name), frozenset(r.extras)) for r in reqs]
    while todo:
        name, extras = todo.pop()
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        names.add(name)
        try:
            requires = md.distribution(name).requires or []
        except md.PackageNotFoundError:
            continue  # not installed: its imports fail below with the module's name
        for text in requires:
            req = Requirement(text)
            if req.marker and not any(
                req.marker.evaluate({"extra": extra}) for extra in (extras or {""})
            ):
                continue
            todo.append((canonicalize_name(req.name), frozenset(req.extras)))
    return names


def _uncovered(modules: dict[str, Path], allowed: set[str]) -> list[str]:
    dists = md.packages_distributions()
    problems = []
    for module, path in sorted(modules.items()):
        owners = {canonicalize_name(d) for d in dists.get(module, [])}
        if not owners:
            problems.append(f"{module} (imported by {path.relative_to(ROOT)}): not installed")
        elif not owners & allowed:
            problems.append(
                f"{module} (imported by {path.relative_to(ROOT)}): from {sorted(owners)}, "
                "which pyproject.toml does not install"
            )
    return problems


def test_runtime_imports_come_from_the_dependencies():
    smk = ("Snakefile", *(p.relative_to(ROOT).as_posix() for p in (ROOT / "rules").glob("*.smk")))
    modules = imported_modules(RUNTIME_DIRS, smk)
    assert {"torch", "transformers", "tokenizers", "evaluate", "h5py", "snakemake"} <= set(modules)
    allowed = requirement_closure(_own_requirements([]))
    assert not _uncovered(modules, allowed)


def test_test_imports_come_from_the_test_extra():
    modules = imported_modules(TEST_DIRS)
    assert {"pytest", "selenium", "lm_eval"} <= set(modules)
    reqs = _own_requirements(["test"])
    names = {canonicalize_name(r.name) for r in reqs}
    # lm-eval's `--model hf` imports accelerate lazily: the extra must name it.
    assert {"lm-eval", "accelerate", "tensorboard", "tokenization-scorer"} <= names
    assert not _uncovered(modules, requirement_closure(reqs))


def test_an_unlisted_import_is_reported(tmp_path):
    modules = {"selenium": ROOT / "tests/browser/conftest.py"}
    problems = _uncovered(modules, requirement_closure(_own_requirements([])))
    assert problems and "selenium" in problems[0] and "does not install" in problems[0]
