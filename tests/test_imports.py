"""Every module imports on its own (no import cycles), and dependencies point one way."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("kernel", "gateway", "certs", "billing", "web", "portal", "checkout")
# Packages below the HTTP layer must not know about aiohttp's server (STYLE.md, rule 2).
NO_WEB = ("kernel", "billing", "certs", "gateway/tenants", "gateway/tls")


def modules() -> list[str]:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__main__":  # runs the CLI when imported, by design
                continue
            if parts[-1] == "__init__":
                parts.pop()
            found.append(".".join(parts))
    return found


@pytest.mark.parametrize("module", modules())
def test_module_imports_on_its_own(module: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", f"import {module}"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def imports_of(package: str) -> list[tuple[str, str]]:
    """(file, imported module) for every import in `package`; `from m import n` gives m and m.n."""
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
            found += [(str(path.relative_to(ROOT)), name) for name in names]
    return found


def within(name: str, packages: tuple[str, ...]) -> bool:
    return any(name == package or name.startswith(package + ".") for package in packages)


def test_lower_layers_do_not_import_the_web_server() -> None:
    forbidden = ("aiohttp.web", "portal", "checkout", "gateway.api")
    offenders = [
        f"{path}: {name}"
        for package in NO_WEB
        for path, name in imports_of(package)
        if within(name, forbidden)
    ]
    assert offenders == []


def test_the_kernel_imports_nothing_of_the_product() -> None:
    product = ("gateway", "certs", "billing", "web", "portal", "checkout", "aiohttp")
    offenders = [f"{path}: {name}" for path, name in imports_of("kernel") if within(name, product)]
    assert offenders == []


# DESIGN.md, "Packages and layers": each surface imports the shared web layer, never another
# surface, and the shared web layer knows no specific surface.
SURFACES = {
    "portal": ("checkout", "gateway.dashboard", "gateway.api"),
    "checkout": ("portal", "gateway.dashboard", "gateway.api"),
    "gateway/dashboard": ("portal", "checkout", "gateway.api"),
    "gateway/api": ("portal", "checkout", "gateway.dashboard"),
    "web": ("portal", "checkout", "gateway.dashboard", "gateway.api"),
}


@pytest.mark.parametrize("package", sorted(SURFACES))
def test_surfaces_import_the_shared_web_layer_not_each_other(package: str) -> None:
    forbidden = SURFACES[package]
    offenders = [f"{path}: {name}" for path, name in imports_of(package) if within(name, forbidden)]
    assert offenders == []
