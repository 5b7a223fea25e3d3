"""Pending ACME challenge answers in PostgreSQL, so every replica can answer the CA's validator.

The issuer writes a key authorization before telling the CA to validate and
deletes it afterwards; the port-80 handler (HTTP-01, RFC 8555 section 8.3) and
the TLS-ALPN-01 responder (RFC 8737) of any replica read it. Each answer
carries an expiry, so one left behind by a crashed process stops being served
and `purge_expired` can drop it. The table holds no tenant data: tokens and
key authorizations are what the CA and the validator see anyway.
"""

from __future__ import annotations

from datetime import timedelta

from kernel.db import Db

HTTP_01 = "http-01"
TLS_ALPN_01 = "tls-alpn-01"
KINDS = (HTTP_01, TLS_ALPN_01)
# Long enough for a CA's validation (seconds), short enough that a leftover soon goes.
DEFAULT_TTL = timedelta(minutes=15)


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"challenge kind must be one of {', '.join(KINDS)}, not {kind!r}")


class ChallengeStore:
    """Reads and writes table acme_challenges; holds no state of its own."""

    async def put(
        self,
        db: Db,
        *,
        kind: str,
        name: str,
        token: str,
        key_authorization: str,
        ttl: timedelta = DEFAULT_TTL,
    ) -> None:
        """Store (or replace) the answer to one challenge, valid for `ttl`."""
        _check_kind(kind)
        await db.execute(
            """
            INSERT INTO acme_challenges (token, name, kind, key_authorization, expires_at)
            VALUES ($1, $2, $3, $4, now() + $5::interval)
            ON CONFLICT (kind, name, token) DO UPDATE
                SET key_authorization = EXCLUDED.key_authorization,
                    expires_at = EXCLUDED.expires_at,
                    created_at = now()
            """,
            token,
            name.lower(),
            kind,
            key_authorization,
            ttl,
        )

    async def get(self, db: Db, *, kind: str, name: str, token: str) -> str | None:
        """The key authorization for this challenge, or None when unknown or expired."""
        _check_kind(kind)
        value: str | None = await db.fetchval(
            """
            SELECT key_authorization FROM acme_challenges
            WHERE kind = $1 AND name = $2 AND token = $3 AND expires_at > now()
            """,
            kind,
            name.lower(),
            token,
        )
        return value

    async def delete(self, db: Db, *, kind: str, name: str, token: str) -> None:
        """Forget one challenge's answer (nothing happens when it is already gone)."""
        _check_kind(kind)
        await db.execute(
            "DELETE FROM acme_challenges WHERE kind = $1 AND name = $2 AND token = $3",
            kind,
            name.lower(),
            token,
        )

    async def tls_alpn01_key_authorization(self, db: Db, name: str) -> str | None:
        """The newest unexpired TLS-ALPN-01 answer for `name` (the SNI of the validation).

        The validator's handshake carries only the name, not the token, so the
        newest answer wins; one order at a time per name (the issuer's lock)
        keeps that unambiguous.
        """
        value: str | None = await db.fetchval(
            """
            SELECT key_authorization FROM acme_challenges
            WHERE kind = $1 AND name = $2 AND expires_at > now()
            ORDER BY created_at DESC
            LIMIT 1
            """,
            TLS_ALPN_01,
            name.lower(),
        )
        return value

    async def purge_expired(self, db: Db) -> int:
        """Delete every expired answer; returns how many went."""
        result: str = await db.execute("DELETE FROM acme_challenges WHERE expires_at <= now()")
        return int(result.rsplit(" ", 1)[-1])


async def http01_response(db: Db, token: str, *, name: str | None = None) -> str | None:
    """The body to serve at /.well-known/acme-challenge/{token}, or None (answer 404).

    `name` is the request's canonical host; when given, only an answer for that
    name is served. Tokens carry at least 128 random bits (RFC 8555 section
    8.3), so the token alone also identifies one challenge.
    """
    if name is None:
        value: str | None = await db.fetchval(
            """
            SELECT key_authorization FROM acme_challenges
            WHERE kind = $1 AND token = $2 AND expires_at > now()
            ORDER BY created_at DESC
            LIMIT 1
            """,
            HTTP_01,
            token,
        )
        return value
    return await ChallengeStore().get(db, kind=HTTP_01, name=name, token=token)
