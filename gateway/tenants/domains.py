"""Custom domains of tenants: validate and claim a name, list, read and remove it.

The lifecycle of a claimed domain (DNS checks, certificates, renewal) lives in
`gateway.tenants.lifecycle`; this module only owns the rows' identity.
"""

from __future__ import annotations

import ipaddress
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from gateway.settings import Settings
from gateway.tenants.errors import InvalidTenantInput, TenantConflict, TenantNotFound
from gateway.tenants.hostnames import InvalidHostName, normalise_host_name
from gateway.tenants.models import Tenant
from kernel.db import Db
from kernel.ids import new_id

# The TXT record that proves a claim: _gateway-verify.<name> holding the claim's token.
PROOF_RECORD_PREFIX = "_gateway-verify."
DEFAULT_CLAIM_LIFETIME = timedelta(days=7)
# NOTIFY channel that wakes every replica's domain worker (payload: the domain id).
DUE_CHANNEL = "gateway_domains_due"
# Custom domains in these states may get a certificate at handshake time.
ISSUABLE_STATUSES = frozenset({"verified", "issuing", "active", "renewing"})
DOMAIN_COLUMNS = (
    "id, tenant_id, name, status, failure_reason, diagnosis, attempts, next_check_at, "
    "last_checked_at, verified_at, moved_at, created_at, updated_at, proof_token, proven_at, "
    "claim_expires_at"
)


@dataclass(frozen=True, kw_only=True)
class Domain:
    """A tenant's claim on a name; served only once proven (`proven_at`).

    An unproven claim blocks no one and is removed at `claim_expires_at`.
    """

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
    proof_token: str
    proven_at: datetime | None
    claim_expires_at: datetime | None

    @classmethod
    def from_row(cls, row: Any) -> Domain:
        return cls(**dict(row))

    @property
    def proof_record_name(self) -> str:
        """Where the TXT record proving this claim lives."""
        return proof_record_name(self.name)

    def claim_expired(self, now: datetime) -> bool:
        """Whether this claim was never proven and its time is up."""
        return (
            self.proven_at is None
            and self.claim_expires_at is not None
            and self.claim_expires_at <= now
        )


def proof_record_name(name: str) -> str:
    return PROOF_RECORD_PREFIX + name


def new_proof_token() -> str:
    """128 random bits as 32 lower-case hex digits (the TXT value proving one claim)."""
    return secrets.token_hex(16)


def _invalid(message: str) -> InvalidTenantInput:
    return InvalidTenantInput({"name": message}, {"name": "invalid_domain"})


def normalise_domain(name: object, *, base_domain: str) -> str:
    """A custom domain in canonical form (lower case, A-labels) or InvalidTenantInput saying why.

    The spelling is `gateway.tenants.hostnames.normalise_host_name` (IDNA 2008, UTS #46),
    the one Host and SNI go through. Refused besides: IP literals, wildcards,
    single labels, and names under the gateway's own base domain.
    """
    if not isinstance(name, str) or not name.strip():
        raise _invalid("give a domain name such as billing.example.com")
    text = name.strip()
    if "*" in text:
        raise _invalid("wildcard names are not supported; add each name on its own")
    if _is_ip_literal(text.rstrip(".")):
        raise _invalid("give a domain name, not an IP address")
    try:
        canonical = normalise_host_name(text)
    except InvalidHostName as error:
        raise _invalid(f"{name!r} is not a valid domain name: {error}") from None
    labels = canonical.split(".")
    if len(labels) < 2:
        raise _invalid("give a full domain name such as billing.example.com")
    if labels[-1].isdigit():
        raise _invalid("give a domain name, not an IP address")
    if canonical == base_domain or canonical.endswith("." + base_domain):
        raise _invalid(f"names under {base_domain} are the gateway's own; use your own domain")
    return canonical


def _is_ip_literal(text: str) -> bool:
    candidate = text.strip("[]")
    try:
        ipaddress.ip_address(candidate)
    except ValueError:
        return False
    return True


async def add_domain(
    db: Db,
    *,
    tenant_id: int,
    name: str,
    base_domain: str,
    claim_lifetime: timedelta = DEFAULT_CLAIM_LIFETIME,
) -> Domain:
    """Claim a custom domain for the tenant in state pending_dns, due for a check now.

    The claim gets its own proof token and must be proven (a TXT record at
    `_gateway-verify.<name>` holding it) within `claim_lifetime`. Other tenants'
    claims on the name, proven or not, never stop a claim and are never
    mentioned: whoever proves the name holds it. Raises InvalidTenantInput for a
    bad name and TenantConflict when this tenant has claimed the name already.
    """
    canonical = normalise_domain(name, base_domain=base_domain)
    # Expired claims free the name now, whether or not the worker has removed them yet.
    await db.execute(
        "DELETE FROM domains WHERE name = $1 AND proven_at IS NULL AND claim_expires_at <= now()",
        canonical,
    )
    try:
        row = await db.fetchrow(
            f"""INSERT INTO domains (id, tenant_id, name, next_check_at, proof_token,
                                     claim_expires_at)
                VALUES ($1, $2, $3, now(), $4, now() + $5::interval) RETURNING {DOMAIN_COLUMNS}""",
            new_id("dom"),
            tenant_id,
            canonical,
            new_proof_token(),
            claim_lifetime,
        )
    except asyncpg.UniqueViolationError:
        # Only (tenant_id, name) is unique among claims: this is the tenant's own.
        raise TenantConflict(f"you have already added {canonical}", field="name") from None
    assert row is not None  # INSERT ... RETURNING returns the row
    await db.execute("SELECT pg_notify($1, $2)", DUE_CHANNEL, row["id"])
    return Domain.from_row(row)


async def list_domains(db: Db, *, tenant_id: int) -> list[Domain]:
    rows = await db.fetch(
        f"SELECT {DOMAIN_COLUMNS} FROM domains WHERE tenant_id = $1 ORDER BY name", tenant_id
    )
    return [Domain.from_row(row) for row in rows]


def _lookup_name(name: str) -> str:
    text = name.strip()
    try:
        return normalise_host_name(text)
    except InvalidHostName:
        return text.lower()  # matches nothing stored; the caller answers "no domain"


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
    """The domain called `name`, whichever tenant claimed it (operators' CLI only).

    Several tenants may claim one name: the proven claim comes first, else the oldest.
    """
    row = await db.fetchrow(
        f"""SELECT {DOMAIN_COLUMNS} FROM domains WHERE name = $1
            ORDER BY proven_at IS NULL, created_at LIMIT 1""",
        _lookup_name(name),
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


async def issuable_domain_id(db: Db, *, tenant_id: int, name: str) -> str | None:
    """The id of the tenant's custom domain `name` when a handshake may issue for it, else None.

    DESIGN.md: handshake-time issuance is a fallback for names verified in the
    database, never for a name a stranger points at us.
    """
    row = await db.fetchrow(
        "SELECT id, status FROM domains WHERE name = $1 AND tenant_id = $2", name, tenant_id
    )
    if row is None or row["status"] not in ISSUABLE_STATUSES:
        return None
    domain_id: str = row["id"]
    return domain_id


def portal_base_url(settings: Settings, tenant: Tenant, custom_domain: str | None) -> str:
    """Base URL of the tenant's portal: its active custom domain, else its default host."""
    if custom_domain is not None:
        return f"https://{custom_domain}"
    return settings.public_url(f"{tenant.slug}.{settings.base_domain}")
