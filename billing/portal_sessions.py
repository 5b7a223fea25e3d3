"""Signed portal links: bearer tokens that open one customer's portal until they expire.

Only the SHA-256 of a token is stored, so a database leak hands out no working
links. A session's public id is that hash in hex: the tenant can revoke a link
without the token ever being shown again.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from billing.customers import get_customer
from billing.errors import NotFound
from kernel.db import Db

TOKEN_BYTES = 32
# The schema bounds a tenant's TTL to this range too.
MIN_TTL_SECONDS = 60
MAX_TTL_SECONDS = 30 * 86400


class PortalLinkInvalid(NotFound):
    """The token is unknown, expired or revoked; `reason` says which, for the log."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__("portal session", reason)


@dataclass(frozen=True, kw_only=True)
class PortalSession:
    id: str
    customer_id: str
    expires_at: datetime
    revoked_at: datetime | None
    created_at: datetime


def token_hash(token: str) -> bytes:
    """What the database keeps of a token."""
    return hashlib.sha256(token.encode()).digest()


def session_id(token: str) -> str:
    """The public id of the session `token` opens (hex SHA-256)."""
    return token_hash(token).hex()


async def create_portal_session(
    db: Db, *, tenant_id: int, customer_id: str, ttl_seconds: int
) -> tuple[str, datetime]:
    """A new token for `customer_id`'s portal and when it expires; NotFound for unknown ids."""
    if not MIN_TTL_SECONDS <= ttl_seconds <= MAX_TTL_SECONDS:
        raise ValueError(f"ttl_seconds must be from {MIN_TTL_SECONDS} to {MAX_TTL_SECONDS}")
    customer = await get_customer(db, tenant_id=tenant_id, customer_id=customer_id)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    expires_at: datetime = await db.fetchval(
        "INSERT INTO portal_sessions (token_hash, tenant_id, customer_id, expires_at)"
        " VALUES ($1, $2, $3, now() + make_interval(secs => $4)) RETURNING expires_at",
        token_hash(token),
        tenant_id,
        customer.id,
        float(ttl_seconds),
    )
    return token, expires_at


async def resolve_session(db: Db, *, tenant_id: int, token: str) -> PortalSession:
    """The live session `token` opens; PortalLinkInvalid if unknown, expired or revoked."""
    if not token or len(token) > 256:
        raise PortalLinkInvalid("unknown")
    row = await db.fetchrow(
        "SELECT customer_id, expires_at, expires_at <= now() AS expired, revoked_at, created_at"
        " FROM portal_sessions WHERE tenant_id = $1 AND token_hash = $2",
        tenant_id,
        token_hash(token),
    )
    if row is None:
        raise PortalLinkInvalid("unknown")
    if row["revoked_at"] is not None:
        raise PortalLinkInvalid("revoked")
    if row["expired"]:
        raise PortalLinkInvalid("expired")
    return PortalSession(
        id=session_id(token),
        customer_id=row["customer_id"],
        expires_at=row["expires_at"],
        revoked_at=None,
        created_at=row["created_at"],
    )


async def resolve(db: Db, *, tenant_id: int, token: str) -> str:
    """The customer id `token` opens; PortalLinkInvalid if unknown, expired or revoked."""
    return (await resolve_session(db, tenant_id=tenant_id, token=token)).customer_id


async def revoke(db: Db, *, tenant_id: int, customer_id: str, session_id: str) -> PortalSession:
    """Revoke one of `customer_id`'s sessions by id (idempotent); NotFound for unknown ids."""
    try:
        digest = bytes.fromhex(session_id)
    except ValueError:
        raise NotFound("portal session", session_id) from None
    if len(digest) != 32:
        raise NotFound("portal session", session_id)
    row = await db.fetchrow(
        "UPDATE portal_sessions SET revoked_at = coalesce(revoked_at, now())"
        " WHERE tenant_id = $1 AND customer_id = $2 AND token_hash = $3"
        " RETURNING customer_id, expires_at, revoked_at, created_at",
        tenant_id,
        customer_id,
        digest,
    )
    if row is None:
        raise NotFound("portal session", session_id)
    return PortalSession(
        id=session_id,
        customer_id=row["customer_id"],
        expires_at=row["expires_at"],
        revoked_at=row["revoked_at"],
        created_at=row["created_at"],
    )
