"""A tenant's brand icon: stored once its type (from the bytes) and size are checked, read back."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from gateway.tenants.brand import sniff_icon_type
from gateway.tenants.errors import TenantNotFound
from gateway.tenants.models import TENANT_COLUMNS, Tenant
from kernel.db import Db


async def set_icon(db: Db, *, tenant_id: int, data: bytes, max_bytes: int) -> Tenant:
    """Replace the tenant's icon after checking its type from the bytes and its size."""
    content_type = sniff_icon_type(data, max_bytes=max_bytes)
    etag = hashlib.sha256(data).hexdigest()[:32]
    row = await db.fetchrow(
        "UPDATE tenants SET icon = $2, icon_type = $3, icon_etag = $4, updated_at = now() "
        f"WHERE id = $1 RETURNING {TENANT_COLUMNS}",
        tenant_id,
        data,
        content_type,
        etag,
    )
    if row is None:
        raise TenantNotFound(f"tenant {tenant_id}")
    return Tenant.from_row(row)


async def remove_icon(db: Db, *, tenant_id: int) -> Tenant:
    """Remove the tenant's icon (it has none afterwards, whether or not it had one)."""
    row = await db.fetchrow(
        "UPDATE tenants SET icon = NULL, icon_type = NULL, icon_etag = NULL, updated_at = now() "
        f"WHERE id = $1 RETURNING {TENANT_COLUMNS}",
        tenant_id,
    )
    if row is None:
        raise TenantNotFound(f"tenant {tenant_id}")
    return Tenant.from_row(row)


@dataclass(frozen=True, kw_only=True)
class TenantIcon:
    """An icon as served: its bytes, media type and entity tag."""

    data: bytes
    content_type: str
    etag: str | None


async def tenant_icon(db: Db, *, tenant_id: int) -> TenantIcon | None:
    """The tenant's icon as stored now, or None when it has none (or no such tenant)."""
    row = await db.fetchrow(
        "SELECT icon, icon_type, icon_etag FROM tenants WHERE id = $1", tenant_id
    )
    if row is None or row["icon"] is None:
        return None
    return TenantIcon(data=row["icon"], content_type=row["icon_type"], etag=row["icon_etag"])
