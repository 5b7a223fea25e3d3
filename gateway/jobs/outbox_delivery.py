"""Delivers the outbox: POSTs each due event to its tenant's webhook URL, signed, until accepted.

Claiming: one statement picks due rows with `FOR UPDATE SKIP LOCKED` and, in
the same statement, leases them (moves `next_attempt_at` past the request
timeout and counts the attempt). Replicas running this at once therefore never
claim the same row, and nothing is held open during the HTTP call. A process
that dies mid-delivery loses nothing: the lease runs out and another attempt
follows. Delivery is at least once; tenants deduplicate on `Gateway-Event-Id`.

Signature: `Gateway-Signature: t=<unix time>,v1=<hex HMAC-SHA256>` over
`f"{t}.{body}"` under the tenant's webhook signing secret (the secret the API
serves at `/api/v1/settings/webhook_secret`), the scheme Stripe uses, so a
tenant verifies it the same way and refuses stale timestamps.

Only a 2xx answer counts as delivered; anything else (an error status, a
timeout, a refused connection) is retried with exponential backoff up to
`max_backoff_seconds`. Events of a tenant with no webhook URL or no signing
secret wait until both exist.

Requests go through `gateway.jobs.webhook_client`: https to public addresses only
(checked on the addresses connected to), no redirects, at most 64 KiB of the
answer read, one deadline for the whole request. A refused URL or address is
recorded as the attempt's error and retried like any failure, so a tenant who
fixes the URL loses no event.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import aiohttp
import asyncpg
from aiohttp import web

from billing.outbox import NOTIFY_CHANNEL
from gateway.edge import keys
from gateway.jobs.webhook_client import WebhookClient
from gateway.tenants.registry import webhook_secret
from gateway.tenants.webhook_urls import WebhookUrlRefused
from kernel import clock
from kernel.background import run_passes_on_notify, stop_tasks
from kernel.sealing import Sealer

logger = logging.getLogger(__name__)

# How long shutdown waits for a delivery in flight before cutting it.
SHUTDOWN_GRACE_SECONDS = 15.0

SIGNATURE_HEADER = "Gateway-Signature"
EVENT_ID_HEADER = "Gateway-Event-Id"
USER_AGENT = "billing-edge-gateway-webhooks/1"
# Retries wait 30 s, 1 min, 2 min, ... up to a day (Stripe retries for three days).
RETRY_BASE_SECONDS = 30.0
MAX_BACKOFF_SECONDS = 24 * 3600.0
MAX_ERROR_LENGTH = 500


def signature_header(body: bytes, *, secret: str, timestamp: int | None = None) -> str:
    """The `Gateway-Signature` value for `body` (also what a tenant recomputes to verify)."""
    moment = clock.unix_seconds() if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{moment}.".encode() + body, hashlib.sha256)
    return f"t={moment},v1={digest.hexdigest()}"


def backoff_seconds(attempts: int, *, base: float, maximum: float) -> float:
    """Wait after the `attempts`-th failed attempt: base, 2 x base, 4 x base, ... capped."""
    return float(min(maximum, base * 2 ** max(0, min(attempts - 1, 30))))


def event_body(row: Any) -> bytes:
    """The JSON the tenant receives: the event's id, type, creation time and data."""
    document = {
        "id": row["id"],
        "object": "event",
        "type": row["type"],
        "created_at": row["created_at"].isoformat(),
        "data": row["payload"],
    }
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()


@dataclass(frozen=True, kw_only=True)
class DeliveryResult:
    event_id: str
    delivered: bool
    error: str | None


