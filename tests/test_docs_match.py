"""The reference docs name what the code has: every option of `netmem run`, every top-level key of the record,
every runtime dependency. A new option, key or dependency fails here until its doc says what it is."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest

from netmem_gui.cli import build_parser
from netmem_gui.core.options import SECTIONS, SETTINGS

ROOT = Path(__file__).resolve().parents[1]


def run_options() -> set[str]:
    commands = next(a for a in build_parser()._actions if a.dest == "command")
    run = commands.choices["run"]
    return {flag for action in run._actions for flag in action.option_strings if flag.startswith("--")} - {"--help"}


def test_cli_doc_names_every_option_of_netmem_run():
    doc = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    named = set(re.findall(r"--[a-z][a-z-]*", doc))
    assert len(run_options()) > 25
    assert sorted(run_options() - named) == []


def test_record_doc_names_every_top_level_key_of_the_schema():
    schema = json.loads((ROOT / "netmem_gui" / "core" / "schema" / "run-1.schema.json").read_text(encoding="utf-8"))
    doc = (ROOT / "docs" / "record.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`([a-z_]+)`", doc))
    keys = set(schema["properties"])
    assert len(keys) > 10
    assert sorted(keys - named) == []


def test_readme_dependency_table_names_every_runtime_dependency():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = {re.match(r"[A-Za-z0-9_.-]+", spec).group(0).lower()
              for spec in project["dependencies"] + project["optional-dependencies"]["locust"]}
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = {m.group(1).lower() for m in re.finditer(r"^\|\s*\[?([A-Za-z0-9_.-]+)", readme, re.MULTILINE)}
    assert len(wanted) > 5
    assert sorted(wanted - rows) == []


def test_run_help_is_grouped_in_the_settings_tables_sections(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--help"])
    text = capsys.readouterr().out
    titles = [title for title, _ in SECTIONS.values()]
    assert titles == ["what to run", "the target", "load", "sampling", "output and gates"]
    where = [text.index(f"\n{title}:\n") for title in titles]
    assert where == sorted(where)
    for setting in SETTINGS:  # each option sits in its own section, between its title and the next one's
        k = list(SECTIONS).index(setting.section)
        end = where[k + 1] if k + 1 < len(where) else len(text)
        assert where[k] < text.index(f"  {setting.flag} ") < end, setting.flag
    assert where[-1] < text.index("  --fail-on-leak") and where[-1] < text.index("  --json PATH")


def test_readme_layout_names_every_module_of_the_core_and_the_app():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    layout = readme[readme.index("## Layout"):]
    named = set(re.findall(r"[a-z_]+", layout))
    modules = {p.stem for folder in ("core", "gui") for p in (ROOT / "netmem_gui" / folder).rglob("*.py")}
    modules |= {p.name for p in (ROOT / "netmem_gui" / "core").iterdir() if (p / "__init__.py").exists()}
    modules -= {"__init__"}
    assert len(modules) > 50
    assert sorted(modules - named) == []


def test_no_module_of_the_package_is_over_600_lines():
    """A module that grows past this holds several; split it by what its parts are to the user."""
    sizes = {str(p.relative_to(ROOT)): len(p.read_text(encoding="utf-8").splitlines())
             for p in (ROOT / "netmem_gui").rglob("*.py")}
    assert len(sizes) > 50
    assert {path: n for path, n in sizes.items() if n > 600} == {}
