"""Tenant API keys: created with 190+ random bits, shown once, stored as a SHA-256 hash."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from gateway.tenants.errors import InvalidApiKey, TenantNotFound
from gateway.tenants.models import TENANT_COLUMNS, Tenant
from kernel.db import Db
from kernel.ids import new_id

KEY_PREFIX = "gwk_"
_KEY_BYTES = 24  # 192 bits: a plain (unsalted) hash is enough, nothing to brute-force


@dataclass(frozen=True, kw_only=True)
class ApiKey:
    """What is known of a key after creation: never the secret itself."""

    id: str
    tenant_id: int
    name: str
    key_prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


def _hash(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


async def create_api_key(db: Db, *, tenant_id: int, name: str = "") -> tuple[ApiKey, str]:
    """A new key for the tenant: (its record, the secret to show once)."""
    secret = KEY_PREFIX + secrets.token_urlsafe(_KEY_BYTES)
    row = await db.fetchrow(
        """INSERT INTO tenant_api_keys (id, tenant_id, name, key_hash, key_prefix)
           SELECT $1, id, $3, $4, $5 FROM tenants WHERE id = $2
           RETURNING id, tenant_id, name, key_prefix, created_at, last_used_at, revoked_at""",
        new_id("key"),
        tenant_id,
        name[:200],
        _hash(secret),
        secret[: len(KEY_PREFIX) + 6],
    )
    if row is None:
        raise TenantNotFound(f"tenant {tenant_id}")
    return ApiKey(**dict(row)), secret


async def list_api_keys(db: Db, *, tenant_id: int) -> list[ApiKey]:
    rows = await db.fetch(
        """SELECT id, tenant_id, name, key_prefix, created_at, last_used_at, revoked_at
           FROM tenant_api_keys WHERE tenant_id = $1 ORDER BY created_at""",
        tenant_id,
    )
    return [ApiKey(**dict(row)) for row in rows]


async def revoke_api_key(db: Db, *, key_id: str, tenant_id: int | None = None) -> ApiKey:
    """Revoke a key (idempotent); with `tenant_id`, only that tenant's key."""
    row = await db.fetchrow(
        """UPDATE tenant_api_keys SET revoked_at = coalesce(revoked_at, now())
           WHERE id = $1 AND ($2::bigint IS NULL OR tenant_id = $2)
           RETURNING id, tenant_id, name, key_prefix, created_at, last_used_at, revoked_at""",
        key_id,
        tenant_id,
    )
    if row is None:
        raise TenantNotFound(f"API key {key_id}")
    return ApiKey(**dict(row))


async def authenticate(db: Db, secret: str) -> Tenant:
    """The tenant a bearer key belongs to; raises InvalidApiKey when unknown or revoked."""
    if not secret.startswith(KEY_PREFIX) or len(secret) > 200:
        raise InvalidApiKey("the API key is malformed")
    columns = ", ".join(f"t.{column.strip()}" for column in TENANT_COLUMNS.split(","))
    row = await db.fetchrow(
        f"""UPDATE tenant_api_keys k SET last_used_at = now()
            FROM tenants t
            WHERE k.key_hash = $1 AND k.revoked_at IS NULL AND t.id = k.tenant_id
              AND (k.last_used_at IS NULL OR k.last_used_at < now() - interval '1 minute')
            RETURNING {columns}""",
        _hash(secret),
    )
    if row is None:
        # Either unknown/revoked, or used within the last minute (no write needed then).
        row = await db.fetchrow(
            f"""SELECT {columns} FROM tenant_api_keys k JOIN tenants t ON t.id = k.tenant_id
                WHERE k.key_hash = $1 AND k.revoked_at IS NULL""",
            _hash(secret),
        )
    if row is None:
        raise InvalidApiKey()
    return Tenant.from_row(row)