class OutboxDelivery:
    """Sends due outbox events; `run_due` is one pass, `run_forever` the background loop.

    Blocks only on the database and on the tenants' webhook endpoints (each
    request bounded by `timeout_seconds` in all). `close` releases the HTTP session.
    `nameserver` (host, port) resolves endpoint names (GATEWAY_DNS_RESOLVER; None:
    the system's resolver); `allow_loopback` is GATEWAY_WEBHOOK_ALLOW_LOOPBACK.
    """

    def __init__(
        self,
        pool: asyncpg.Pool[Any],
        sealer: Sealer,
        *,
        batch_size: int = 20,
        timeout_seconds: float = 10.0,
        retry_base_seconds: float = RETRY_BASE_SECONDS,
        max_backoff_seconds: float = MAX_BACKOFF_SECONDS,
        poll_seconds: float = 5.0,
        nameserver: tuple[str, int] | None = None,
        allow_loopback: bool = False,
    ) -> None:
        self._pool = pool
        self._sealer = sealer
        self._batch_size = batch_size
        self._timeout_seconds = timeout_seconds
        self._retry_base_seconds = retry_base_seconds
        self._max_backoff_seconds = max_backoff_seconds
        self._poll_seconds = poll_seconds
        self._client = WebhookClient(
            timeout=timeout_seconds,
            nameserver=nameserver,
            allow_loopback=allow_loopback,
            user_agent=USER_AGENT,
        )
        self._wake = asyncio.Event()
        self._stopping = False

    async def close(self) -> None:
        await self._client.close()

    async def _claim(self) -> list[Any]:
        # The lease outlives the request timeout, so a row in flight is not due again
        # while this attempt can still succeed; after a crash it simply becomes due.
        lease = timedelta(seconds=self._timeout_seconds + 30)
        return list(
            await self._pool.fetch(
                "UPDATE outbound_events AS queued SET attempts = queued.attempts + 1, "
                "next_attempt_at = now() + $2::interval "
                "FROM (SELECT outbound.id FROM outbound_events AS outbound "
                "JOIN tenants ON tenants.id = outbound.tenant_id "
                "WHERE outbound.delivered_at IS NULL AND outbound.next_attempt_at <= now() "
                "AND tenants.webhook_url IS NOT NULL AND tenants.webhook_secret_sealed IS NOT NULL "
                "ORDER BY outbound.next_attempt_at, outbound.id LIMIT $1 "
                "FOR UPDATE OF outbound SKIP LOCKED) AS due, tenants "
                "WHERE queued.id = due.id AND tenants.id = queued.tenant_id "
                "RETURNING queued.id, queued.tenant_id, queued.type, queued.payload, "
                "queued.attempts, queued.created_at, tenants.webhook_url",
                self._batch_size,
                lease,
            )
        )

    async def run_due(self) -> list[DeliveryResult]:
        """Claim one batch of due events and try each once; what happened to each."""
        rows = await self._claim()
        secrets: dict[int, str | None] = {}
        results = []
        for row in rows:
            tenant_id = row["tenant_id"]
            if tenant_id not in secrets:
                secrets[tenant_id] = await webhook_secret(
                    self._pool, self._sealer, tenant_id=tenant_id
                )
            results.append(await self._deliver(row, secrets[tenant_id]))
        return results

    async def _deliver(self, row: Any, secret: str | None) -> DeliveryResult:
        error = None
        if secret is None:  # rotated away between claim and now: try again later
            error = "the tenant has no webhook signing secret"
        else:
            body = event_body(row)
            headers = {
                "Content-Type": "application/json",
                EVENT_ID_HEADER: row["id"],
                SIGNATURE_HEADER: signature_header(body, secret=secret),
            }
            try:
                answer = await self._client.post(row["webhook_url"], data=body, headers=headers)
                if not 200 <= answer.status < 300:
                    error = f"the endpoint answered HTTP {answer.status}"
            except WebhookUrlRefused as refused:
                error = f"the webhook URL is refused: {refused}"
            except TimeoutError:
                error = f"no answer within {self._timeout_seconds:g} seconds"
            except aiohttp.ClientError as failure:
                error = f"{type(failure).__name__}: {failure}"
        if error is None:
            await self._pool.execute(
                "UPDATE outbound_events SET delivered_at = now(), last_error = NULL "
                "WHERE tenant_id = $1 AND id = $2",
                row["tenant_id"],
                row["id"],
            )
            return DeliveryResult(event_id=row["id"], delivered=True, error=None)
        wait = backoff_seconds(
            row["attempts"], base=self._retry_base_seconds, maximum=self._max_backoff_seconds
        )
        await self._pool.execute(
            "UPDATE outbound_events SET last_error = $3, next_attempt_at = now() + $4::interval "
            "WHERE tenant_id = $1 AND id = $2 AND delivered_at IS NULL",
            row["tenant_id"],
            row["id"],
            error[:MAX_ERROR_LENGTH],
            timedelta(seconds=wait),
        )
        logger.info(
            "outbox event %s not delivered (attempt %d): %s", row["id"], row["attempts"], error
        )
        return DeliveryResult(event_id=row["id"], delivered=False, error=error)

    def stop(self) -> None:
        """Ask `run_forever` to return after the step in progress (never cut a query midway)."""
        self._stopping = True
        self._wake.set()

    async def run_forever(self) -> None:
        """Deliver until stopped: after each NOTIFY from `record_event`, else every poll.

        Listening is `kernel.background.run_passes_on_notify`: it comes back after a
        database outage; without it the poll still delivers, only later.
        """

        async def one_pass() -> bool:
            return len(await self.run_due()) >= self._batch_size

        await run_passes_on_notify(
            self._pool,
            one_pass,
            channel=NOTIFY_CHANNEL,
            role="outbox delivery",
            wake=self._wake,
            interval=self._poll_seconds,
            stopping=lambda: self._stopping,
        )


async def outbox_delivery_context(app: web.Application) -> AsyncIterator[None]:
    """Run the delivery loop while the app runs; goes in `app.cleanup_ctx` after the pool."""
    settings = app[keys.SETTINGS]
    delivery = OutboxDelivery(
        app[keys.POOL],
        app[keys.SEALER],
        timeout_seconds=settings.webhook_timeout,
        nameserver=settings.dns_resolver,
        allow_loopback=settings.webhook_allow_loopback,
    )
    task = asyncio.create_task(delivery.run_forever(), name="outbox delivery")
    try:
        yield
    finally:
        delivery.stop()
        try:
            # A delivery in flight finishes (bounded by its HTTP timeout); then the loop ends.
            await asyncio.wait_for(asyncio.shield(task), SHUTDOWN_GRACE_SECONDS)
        except TimeoutError:
            await stop_tasks([task])
        await delivery.close()
