"""The tests mirror the package: each test module sits in the folder of what it tests."""

from __future__ import annotations

from tests.support.helpers import ROOT

TESTS = ROOT / "tests"
# Beside the package's layers: whole-system tests, shared helpers, the soak run, fixtures.
OTHERS = {"system", "support", "soak", "fixtures"}
LAYERS = {p.name for p in (ROOT / "worker").iterdir() if (p / "__init__.py").is_file()}


def test_every_test_module_sits_in_a_layer_folder_or_system() -> None:
    assert not sorted(TESTS.glob("test_*.py")), "no test module at the top of tests/"
    for module in TESTS.rglob("test_*.py"):
        folder = module.relative_to(TESTS).parts[0]
        assert folder in LAYERS | {"system"}, f"{module}: tests/{folder}/ is no layer"


def test_every_folder_of_tests_is_a_layer_or_named() -> None:
    folders = {p.name for p in TESTS.iterdir() if p.is_dir() and not p.name.startswith("_")}
    assert folders <= LAYERS | OTHERS, folders - LAYERS - OTHERS
