"""The README's settings table, generated from the components' declarations (`conveyor.settings.setting`).

    python -m conveyor_tools.settings_doc           # print the table
    python -m conveyor_tools.settings_doc --write   # put it into README.md, between the markers
    python -m conveyor_tools.settings_doc --check   # exit 1 when README.md's table is stale
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ml_data_api.settings
import monitoring_api.settings
import queue_manager.settings
import retraining_api.settings
import worker.settings
from conveyor.model_check import ModelCheckSettings
from conveyor.model_files import ModelFileSettings
from conveyor.settings import Declared, Described, describe
from django_admin.environment import AdminSettings, DjangoSettings

README = Path(__file__).resolve().parent.parent / "README.md"
BEGIN = "<!-- settings table: generated from the declarations by `python -m conveyor_tools.settings_doc --write` -->"
END = "<!-- end of the settings table -->"
REGENERATE = "python -m conveyor_tools.settings_doc --write"

# Every settings class, with the component that reads it, in the order the table lists them. A class read by
# several components (how model files load) is listed once for each of them.
COMPONENTS: list[tuple[str, type[Declared]]] = [
    ("queue_manager", queue_manager.settings.Settings),
    ("queue_manager", ModelFileSettings),
    ("queue_manager", ModelCheckSettings),
    ("ml_data_api", ml_data_api.settings.Settings),
    ("worker", worker.settings.Settings),
    ("worker", ModelFileSettings),
    ("monitoring_api", monitoring_api.settings.Settings),
    ("monitoring_api", ModelFileSettings),
    ("retraining_api", retraining_api.settings.Settings),
    ("retraining_api", ModelFileSettings),
    ("django_admin", DjangoSettings),
    ("django_admin", AdminSettings),
]
# Read by conveyor.settings.is_production itself, not by a settings class.
MODE_ROW = ("| `CONVEYOR_ENV` | `development` | all | `production` refuses to start on a missing or development "
            "secret, and turns development defaults off. |")


@dataclass
class Row:
    described: Described
    used_by: list[str] = field(default_factory=list)

    def cells(self) -> list[str]:
        described = self.described
        aliases = ", ".join(f"`{alias}`" for alias in described.declaration.aliases)
        variable = f"`{described.variable}`" + (f" (or {aliases})" if aliases else "")
        return [variable, default_text(described), ", ".join(self.used_by), described.declaration.doc]


def _shown(described: Described, value: Any) -> str:
    if value is None:
        return "unset"
    text = described.cast.show(value)
    return f"`{text}`" if text else "empty"


def default_text(described: Described) -> str:
    declaration = described.declaration
    if declaration.shown is not None:
        return declaration.shown
    if declaration.required:
        return "– (required)"
    shown = _shown(described, described.default)
    if declaration.secret:
        return f"{shown} (development only)"
    production_default = described.default_for(True)
    if production_default != described.default:
        return f"{shown} (production: {_shown(described, production_default)})"
    return shown


def rows() -> list[Row]:
    """One row a variable; the platform-wide ones (API_TOKEN, DATABASE_URL, the services' URLs...) first."""
    by_variable: dict[str, Row] = {}
    for component, settings_class in COMPONENTS:
        for described in describe(settings_class):
            row = by_variable.setdefault(described.variable, Row(described))
            if row.described.declaration != described.declaration or row.described.default != described.default:
                raise ValueError(f"{described.variable} is declared differently in {component} and {row.used_by}")
            if component not in row.used_by:
                row.used_by.append(component)
    listed = list(by_variable.values())
    return sorted(listed, key=lambda row: not row.described.platform_wide)  # stable: else in declaration order


def table() -> str:
    lines = ["| variable | default | used by | what it sets |", "|---|---|---|---|", MODE_ROW]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row.cells()) + " |" for row in rows()]
    return "\n".join(lines)


def readme_table(readme: str) -> str:
    """The table README.md holds between the markers."""
    return readme.split(BEGIN, 1)[1].split(END, 1)[0].strip()


def readme_problem(readme: str) -> str | None:
    """What is wrong with README.md's table, in a sentence that says how to fix it (None: nothing)."""
    if BEGIN not in readme or END not in readme:
        return f"README.md has no settings table markers: put {BEGIN} and {END} in it, then run `{REGENERATE}`"
    if readme_table(readme) != table():
        return f"README.md's settings table differs from the declarations: run `{REGENERATE}`"
    return None


def with_table(readme: str) -> str:
    before, rest = readme.split(BEGIN, 1)
    after = rest.split(END, 1)[1]
    return f"{before}{BEGIN}\n{table()}\n{END}{after}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m conveyor_tools.settings_doc", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--write", action="store_true", help="write the table into README.md")
    action.add_argument("--check", action="store_true", help="exit 1 when README.md's table differs")
    args = parser.parse_args(argv)
    if args.write:
        README.write_text(with_table(README.read_text()))
        return 0
    if args.check:
        problem = readme_problem(README.read_text())
        if problem:
            print(problem, file=sys.stderr)
        return 1 if problem else 0
    print(table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
