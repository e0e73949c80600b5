"""The import contract: layers import one way, and only through the name ``zhengyin``.

``core <- keys <- trust <- signing <- registry <- api``: a module may import its own layer
and those below, never one above (function-level imports included). No file of the code,
the tests or the benchmarks imports a layer by its bare folder name, which would import a
same-named folder of the working directory instead of the installed package; and the
wheel installs that one name only.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
LAYERS = ("core", "keys", "trust", "signing", "registry", "api")
CHECKED = (*LAYERS, "tests", "bench")


def _python_files(folder: str) -> list[Path]:
    return sorted(path for path in (REPO / folder).rglob("*.py"))


def _scripts(tree: ast.Module) -> list[tuple[int, ast.Module]]:
    """Python code held in string literals (scripts a test runs in a child interpreter)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and "import " in node.value:
            try:
                found.append((node.lineno, ast.parse(node.value)))
            except SyntaxError:
                continue  # prose, not code
    return found


def _imports(path: Path) -> list[tuple[int, str]]:
    """Absolute module names ``path`` imports (relative ones resolved), with line numbers;
    imports in scripts held in its string literals count too (issue 15: a child process
    runs them from the working directory)."""
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    package = parts[:-1]
    found = []
    tree = ast.parse(path.read_text(), str(path))
    for line, script in _scripts(tree):
        found += [(line, name) for node in ast.walk(script) if isinstance(node, ast.Import)
                  for name in (alias.name for alias in node.names)]
        found += [(line, node.module or "") for node in ast.walk(script)
                  if isinstance(node, ast.ImportFrom) and not node.level]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ["zhengyin", *package][:len(package) + 2 - node.level]
                found.append((node.lineno, ".".join([*base, node.module or ""]).rstrip(".")))
            else:
                found.append((node.lineno, node.module or ""))
    return found


@pytest.mark.parametrize("folder", CHECKED)
def test_no_file_imports_a_layer_by_its_bare_name(folder: str) -> None:
    bare = [f"{path.relative_to(REPO)}:{line} imports {name}"
            for path in _python_files(folder) for line, name in _imports(path)
            if name.split(".")[0] in LAYERS]
    assert bare == []


@pytest.mark.parametrize("layer", LAYERS)
def test_a_layer_imports_only_itself_and_the_layers_below(layer: str) -> None:
    allowed = set(LAYERS[:LAYERS.index(layer) + 1])
    upward = []
    for path in _python_files(layer):
        for line, name in _imports(path):
            parts = name.split(".")
            if parts[0] == "zhengyin" and len(parts) > 1 and parts[1] not in allowed:
                upward.append(f"{path.relative_to(REPO)}:{line} imports {name}")
    assert upward == []



@pytest.mark.slow
def test_the_wheel_installs_only_the_name_zhengyin(tmp_path: Path) -> None:
    """Built from a copy of the sources, so the checkout gets no build/ or egg-info."""
    source = tmp_path / "source"
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("pyproject.toml", "README.md"):
        source.mkdir(exist_ok=True)
        shutil.copy2(REPO / name, source / name)
    for folder in (*LAYERS, "zhengyin"):
        shutil.copytree(REPO / folder, source / folder, symlinks=True, ignore=skip)

    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "--quiet", "-w", str(tmp_path / "wheel"), str(source)],
                   check=True, capture_output=True, timeout=120)

    [wheel] = (tmp_path / "wheel").glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    top_level = {name.split("/")[0] for name in names if ".dist-info/" not in name}
    assert top_level == {"zhengyin"}
    assert {f"zhengyin/{layer}/__init__.py" for layer in LAYERS} <= set(names)
