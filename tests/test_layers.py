"""The runtime library and the services never pull in the tooling (conveyor_tools)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
COMPONENTS = ["queue_manager", "ml_data_api", "monitoring_api", "retraining_api", "worker", "data_source",
              "ground_truth_collector", "django_admin"]
SERVICE_ENTRY_POINTS = ["queue_manager.main", "ml_data_api.main", "monitoring_api.main", "retraining_api.main",
                        "retraining_api.executor", "worker.main", "data_source.__main__",
                        "ground_truth_collector.__main__"]


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_the_runtime_library_imports_no_component_and_no_tooling() -> None:
    upward = []
    for path in sorted((ROOT / "conveyor").rglob("*.py")):
        for name in imported_modules(path):
            top = name.split(".")[0]
            if top == "conveyor_tools" or top in COMPONENTS:
                upward.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not upward, "conveyor/ must not import tooling or components:\n" + "\n".join(upward)


def test_components_import_no_tooling_in_their_source() -> None:
    found = []
    for component in COMPONENTS:
        for path in sorted((ROOT / component).rglob("*.py")):
            found += [f"{path.relative_to(ROOT)} imports {name}" for name in imported_modules(path)
                      if name.split(".")[0] == "conveyor_tools"]
    assert not found, "components must not import conveyor_tools:\n" + "\n".join(found)


@pytest.mark.parametrize("module", SERVICE_ENTRY_POINTS)
def test_importing_a_service_loads_no_tooling(module: str) -> None:
    probe = (f"import importlib, json, sys; importlib.import_module({module!r}); "
             "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] == 'conveyor_tools')))")
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [], f"{module} pulled in tooling"
