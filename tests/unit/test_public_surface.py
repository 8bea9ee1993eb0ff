"""Each product package states its public surface (``__all__`` in its ``__init__.py``): the
modules that code outside the package imports, no more and no less, and nothing private
(``_name``) is imported across packages. Tests and benchmarks may reach inside."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("producers", "provisioning", "embedded", "terminal", "alerts", "portfolio")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_package(dotted: str) -> bool:
    return (ROOT / Path(*dotted.split(".")) / "__init__.py").is_file()


def _product_files() -> list[Path]:
    return sorted(path for package in PACKAGES for path in (ROOT / package).rglob("*.py"))


def _imports(path: Path) -> list[tuple[str, str]]:
    """(imported module, imported name) of every absolute import of a product module."""
    found: list[tuple[str, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] not in PACKAGES:
                continue
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                if _is_package(node.module) and (
                    _is_package(submodule) or (ROOT / f"{submodule.replace('.', '/')}.py").exists()
                ):
                    found.append((submodule, ""))
                else:
                    found.append((node.module, alias.name))
        elif isinstance(node, ast.Import):
            found.extend(
                (alias.name, "") for alias in node.names if alias.name.split(".")[0] in PACKAGES
            )
    return found


def _needed_surface() -> tuple[dict[str, set[str]], list[str]]:
    """Per package, the submodules imported from outside it; and every private name imported
    across packages."""
    needed: dict[str, set[str]] = defaultdict(set)
    private: list[str] = []
    for path in _product_files():
        importer = _module_name(path)
        for module, name in _imports(path):
            parts = module.split(".")
            for depth in range(1, len(parts)):
                package, child = ".".join(parts[:depth]), parts[depth]
                inside = importer == package or importer.startswith(package + ".")
                if not inside:
                    needed[package].add(child)
            if name.startswith("_") and importer.split(".")[0] != parts[0]:
                private.append(f"{importer} imports {module}.{name}")
    return needed, private


def _declared_surface() -> dict[str, set[str]]:
    declared: dict[str, set[str]] = {}
    for path in _product_files():
        if path.name != "__init__.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names: set[str] | None = None
        for node in tree.body:
            if isinstance(node, ast.Assign):
                target, value = node.targets[0], node.value
            elif isinstance(node, ast.AnnAssign) and node.value is not None:
                target, value = node.target, node.value
            else:
                continue
            if isinstance(target, ast.Name) and target.id == "__all__":
                names = set(ast.literal_eval(value))
        assert names is not None, f"{path.relative_to(ROOT)} has no __all__"
        declared[_module_name(path)] = names
    return declared


def test_every_package_declares_what_other_packages_import() -> None:
    needed, _ = _needed_surface()
    declared = _declared_surface()
    wrong = {
        package: {"declared": sorted(names), "imported from outside": sorted(needed[package])}
        for package, names in declared.items()
        if names != needed[package]
    }
    assert not wrong, wrong


def test_declared_names_are_modules_of_the_package() -> None:
    for package, names in _declared_surface().items():
        for name in names:
            dotted = f"{package}.{name}"
            assert _is_package(dotted) or (ROOT / f"{dotted.replace('.', '/')}.py").is_file(), (
                dotted
            )


def test_no_private_name_is_imported_across_packages() -> None:
    _, private = _needed_surface()
    assert not private, private
