"""The architecture contract (pyproject.toml `[tool.importlinter]`, docs/architecture.md) holds and is enforced:
lint-imports passes on the repository, an upward import planted in a copy of the code is caught, the
diagram in docs/architecture.md is what scripts/architecture.py computes from the code today, and no test
module (nor a benchmark) imports a test module."""

import ast
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    """`lint-imports` on the code under `root`, reading `root`/pyproject.toml; no cache written anywhere."""
    command = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or "lint-imports"
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [command, "--config", str(root / "pyproject.toml"), "--no-cache", "--no-logo"],
        cwd=root, env=env, capture_output=True, text=True, timeout=120,
    )


def test_every_import_contract_is_kept():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_an_upward_import_is_caught(tmp_path):
    """A copy of the product where core (the bottom layer) imports exports: lint-imports must fail, naming it."""
    keep_sources = shutil.ignore_patterns("__pycache__", "*.pyc", "*.json", "*.html", "*.md", "*.yaml", "*.sbatch")
    for package in CONFIG["root_packages"]:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=keep_sources)
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    with (tmp_path / "core" / "roles.py").open("a", encoding="utf-8") as module:
        module.write("\nimport exports.models\n")
    result = lint_imports(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "core is not allowed to import exports" in result.stdout, result.stdout
    assert "core.roles -> exports.models" in result.stdout, result.stdout


def test_the_diagram_in_docs_is_the_import_graph_of_the_code():
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "architecture.py"), "--check"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_no_module_imports_a_test_module():
    """Shared code lives in conftest.py fixtures or support modules (tests/factories.py, tests/<app>/support.py):
    importing a test module runs its tests twice and breaks when it moves."""
    offenders = []
    for path in sorted([*(ROOT / "tests").rglob("*.py"), *(ROOT / "bench").glob("*.py")]):
        for name in _imported_modules(path):
            if name.startswith("tests.") and name.rsplit(".", 1)[-1].startswith("test_"):
                offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert offenders == []
