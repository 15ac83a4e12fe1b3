"""The dependency arrows of docs/architecture.md, read from the code with ``ast``.

``http`` → ``engine`` ← ``plugins``, nothing reaches past a port, and only the composition root
(``cli.py``, ``wiring.py``) knows both sides. Every import statement counts, those inside
functions too: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = "asset_service"
ROOT = Path(__file__).resolve().parent.parent / PACKAGE
COMPOSITION_ROOT = ("asset_service.cli", "asset_service.wiring")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, relative imports resolved; ``from a import b`` counts as
    ``a.b`` too, since ``b`` may be a module."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {module for module in found if module.startswith(PACKAGE)}


def within(module: str, *packages: str) -> bool:
    return any(module == package or module.startswith(package + ".") for package in packages)


def adapter_of(module: str) -> str | None:
    """The adapter a module belongs to (``asset_service.engine.adapters.s3`` → ``s3``); private
    helpers (``_name``) and the package itself are no adapter."""
    prefix = "asset_service.engine.adapters."
    if not module.startswith(prefix):
        return None
    head = module[len(prefix) :].split(".")[0]
    return None if head.startswith("_") else head


def private_part(module: str) -> bool:
    return any(part.startswith("_") and part != "__init__" for part in module.split("."))


def violation(source: str, target: str) -> str | None:
    engine, http, plugins = (f"{PACKAGE}.engine", f"{PACKAGE}.http", f"{PACKAGE}.plugins")
    adapters = f"{PACKAGE}.engine.adapters"
    if within(source, engine, http, plugins) and within(target, *COMPOSITION_ROOT):
        return "only the composition root imports the composition root"
    if within(source, engine) and within(target, http, plugins, f"{PACKAGE}.config"):
        return "the engine imports neither the web layer, the plugins nor the configuration"
    if within(source, engine) and not within(source, adapters) and adapter_of(target) is not None:
        return "the engine's core reaches adapters only through a port"
    if within(source, http) and (within(target, plugins) or adapter_of(target) is not None):
        return "the web layer reaches plugins and adapters only through the engine"
    if within(source, http) and within(target, engine) and private_part(target):
        return "the web layer uses the engine's public names, not its private modules"
    if within(source, plugins) and within(target, http, f"{PACKAGE}.config"):
        return "plugins import neither the web layer nor the configuration"
    own, other = adapter_of(source), adapter_of(target)
    if own is not None and other is not None and own != other:
        return "an adapter does not import another adapter"
    return None


def all_violations() -> list[str]:
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        source = module_name(path)
        for target in sorted(imported_modules(path)):
            reason = violation(source, target)
            if reason:
                found.append(f"{source} → {target}: {reason}")
    return found


def test_no_import_breaks_the_dependency_rules() -> None:
    assert all_violations() == []


@pytest.mark.parametrize(
    ("source", "target"),
    [
        ("asset_service.engine.engine", "asset_service.http.app"),
        ("asset_service.engine.engine", "asset_service.plugins.loading"),
        ("asset_service.engine.engine", "asset_service.config"),
        ("asset_service.engine.engine", "asset_service.engine.adapters.sqlite"),
        ("asset_service.http.routes.content", "asset_service.plugins.builtin"),
        ("asset_service.http.routes.content", "asset_service.engine.adapters.filesystem"),
        ("asset_service.plugins.loading", "asset_service.config"),
        ("asset_service.plugins.loading", "asset_service.http.problems"),
        ("asset_service.engine.adapters.mongo", "asset_service.engine.adapters.sqlite"),
        ("asset_service.http.app", "asset_service.wiring"),
        ("asset_service.engine.engine", "asset_service.cli"),
        ("asset_service.http.routes.tus", "asset_service.engine._upload"),
    ],
)
def test_each_forbidden_arrow_is_recognised(source: str, target: str) -> None:
    assert violation(source, target) is not None


@pytest.mark.parametrize(
    ("source", "target"),
    [
        ("asset_service.http.app", "asset_service.engine"),
        ("asset_service.http.app", "asset_service.config"),
        ("asset_service.plugins.loading", "asset_service.engine.inspection"),
        ("asset_service.engine.adapters.s3", "asset_service.engine.blobstore"),
        ("asset_service.engine.adapters.mongo", "asset_service.engine.adapters._lifecycle"),
        ("asset_service.wiring", "asset_service.engine.adapters.sqlite"),
        ("asset_service.cli", "asset_service.plugins.loading"),
    ],
)
def test_allowed_arrows_pass(source: str, target: str) -> None:
    assert violation(source, target) is None


def test_relative_imports_are_resolved(tmp_path: Path) -> None:
    content = ROOT / "http" / "routes" / "content.py"
    imports = imported_modules(content)
    assert any(module.startswith("asset_service.http") for module in imports)
    assert all(module.startswith(PACKAGE) for module in imports)
