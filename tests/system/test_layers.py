"""The package's layers: each imports only from layers below it, and nothing imports in a cycle.

Every ``import worker...`` and ``from worker... import`` counts, wherever it stands: at the
top of a module, inside a function, or under ``TYPE_CHECKING``. A module of the package
root (``worker/__init__.py``, ``worker/__main__.py``) is the entry point above all layers.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "worker"
# Lowest first. Layers on the same row are siblings: neither may import the other.
LAYERS: list[tuple[str, ...]] = [
    ("core",),
    ("text", "sources"),
    ("storage",),
    ("pipeline",),
    ("read", "queue"),
    ("runtime",),
    ("api",),
    ("cli",),
]
RANK = {name: rank for rank, row in enumerate(LAYERS) for name in row}
ENTRY = len(LAYERS)


def modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join(parts), path


def imported(module: str, path: Path) -> set[str]:
    """Every ``worker.*`` module that ``path`` imports, at any depth of its code."""
    found: set[str] = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "worker"}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            if base.split(".")[0] != "worker":
                continue
            found.add(base)
            found |= {f"{base}.{a.name}" for a in node.names if _is_module(f"{base}.{a.name}")}
    return found


def _is_module(name: str) -> bool:
    rel = Path(*name.split(".")[1:])
    return (PACKAGE / rel).with_suffix(".py").is_file() or (PACKAGE / rel / "__init__.py").is_file()


def layer(module: str) -> tuple[str, int]:
    parts = module.split(".")
    if len(parts) < 3 and (len(parts) == 1 or parts[1] in ("__main__",)):
        return "entry", ENTRY
    name = parts[1]
    assert name in RANK, f"{module}: worker/{name}/ is in no layer; add it to LAYERS"
    return name, RANK[name]


GRAPH = {module: imported(module, path) for module, path in modules()}


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_imports_go_down_the_layers(module: str) -> None:
    own, rank = layer(module)
    for target in sorted(GRAPH[module]):
        if target == "worker":
            continue  # the package root itself is imported by every submodule
        other, other_rank = layer(target)
        if other == own:
            continue
        assert other_rank < rank, f"{module} ({own}) imports {target} ({other}): not below it"


def test_no_import_cycles() -> None:
    done: set[str] = set()

    def visit(module: str, trail: list[str]) -> None:
        if module in trail:
            cycle = [*trail[trail.index(module) :], module]
            raise AssertionError("import cycle: " + " -> ".join(cycle))
        if module in done:
            return
        for target in GRAPH.get(module, ()):
            if target in GRAPH and target not in ("worker", module):
                visit(target, [*trail, module])
        done.add(module)

    for module in sorted(GRAPH):
        visit(module, [])


def test_the_contract_sees_imports_inside_functions() -> None:
    source = "def f():\n    from worker.cli import main\n"
    path = PACKAGE.parent / "tests" / "_probe_layers.py"
    path.write_text(source)
    try:
        assert "worker.cli" in imported("worker.core.probe", path)
    finally:
        path.unlink()


def redis_imports(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import) and any(
            a.name.split(".")[0] == "redis" for a in node.names
        ):
            return True
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "redis":
            return True
    return False


def test_only_storage_talks_to_redis() -> None:
    outside = [m for m, path in modules() if redis_imports(path) and layer(m)[0] != "storage"]
    assert outside == [], "redis-py imported outside worker/storage/"


def top_names(path: Path) -> set[str]:
    """The top-level package of every module ``path`` imports, at any depth of its code."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level:
            found.add((node.module or "").split(".")[0])
    return found


def test_core_imports_no_celery() -> None:
    inside = [
        m
        for m, path in modules()
        if layer(m)[0] == "core" and {"celery", "kombu"} & top_names(path)
    ]
    assert inside == [], "Celery's wiring belongs in queue/ or runtime/, not core/"


def test_every_exception_class_is_defined_in_core_errors() -> None:
    errors = PACKAGE / "core" / "errors.py"
    tree = ast.parse(errors.read_text())
    known = {n.name for n in tree.body if isinstance(n, ast.ClassDef)} | {"Exception", "ValueError"}
    stray = []
    for module, path in modules():
        if path == errors:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ClassDef):
                bases = {
                    b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases
                }
                if bases & known or any(b.endswith(("Error", "Exception")) for b in bases):
                    stray.append(f"{module}.{node.name}")
    assert stray == [], "exceptions belong in worker/core/errors.py (its docstring says so)"


# The storage readers: above the `read` layer they are reached only through IngestClient.
READERS = {
    "worker.storage.reader",
    "worker.storage.read_records",
    "worker.storage.read_rejections",
    "worker.storage.read_streams",
    "worker.storage.read_status",
    "worker.storage.scores",
}
EXAMPLES = PACKAGE.parent / "examples"


def test_the_cli_the_api_and_the_examples_read_through_the_client() -> None:
    above = {m: GRAPH[m] for m in GRAPH if layer(m)[0] in ("api", "cli")}
    above |= {f"examples.{p.stem}": imported("examples", p) for p in EXAMPLES.glob("*.py")}
    direct = sorted(f"{m} imports {t}" for m, targets in above.items() for t in targets & READERS)
    assert direct == [], "read through worker.read.client.IngestClient"
    assert all("worker.read.client" in above[f"examples.{p.stem}"] for p in EXAMPLES.glob("*.py"))
