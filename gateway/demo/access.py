"""How a newcomer reaches the demo: its API key, the internal CA's root, the lines to open."""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path

from certs.internal_ca import InternalCA
from gateway.demo.seed import DemoInfo
from gateway.settings import Settings
from gateway.tenants import api_keys
from gateway.tenants.errors import InvalidApiKey
from gateway.tenants.models import Tenant
from kernel.db import Db
from kernel.sealing import Sealer


async def ensure_demo_api_key(pool: Db, *, tenant: Tenant, key_file: Path) -> str:
    """The demo tenant's API key kept in `key_file`, or a new one (written there, mode 0600).

    A key that no longer works for this tenant (revoked, or from another database)
    is replaced.
    """
    secret = await asyncio.to_thread(_read_key, key_file)
    if secret is not None:
        with contextlib.suppress(InvalidApiKey):
            owner = await api_keys.authenticate(pool, secret)
            if owner.id == tenant.id:
                return secret
    _, secret = await api_keys.create_api_key(pool, tenant_id=tenant.id, name="demo")
    await asyncio.to_thread(_write_key, key_file, secret)
    return secret


def _read_key(key_file: Path) -> str | None:
    try:
        return key_file.read_text().strip()
    except FileNotFoundError:
        return None


def _write_key(key_file: Path, secret: str) -> None:
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key_file.unlink(missing_ok=True)
    descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(secret + "\n")


INTERNAL_ROOT_FILE = "internal-ca.pem"


async def write_internal_root(
    pool: Db, sealer: Sealer, data_dir: Path, *, permitted_names: tuple[str, ...]
) -> Path:
    """Write the internal CA's root certificate (created if needed) to the data directory.

    The root is the one limited to `permitted_names` (Settings.internal_ca_permitted_names).
    Only the certificate is written: the root key stays sealed in PostgreSQL.
    """
    authority = await InternalCA.load_or_create(pool, sealer, permitted_names=permitted_names)
    path = data_dir / INTERNAL_ROOT_FILE
    await asyncio.to_thread(_write_text, path, authority.root_pem)
    return path


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def demo_lines(
    settings: Settings, info: DemoInfo, *, api_key: str, root_path: Path | None = None
) -> list[str]:
    """The lines a newcomer reads: one URL per line (HTTP, then HTTPS), then the API key.

    With `root_path` (the internal CA's root written by `write_internal_root`),
    the lines also say how to trust it.
    """
    lines = []
    for customer in info.customers:
        host = f"{customer.tenant_slug}.{settings.base_domain}"
        path = f"/portal/{customer.id}"
        label = f"{customer.name} ({customer.tenant_slug})"
        lines.append(f"Portal of {label}: {settings.public_url(host)}{path}")
        lines.append(f"Portal of {label} over HTTPS: {settings.secure_url(host)}{path}")
    if root_path is not None and info.customers:
        first = info.customers[0]
        url = settings.secure_url(f"{first.tenant_slug}.{settings.base_domain}")
        lines.append(f"HTTPS certificates come from the internal CA; its root is {root_path}")
        lines.append(f"Check HTTPS: curl --cacert {root_path} {url}/portal/{first.id}")
        lines.append(
            "Browsers: the http:// URLs above need no certificate; to try HTTPS, import the"
            " root as an authority in a separate browser profile used only for this demo (it"
            " lasts two years and is replaced before it ends; see README, Issuers)"
        )
    api = settings.public_url(settings.api_host) + "/api/v1"
    lines.append(f"API base URL: {api}")
    lines.append(f"OpenAPI document: {api}/openapi.json")
    lines.append(f"Demo API key of {info.tenant.slug}: {api_key}")
    lines.append(f"Try: curl -H 'Authorization: Bearer {api_key}' {api}/customers")
    return lines
