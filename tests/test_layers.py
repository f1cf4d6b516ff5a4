"""The layer rule of docs/ARCHITECTURE.md, enforced on the source tree.

Only framework/clients/ may import the upstream clients (pymesos, marathon,
consul), and marathon only through framework/clients/marathon_compat.py.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "framework"
UPSTREAM = {"pymesos", "marathon", "consul"}
CLIENTS = ROOT / "clients"
COMPAT = CLIENTS / "marathon_compat.py"


def imported_modules(path: Path) -> Iterator[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module


def violations() -> list[str]:
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        for line, module in imported_modules(path):
            top = module.split(".")[0]
            if top not in UPSTREAM:
                continue
            if not path.is_relative_to(CLIENTS):
                found.append(f"{path.relative_to(ROOT.parent)}:{line} imports {module}")
            elif top == "marathon" and path != COMPAT:
                found.append(
                    f"{path.relative_to(ROOT.parent)}:{line} imports {module} "
                    "(use framework.clients.marathon_compat)"
                )
    return found


def test_only_the_client_layer_imports_upstream_clients() -> None:
    assert violations() == []


def test_the_rule_catches_a_forbidden_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import os\nfrom pymesos import Scheduler\nimport marathon.models\n")
    assert [m for _, m in imported_modules(bad)] == ["os", "pymesos", "marathon.models"]


def test_the_scan_sees_the_client_modules() -> None:
    scanned = {p.name for p in CLIENTS.glob("*.py")}
    assert {"mesos.py", "consul.py", "marathon_compat.py"} <= scanned
    assert any(m == "pymesos" for _, m in imported_modules(CLIENTS / "mesos.py"))
