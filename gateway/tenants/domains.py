"""Custom domains of tenants: add, list, get, remove (the lifecycle arrives with TLS)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from gateway.ids import new_id
from gateway.tenants.errors import InvalidTenantInput, TenantConflict, TenantNotFound

Db = Any  # an asyncpg Pool, Connection or pooled connection

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
DOMAIN_COLUMNS = (
    "id, name, status, failure_reason, diagnosis, next_check_at, last_checked_at, "
    "verified_at, created_at, updated_at"
)


@dataclass(frozen=True, kw_only=True)
class Domain:
    id: str
    name: str
    status: str
    failure_reason: str | None
    diagnosis: Any
    next_check_at: datetime | None
    last_checked_at: datetime | None
    verified_at: datetime | None
    created_at: datetime
    updated_at: datetime


def normalise_domain(name: object, *, base_domain: str) -> str:
    """A custom domain in canonical form (lower case, A-labels) or InvalidTenantInput."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidTenantInput({"name": "give a domain name such as billing.example.com"})
    text = name.strip().rstrip(".").lower()
    try:
        text = text.encode("idna").decode("ascii")
    except UnicodeError:
        raise InvalidTenantInput({"name": f"{name!r} is not a valid domain name"}) from None
    labels = text.split(".")
    if len(text) > 253 or len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        raise InvalidTenantInput({"name": f"{name!r} is not a valid domain name"})
    if labels[-1].isdigit():
        raise InvalidTenantInput({"name": "give a domain name, not an IP address"})
    if text == base_domain or text.endswith("." + base_domain):
        raise InvalidTenantInput(
            {"name": f"names under {base_domain} are the gateway's own; use your own domain"}
        )
    return text


async def add_domain(db: Db, *, tenant_id: int, name: str, base_domain: str) -> Domain:
    """Register a custom domain for the tenant in state pending_dns."""
    canonical = normalise_domain(name, base_domain=base_domain)
    try:
        row = await db.fetchrow(
            f"""INSERT INTO domains (id, tenant_id, name, next_check_at)
                VALUES ($1, $2, $3, now()) RETURNING {DOMAIN_COLUMNS}""",
            new_id("dom"),
            tenant_id,
            canonical,
        )
    except asyncpg.UniqueViolationError:
        raise TenantConflict(
            f"{canonical} is already registered; remove it there first", field="name"
        ) from None
    return Domain(**dict(row))


async def list_domains(db: Db, *, tenant_id: int) -> list[Domain]:
    rows = await db.fetch(
        f"SELECT {DOMAIN_COLUMNS} FROM domains WHERE tenant_id = $1 ORDER BY name", tenant_id
    )
    return [Domain(**dict(row)) for row in rows]


async def get_domain(db: Db, *, tenant_id: int, name: str) -> Domain:
    row = await db.fetchrow(
        f"SELECT {DOMAIN_COLUMNS} FROM domains WHERE tenant_id = $1 AND name = $2",
        tenant_id,
        name.strip().rstrip(".").lower(),
    )
    if row is None:
        raise TenantNotFound(f"domain {name}")
    return Domain(**dict(row))


async def delete_domain(db: Db, *, tenant_id: int, name: str) -> None:
    result = await db.execute(
        "DELETE FROM domains WHERE tenant_id = $1 AND name = $2",
        tenant_id,
        name.strip().rstrip(".").lower(),
    )
    if result == "DELETE 0":
        raise TenantNotFound(f"domain {name}")


async def active_domain(db: Db, *, tenant_id: int) -> str | None:
    """The tenant's active custom domain (the first by name), if any."""
    name: str | None = await db.fetchval(
        """SELECT name FROM domains WHERE tenant_id = $1 AND status IN ('active', 'renewing')
           ORDER BY name LIMIT 1""",
        tenant_id,
    )
    return name
