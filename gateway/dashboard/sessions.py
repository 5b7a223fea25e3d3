"""Settings-page sessions: an API key exchanged for a random token, and sign-in throttling.

Only the SHA-256 of a session token is stored, so a database leak opens no
session. A session lasts `SESSION_LIFETIME`, ends at sign-out, and ends as soon
as the API key it was opened with is revoked. Failed sign-ins are counted per
client address in the database, so every replica throttles the same guesser.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from gateway.tenants.api_keys import authenticate
from gateway.tenants.errors import InvalidApiKey
from gateway.tenants.models import Tenant
from kernel.db import Db

TOKEN_BYTES = 32
# A working day: long enough to configure a domain, short enough for a shared computer.
SESSION_LIFETIME = timedelta(hours=8)
# Failed sign-ins allowed per client address in THROTTLE_WINDOW before sign-in is refused.
MAX_FAILED_SIGN_INS = 10
THROTTLE_WINDOW = timedelta(minutes=15)


@dataclass(frozen=True, kw_only=True)
class DashboardSession:
    """A live session: whose it is and when it ends; `token_hash` is its stored identity."""

    token_hash: bytes
    tenant_id: int
    expires_at: datetime


def token_hash(token: str) -> bytes:
    """What the database keeps of a session token."""
    return hashlib.sha256(token.encode()).digest()


async def sign_in(db: Db, *, api_key: str) -> tuple[Tenant, str, DashboardSession]:
    """Exchange a live API key for a new session: (tenant, token for the cookie, session).

    Raises InvalidApiKey when the key is malformed, unknown or revoked.
    """
    tenant = await authenticate(db, api_key.strip())
    # tenant_api_keys stores SHA-256 of the whole key (gateway.tenants.api_keys).
    key_id = await db.fetchval(
        "SELECT id FROM tenant_api_keys WHERE tenant_id = $1 AND key_hash = $2"
        " AND revoked_at IS NULL",
        tenant.id,
        hashlib.sha256(api_key.strip().encode()).digest(),
    )
    if key_id is None:  # revoked between the two reads
        raise InvalidApiKey()
    # Housekeeping: sessions ended a day ago are of no use to anyone.
    await db.execute("DELETE FROM dashboard_sessions WHERE expires_at < now() - interval '1 day'")
    token = secrets.token_urlsafe(TOKEN_BYTES)
    row = await db.fetchrow(
        "INSERT INTO dashboard_sessions (token_hash, tenant_id, api_key_id, expires_at)"
        " VALUES ($1, $2, $3, now() + make_interval(secs => $4))"
        " RETURNING token_hash, tenant_id, expires_at",
        token_hash(token),
        tenant.id,
        key_id,
        SESSION_LIFETIME.total_seconds(),
    )
    assert row is not None  # INSERT ... RETURNING returns the row
    return tenant, token, DashboardSession(**dict(row))


async def resolve_session(db: Db, token: str) -> DashboardSession | None:
    """The live session `token` opens; None when unknown, expired, signed out or key revoked."""
    if not token or len(token) > 256:
        return None
    row = await db.fetchrow(
        """SELECT s.token_hash, s.tenant_id, s.expires_at
           FROM dashboard_sessions s
           JOIN tenant_api_keys k ON k.id = s.api_key_id AND k.tenant_id = s.tenant_id
           WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > now()
             AND k.revoked_at IS NULL""",
        token_hash(token),
    )
    return None if row is None else DashboardSession(**dict(row))


async def sign_out(db: Db, session: DashboardSession) -> None:
    """End the session now (idempotent); the cookie no longer opens anything."""
    await db.execute(
        "UPDATE dashboard_sessions SET revoked_at = coalesce(revoked_at, now())"
        " WHERE tenant_id = $1 AND token_hash = $2",
        session.tenant_id,
        session.token_hash,
    )


async def seconds_until_allowed(db: Db, *, client_address: str) -> int:
    """0 when `client_address` may try to sign in; else how many seconds it must wait."""
    row = await db.fetchrow(
        """SELECT count(*) AS failures, min(failed_at) AS oldest,
                  extract(epoch FROM min(failed_at) + make_interval(secs => $2) - now()) AS wait
           FROM (SELECT failed_at FROM dashboard_sign_in_failures
                 WHERE client_address = $1 AND failed_at > now() - make_interval(secs => $2)
                 ORDER BY failed_at DESC LIMIT $3) recent""",
        client_address[:64],
        THROTTLE_WINDOW.total_seconds(),
        MAX_FAILED_SIGN_INS,
    )
    assert row is not None  # the upsert returns its row
    if row["failures"] < MAX_FAILED_SIGN_INS:
        return 0
    return max(1, int(row["wait"]) + 1)


async def record_failed_sign_in(db: Db, *, client_address: str) -> None:
    """Count a failed sign-in for `client_address`; failures older than the window are dropped."""
    await db.execute(
        "DELETE FROM dashboard_sign_in_failures"
        " WHERE failed_at < now() - make_interval(secs => $1)",
        THROTTLE_WINDOW.total_seconds(),
    )
    await db.execute(
        "INSERT INTO dashboard_sign_in_failures (client_address) VALUES ($1)",
        client_address[:64],
    )
