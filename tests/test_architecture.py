"""The layout shows the architecture, and these checks keep it so: the import-linter contracts
(layers, no cycles), no private name imported across subpackages, no module over 600 lines, no
law or likelihood name tested outside its registry, and ARCHITECTURE.md lists every module."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

import bayes_scaling as bs
from bayes_scaling import noise
from bayes_scaling.laws.curves import available_curve_laws

PACKAGE = Path(bs.__file__).resolve().parent
ROOT = PACKAGE.parent
MAX_LINES = 600
#: The package's base modules every layer may use (not part of any subpackage).
BASE_PRIVATE = {"bayes_scaling._constants", "bayes_scaling._threads"}


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _imports(name: str, path: Path):
    """(imported module, imported name or None, line) for every import in a module, relative
    imports resolved."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, None, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for alias in node.names:
                yield module, alias.name, node.lineno


def _subpackage(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else parts[0]


def test_import_linter_contracts_hold():
    exe = Path(sys.executable).parent / "lint-imports"
    if not exe.exists():
        pytest.skip("import-linter is not installed (pip install -e '.[dev]')")
    done = subprocess.run([str(exe), "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def test_no_private_name_is_imported_across_subpackages():
    modules = _modules()
    found = []
    for name, path in modules.items():
        here = _subpackage(name)
        for module, imported, line in _imports(name, path):
            if not module.startswith("bayes_scaling"):
                continue
            target = f"{module}.{imported}" if imported and f"{module}.{imported}" in modules else module
            if target in BASE_PRIVATE or _subpackage(target) == here:
                continue
            private_module = any(p.startswith("_") for p in target.split(".")[1:])
            private_name = imported is not None and imported.startswith("_") and target == module
            if private_module or private_name:
                found.append(
                    f"{path.relative_to(ROOT)}:{line} imports {target}{'.' + imported if private_name else ''}"
                )
    assert not found, "private names imported across subpackages:\n" + "\n".join(found)


def test_no_module_is_over_600_lines():
    long = {
        str(p.relative_to(ROOT)): n for p in PACKAGE.rglob("*.py") if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def _compared_strings(path: Path):
    """String constants a module compares against (==, !=, in, not in, match cases)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            for side in [node.left, *node.comparators]:
                items = side.elts if isinstance(side, (ast.Tuple, ast.List, ast.Set)) else [side]
                for item in items:
                    if isinstance(item, ast.Constant) and isinstance(item.value, str):
                        yield item.value, node.lineno
        elif isinstance(node, ast.MatchValue) and isinstance(node.value, ast.Constant):
            yield node.value.value, node.lineno


def test_no_law_or_likelihood_name_is_tested_outside_its_registry():
    laws = set(bs.available_laws()) | set(available_curve_laws())
    likelihoods = set(noise.available_likelihoods())
    own = {PACKAGE / "laws", PACKAGE / "noise"}
    found = []
    for path in PACKAGE.rglob("*.py"):
        if any(folder in path.parents for folder in own):
            continue
        for value, line in _compared_strings(path):
            if value in laws | likelihoods:
                found.append(f"{path.relative_to(ROOT)}:{line} tests the name '{value}'")
    assert not found, "ask the registry instead:\n" + "\n".join(found)


def _listed_modules(text: str) -> set[str]:
    """Module paths of the tree under "## Modules": a line's first word ending in "/" opens a
    folder at its indentation; "name.py" words (several may share a line) are files in the
    innermost folder opened at a smaller indentation."""
    block = text.split("## Modules", 1)[1].split("```", 2)[1]
    folders: list[tuple[int, str]] = []
    listed = set()
    for line in block.splitlines():
        words = line.split()
        if not words:
            continue
        indent = len(line) - len(line.lstrip())
        if words[0].endswith("/"):
            while folders and folders[-1][0] >= indent:
                folders.pop()
            folders.append((indent, words[0]))
            continue
        names = re.findall(r"^\s*((?:[a-z_]+\.py(?:, )?)+)", line)
        if not names:
            continue
        while folders and folders[-1][0] >= indent:
            folders.pop()
        prefix = "".join(f for _, f in folders[1:])  # below bayes_scaling/
        if folders and folders[0][1] != "bayes_scaling/":
            continue  # benchmarks/ and the like
        listed |= {prefix + name for name in re.findall(r"[a-z_]+\.py", names[0])}
    return listed


def test_architecture_md_lists_every_module():
    listed = _listed_modules((ROOT / "ARCHITECTURE.md").read_text())
    actual = {str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py") if p.name != "__init__.py"}
    assert not sorted(actual - listed), f"ARCHITECTURE.md does not list {sorted(actual - listed)}"
    assert not sorted(listed - actual), f"ARCHITECTURE.md lists modules that do not exist: {sorted(listed - actual)}"


def _string_constants(path: Path):
    """String constants of a module other than docstrings."""
    tree = ast.parse(path.read_text(), filename=str(path))
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            yield node.value, node.lineno


def test_law_and_likelihood_names_appear_only_in_their_registries():
    """Defaults too go through the registries (DEFAULT_LAW, DEFAULT_LIKELIHOOD)."""
    names = set(bs.available_laws()) | set(available_curve_laws()) | set(noise.available_likelihoods())
    own = {PACKAGE / "laws", PACKAGE / "noise"}
    other_meaning = {("viz/plots/posterior.py", "normal")}  # matplotlib's fontweight="normal"
    found = [
        f"{path.relative_to(ROOT)}:{line} '{value}'"
        for path in PACKAGE.rglob("*.py")
        if not any(folder in path.parents for folder in own)
        for value, line in _string_constants(path)
        if value in names and (str(path.relative_to(PACKAGE)), value) not in other_meaning
    ]
    assert not found, "names outside their registries:\n" + "\n".join(found)
