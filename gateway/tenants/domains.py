"""Custom domains of tenants: validate and claim a name, list, read and remove it.

The lifecycle of a claimed domain (DNS checks, certificates, renewal) lives in
`gateway.tenants.lifecycle`; this module only owns the rows' identity.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from gateway.ids import new_id
from gateway.tenants.errors import InvalidTenantInput, TenantConflict, TenantNotFound

Db = Any  # an asyncpg Pool, Connection or pooled connection

MAX_NAME_LENGTH = 253  # RFC 1035 section 2.3.4, without the final dot
MAX_LABEL_LENGTH = 63
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
# NOTIFY channel that wakes every replica's domain worker (payload: the domain id).
DUE_CHANNEL = "gateway_domains_due"
DOMAIN_COLUMNS = (
    "id, tenant_id, name, status, failure_reason, diagnosis, attempts, next_check_at, "
    "last_checked_at, verified_at, moved_at, created_at, updated_at"
)


@dataclass(frozen=True, kw_only=True)
class Domain:
    id: str
    tenant_id: int
    name: str
    status: str
    failure_reason: str | None
    diagnosis: Any
    attempts: int
    next_check_at: datetime | None
    last_checked_at: datetime | None
    verified_at: datetime | None
    moved_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> Domain:
        return cls(**dict(row))


def _invalid(message: str) -> InvalidTenantInput:
    return InvalidTenantInput({"name": message})


def normalise_domain(name: object, *, base_domain: str) -> str:
    """A custom domain in canonical form (lower case, A-labels) or InvalidTenantInput saying why.

    Refused: empty or over-long names, labels over 63 characters, IP literals,
    wildcards, single labels, and names under the gateway's own base domain.
    """
    if not isinstance(name, str) or not name.strip():
        raise _invalid("give a domain name such as billing.example.com")
    text = name.strip().lower()
    if text.endswith("."):
        text = text[:-1]
    if "*" in text:
        raise _invalid("wildcard names are not supported; add each name on its own")
    if _is_ip_literal(text):
        raise _invalid("give a domain name, not an IP address")
    if len(text) > MAX_NAME_LENGTH:
        raise _invalid(f"a domain name has at most {MAX_NAME_LENGTH} characters")
    if text.isascii() and any(len(label) > MAX_LABEL_LENGTH for label in text.split(".")):
        raise _invalid(f"each part of a domain name has at most {MAX_LABEL_LENGTH} characters")
    try:
        text = text.encode("idna").decode("ascii")
    except UnicodeError:
        raise _invalid(f"{name!r} is not a valid domain name") from None
    labels = text.split(".")
    if len(text) > MAX_NAME_LENGTH:
        raise _invalid(f"a domain name has at most {MAX_NAME_LENGTH} characters")
    if any(len(label) > MAX_LABEL_LENGTH for label in labels):
        raise _invalid(f"each part of a domain name has at most {MAX_LABEL_LENGTH} characters")
    if len(labels) < 2:
        raise _invalid("give a full domain name such as billing.example.com")
    if not all(_LABEL.match(label) for label in labels):
        raise _invalid(
            f"{name!r} is not a valid domain name: use letters, digits and hyphens between dots"
        )
    if labels[-1].isdigit():
        raise _invalid("give a domain name, not an IP address")
    if text == base_domain or text.endswith("." + base_domain):
        raise _invalid(f"names under {base_domain} are the gateway's own; use your own domain")
    return text


def _is_ip_literal(text: str) -> bool:
    candidate = text.strip("[]")
    try:
        ipaddress.ip_address(candidate)
    except ValueError:
        return False
    return True


async def add_domain(db: Db, *, tenant_id: int, name: str, base_domain: str) -> Domain:
    """Claim a custom domain for the tenant in state pending_dns, due for a check now.

    Raises InvalidTenantInput for a bad name and TenantConflict when any tenant
    (this one included) has claimed it already; nothing is stored then.
    """
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
            f"{canonical} is already claimed; it must be removed there first", field="name"
        ) from None
    await db.execute("SELECT pg_notify($1, $2)", DUE_CHANNEL, row["id"])
    return Domain.from_row(row)


async def list_domains(db: Db, *, tenant_id: int) -> list[Domain]:
    rows = await db.fetch(
        f"SELECT {DOMAIN_COLUMNS} FROM domains WHERE tenant_id = $1 ORDER BY name", tenant_id
    )
    return [Domain.from_row(row) for row in rows]


def _lookup_name(name: str) -> str:
    text = name.strip().lower()
    return text[:-1] if text.endswith(".") else text


async def get_domain(db: Db, *, tenant_id: int, name: str) -> Domain:
    row = await db.fetchrow(
        f"SELECT {DOMAIN_COLUMNS} FROM domains WHERE tenant_id = $1 AND name = $2",
        tenant_id,
        _lookup_name(name),
    )
    if row is None:
        raise TenantNotFound(f"domain {name}")
    return Domain.from_row(row)


async def find_domain(db: Db, name: str) -> Domain:
    """The domain called `name`, whichever tenant claimed it (operators' CLI only)."""
    row = await db.fetchrow(
        f"SELECT {DOMAIN_COLUMNS} FROM domains WHERE name = $1", _lookup_name(name)
    )
    if row is None:
        raise TenantNotFound(f"domain {name}")
    return Domain.from_row(row)


async def delete_domain(db: Db, *, tenant_id: int, name: str) -> None:
    result = await db.execute(
        "DELETE FROM domains WHERE tenant_id = $1 AND name = $2",
        tenant_id,
        _lookup_name(name),
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
