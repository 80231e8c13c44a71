"""The import contract: every package imports only from the layers below it (core/__init__.py).

core -> belle_mc (generator) | selections -> processors -> execution -> sensitivity -> command lines.
Imports inside functions count as well: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {
    # package: (directory, layer); packages on one layer must not import each other
    "core": (ROOT / "core", 0),
    "belle_mc": (ROOT / "datasets" / "belle_mc", 1),
    "selections": (ROOT / "selections", 1),
    "processors": (ROOT / "processors", 2),
    "execution": (ROOT / "execution", 3),
    "sensitivity": (ROOT / "sensitivity", 4),
}


def project_imports(path: Path) -> set[str]:
    """Top-level names of the project packages that ``path`` imports (anywhere in the file)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found.update(n.split(".")[0] for n in names if n.split(".")[0] in PACKAGES or n.split(".")[0] == "run")
    return found


def layer_violations(package: str, directory: Path | None = None) -> list[str]:
    """``file imports X`` for every import in ``package``'s files that does not point down the layers."""
    own_directory, layer = PACKAGES[package]
    directory = directory or own_directory
    bad = []
    for path in sorted(directory.rglob("*.py")):
        for imported in sorted(project_imports(path)):
            if imported == package:
                continue
            if imported == "run" or PACKAGES[imported][1] >= layer:
                bad.append(f"{path.name} imports {imported}")
    return bad


@pytest.mark.parametrize("package", list(PACKAGES))
def test_imports_point_down_the_layers(package):
    assert layer_violations(package) == []


def test_the_contract_catches_upward_and_sideways_imports(tmp_path):
    (tmp_path / "lazy.py").write_text("def f():\n    from processors.base import WINDOW\n    return WINDOW\n")
    (tmp_path / "sideways.py").write_text("import belle_mc.catalog\n")
    (tmp_path / "fine.py").write_text("from core.constants import MUON_MASS_GEV\nimport numpy\n")
    assert layer_violations("selections", tmp_path) == ["lazy.py imports processors", "sideways.py imports belle_mc"]

