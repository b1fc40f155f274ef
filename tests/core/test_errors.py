"""One root for every error the user is told of in one line (NetmemError), caught once by each front end."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import netmem_gui.core
from netmem_gui import cli
from netmem_gui.core.errors import NetmemError
from netmem_gui.core.exits import Exit
from netmem_gui.core.records import record

# Exceptions that are signals between parts of netmem, never shown to the user as bad input.
INTERNAL = {"StopRequested", "StoppedStarting", "ProcessGone", "NoReading", "Cancelled", "_Constant"}


def core_exceptions() -> dict[str, type[BaseException]]:
    found = {}
    for info in pkgutil.walk_packages(netmem_gui.core.__path__, "netmem_gui.core."):
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if inspect.isclass(obj) and issubclass(obj, Exception) and obj.__module__ == module.__name__:
                found[name] = obj
    return found


def test_every_error_of_the_core_is_a_netmem_error():
    errors = core_exceptions()
    assert len(errors) > 10
    assert sorted(n for n, cls in errors.items() if n not in INTERNAL and not issubclass(cls, NetmemError)) == []


def test_the_command_line_turns_any_of_them_into_one_line_and_its_status(monkeypatch, capsys):
    class Refused(NetmemError):
        status = Exit.FAILED

    def refuse():
        raise Refused("the library is on fire")

    monkeypatch.setattr(record, "schema_text", refuse)  # what `netmem schema` calls
    assert cli.main(["schema"]) == Exit.FAILED
    assert capsys.readouterr().err == "netmem: error: the library is on fire\n"


@pytest.mark.parametrize("argv", [["runs", "label", "nosuchid", "x"], ["compare", "nosuch.json", "nosuch2.json"]])
def test_library_and_compare_errors_reach_the_user_through_the_same_door(argv, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("NETMEM_DATA_DIR", str(tmp_path))
    assert cli.main(argv) == Exit.USAGE
    err = capsys.readouterr().err
    assert err.startswith("netmem: error: ") and err.count("\n") == 1
