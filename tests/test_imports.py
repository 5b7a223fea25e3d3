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


def imports_of_file(path: Path) -> list[str]:
    """Every module the file at `path` imports; `from m import n` gives m and m.n."""
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names += [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
    return names


def imports_of(package: str) -> list[tuple[str, str]]:
    """(file, imported module) for every import in `package`."""
    return [
        (str(path.relative_to(ROOT)), name)
        for path in sorted((ROOT / package).rglob("*.py"))
        for name in imports_of_file(path)
    ]


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


# DESIGN.md, "Packages and layers": the domain packages know no surface, no edge and no
# composition root, and billing and certs do not know each other.
DOMAIN = {
    "billing": ("gateway", "web", "portal", "checkout", "certs", "aiohttp"),
    "certs": ("gateway", "web", "portal", "checkout", "billing", "aiohttp"),
}


@pytest.mark.parametrize("package", sorted(DOMAIN))
def test_billing_and_certs_import_only_the_kernel_and_themselves(package: str) -> None:
    forbidden = DOMAIN[package]
    offenders = [f"{path}: {name}" for path, name in imports_of(package) if within(name, forbidden)]
    assert offenders == []


# What the tenants layer may use from outside itself and the kernel: certs' issuing interface
# and certificate store (the domain lifecycle issues, renews and shows certificates), the
# settings value, the host-name and address rules that the edge shares, and billing's
# country and postal address rules (nothing else of billing), never the insides of certs'
# issuers (ACME, the internal CA) or challenges.
TENANTS_MAY_IMPORT = (
    # The tenant's legal address follows the customers' address rules.
    "billing.addresses",
    "billing.countries",
    "billing.errors",
    "certs.budgets",
    "certs.errors",
    "certs.issuance",
    "certs.issuer",
    "certs.renewal",
    "certs.store",
    "gateway.tenants.hostnames",
    "gateway.tenants.public_addresses",
    "gateway.settings",
)


def test_the_tenants_layer_imports_only_what_it_needs_from_outside() -> None:
    product = ("gateway", "certs", "billing", "web", "portal", "checkout")
    offenders = [
        f"{path}: {name}"
        for path, name in imports_of("gateway/tenants")
        if within(name, product) and not within(name, ("gateway.tenants", *TENANTS_MAY_IMPORT))
        # `from certs.issuer import Issuer` also yields certs.issuer.Issuer: allowed above.
    ]
    assert offenders == []


def sql_calls(path: Path) -> list[str]:
    """`.fetch(`, `.fetchrow(`, `.fetchval(` and `.execute(` calls in the file at `path`."""
    queries = ("fetch", "fetchrow", "fetchval", "execute", "executemany")
    return [
        f"{path.relative_to(ROOT)}:{node.lineno}: .{node.func.attr}("
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in queries
    ]


def test_tls_serving_runs_no_sql() -> None:
    """DESIGN.md: TLS asks the tenants layer which names may be served; it runs no query."""
    offenders = [
        f"{path}: {name}" for path, name in imports_of("gateway/tls") if within(name, ("asyncpg",))
    ]
    offenders += [
        call for path in sorted((ROOT / "gateway/tls").rglob("*.py")) for call in sql_calls(path)
    ]
    assert offenders == []


def handler_modules() -> list[Path]:
    """Modules of the page surfaces that serve HTTP (they import aiohttp)."""
    return [
        path
        for package in ("portal", "checkout", "gateway/dashboard")
        for path in sorted((ROOT / package).rglob("*.py"))
        if any(within(name, ("aiohttp",)) for name in imports_of_file(path))
    ]


def test_page_handlers_run_no_sql() -> None:
    """Handlers call the domain services; the services own the queries."""
    handlers = handler_modules()
    assert handlers, "no handler module found: the rule would hold for nothing"
    offenders = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in handlers
        for name in imports_of_file(path)
        if within(name, ("asyncpg",))
    ]
    offenders += [call for path in handlers for call in sql_calls(path)]
    assert offenders == []


# DESIGN.md, "Packages and layers", top to bottom. Each module may import its own layer and
# the layers below, never one above. Jobs, ops and the database sit beside the edge (they
# call the domain layer); the settings are a plain value every layer above the kernel reads.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("gateway.app", "gateway.server", "gateway.cli", "gateway.issuers", "gateway.demo"),
    ("portal", "checkout", "gateway.dashboard", "gateway.api"),
    ("web",),
    (
        "gateway.edge",
        "gateway.network",
        "gateway.tls",
        "gateway.ops",
        "gateway.jobs",
        "gateway.database",
    ),
    ("gateway.tenants", "billing", "certs", "gateway.settings"),
    ("kernel",),
)


def layer_of(module: str) -> int | None:
    for depth, packages in enumerate(LAYERS):
        if within(module, packages):
            return depth
    return None


def test_every_product_module_has_a_layer() -> None:
    assert [module for module in modules() if layer_of(module) is None] == ["gateway"]


def test_imports_point_down_the_layers() -> None:
    offenders = []
    for package in PACKAGES:
        for path, name in imports_of(package):
            module = ".".join(Path(path).with_suffix("").parts).removesuffix(".__init__")
            own, imported = layer_of(module), layer_of(name)
            if own is not None and imported is not None and imported < own:
                offenders.append(f"{path}: {name} ({LAYERS[imported][0]}... is above)")
    assert offenders == []
