"""Idempotency-Key on POST: the first successful response is replayed for 24 hours.

A key is claimed by inserting a row before the handler runs, so two requests
racing with one key run the handler once; the loser gets 409 while the first
is in flight and the stored response afterwards. A key reused with another
method, path or body is a 409. A failed request (4xx, 5xx) releases the key:
it changed nothing, so a corrected retry may run.

Stored responses are sealed with the KEK: a replayed body may hold a secret
shown once (a signed portal link, a webhook secret), and a dump of this table
must not reveal it.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

from gateway.api.problems import InvalidRequest
from gateway.errors import Conflict
from kernel.sealing import Sealer

KEEP_HOURS = 24
# A claim whose request never finished (crashed replica) may be retaken after this.
STALE_CLAIM_SECONDS = 60


async def run_once(
    pool: Any,
    sealer: Sealer,
    *,
    tenant_id: int,
    key: str,
    method: str,
    path: str,
    body: bytes,
    run: Callable[[], Awaitable[tuple[int, Any]]],
) -> tuple[int, Any, bool]:
    """(status, payload, replayed) for the request identified by `key`."""
    if not 1 <= len(key) <= 255 or not key.isprintable():
        raise InvalidRequest.field(
            "Idempotency-Key", "invalid", "must be 1 to 255 printable characters"
        )
    digest = hashlib.sha256(method.encode() + b"\0" + path.encode() + b"\0" + body).digest()
    if not await _claim(
        pool, tenant_id=tenant_id, key=key, method=method, path=path, digest=digest
    ):
        status, payload = await _stored(pool, sealer, tenant_id=tenant_id, key=key, digest=digest)
        return status, payload, True
    try:
        status, payload = await run()
    except BaseException:
        await pool.execute(
            "DELETE FROM api_idempotency_keys WHERE tenant_id = $1 AND key = $2", tenant_id, key
        )
        raise
    await pool.execute(
        """UPDATE api_idempotency_keys SET status = $3, response = $4
           WHERE tenant_id = $1 AND key = $2""",
        tenant_id,
        key,
        status,
        _seal(sealer, payload, tenant_id, key),
    )
    return status, payload, False


async def _claim(
    pool: Any, *, tenant_id: int, key: str, method: str, path: str, digest: bytes
) -> bool:
    """Take the key for this request: new, expired, or left behind by a crashed request."""
    claimed = await pool.fetchval(
        """INSERT INTO api_idempotency_keys (tenant_id, key, method, path, request_hash)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (tenant_id, key) DO UPDATE
               SET method = EXCLUDED.method, path = EXCLUDED.path,
                   request_hash = EXCLUDED.request_hash, status = NULL, response = NULL,
                   created_at = now()
               WHERE api_idempotency_keys.created_at < now() - make_interval(hours => $6)
                  OR (api_idempotency_keys.status IS NULL
                      AND api_idempotency_keys.created_at
                          < now() - make_interval(secs => $7))
           RETURNING true""",
        tenant_id,
        key,
        method,
        path,
        digest,
        KEEP_HOURS,
        STALE_CLAIM_SECONDS,
    )
    return bool(claimed)


async def _stored(
    pool: Any, sealer: Sealer, *, tenant_id: int, key: str, digest: bytes
) -> tuple[int, Any]:
    """The first response for a key someone else holds, or Conflict saying why there is none."""
    row = await pool.fetchrow(
        """SELECT request_hash, status, response FROM api_idempotency_keys
           WHERE tenant_id = $1 AND key = $2""",
        tenant_id,
        key,
    )
    if row is None:  # released between our insert and this read: the caller may retry
        raise Conflict("a request with this Idempotency-Key just failed; retry it")
    if bytes(row["request_hash"]) != digest:
        raise Conflict(
            "this Idempotency-Key was used for a different request",
            errors={"Idempotency-Key": "already used with another method, path or body"},
        )
    if row["status"] is None:
        raise Conflict("a request with this Idempotency-Key is still in progress")
    return row["status"], _open(sealer, row["response"], tenant_id, key)


def _purpose(tenant_id: int, key: str) -> str:
    return f"idempotency:{tenant_id}:{hashlib.sha256(key.encode()).hexdigest()}"


def _seal(sealer: Sealer, payload: Any, tenant_id: int, key: str) -> dict[str, str]:
    sealed = sealer.seal(json.dumps(payload).encode(), _purpose(tenant_id, key))
    return {"sealed": base64.b64encode(sealed).decode()}


def _open(sealer: Sealer, stored: Any, tenant_id: int, key: str) -> Any:
    sealed = base64.b64decode(stored["sealed"])
    return json.loads(sealer.open(sealed, _purpose(tenant_id, key)))
