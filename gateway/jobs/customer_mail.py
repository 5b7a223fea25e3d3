"""Mails the customer for invoice events in the outbox: issued, paid, payment failed.

The outbox (`billing.outbox`) keeps, beside each event's webhook state, its
mail state (`mail_next_attempt_at`, `mail_attempts`, `mail_done_at`,
`mail_outcome`, `mail_last_error`; migration 0007). One pass takes due events
one at a time: in one transaction it locks the event's row (`FOR UPDATE SKIP
LOCKED`, so replicas never take the same event), composes the message, hands
it to the SMTP server and marks the mail done before committing.

- A mail server that is down, slow or refusing for now leaves the event due
  again after a backoff (1, 2, 4 ... minutes up to six hours): an outage delays
  mail and loses none.
- A mail accepted by the server is marked done in the same transaction, so it
  is not sent again. Only a process that dies (or loses the database) between
  the server's answer and the commit sends it a second time, and then with the
  same Message-ID (`<evt_...@sender domain>`, from the event id), so mail
  software and people recognise the repeat.
- A mail the server refuses for good (a 5xx answer to its sender, recipient or
  content) still refused after `MAX_ATTEMPTS` tries (about three days with the
  backoff) is given up: marked done with `mail_outcome` "given up: <last error>" and
  counted (`gateway_customer_mail_total{outcome="given_up"}`), so an operator sees it
  and one dead address is not retried for ever. A server that cannot be reached,
  answers "try later" (4xx) or refuses our login is an outage: the mail waits for
  it however long it lasts, and is never given up.
- An event that needs no mail (a voided invoice, a customer without an
  address) is marked done with the reason in `mail_outcome`; an invoice still
  a draft is asked again later.

The job knows SMTP and the outbox; what a mail says comes from a composer the
composition root passes in (`web.mail.customer_mail.compose_customer_mail`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any, Protocol

import aiosmtplib
import asyncpg

from billing.outbox import NOTIFY_CHANNEL
from gateway.settings import Settings
from kernel import clock
from kernel.background import (
    reraise_if_cancelled,
    run_passes_on_notify,
)
from kernel.db import Connection

logger = logging.getLogger(__name__)

MAIL_EVENT_TYPES = ("invoice.created", "invoice.paid", "invoice.payment_failed")
RETRY_BASE_SECONDS = 60.0
MAX_BACKOFF_SECONDS = 6 * 3600.0
MAX_ERROR_LENGTH = 500
MAX_ATTEMPTS = 20  # 1, 2, 4 ... 256 minutes, then every six hours: about three days
SHUTDOWN_GRACE_SECONDS = 35.0

Composer = Callable[[Connection, int, str, Mapping[str, Any]], Awaitable[EmailMessage | str | None]]
"""(connection, tenant id, event type, payload) -> a message, a reason for none, or None: later."""


class MailCounters(Protocol):
    """Where the job counts its attempts (gateway.ops.metrics.GatewayMetrics is one)."""

    def count_customer_mail(self, kind: str, outcome: str) -> None: ...


class MailSender(Protocol):
    """Hands one message to a mail server; raises on anything short of acceptance."""

    async def send(self, message: EmailMessage) -> None: ...


class SmtpSender:
    """`MailSender` over SMTP with aiosmtplib, configured by the GATEWAY_SMTP_* settings.

    Each send is one connection (the volume is a few mails per invoice), bounded by
    `smtp_timeout`. Raises aiosmtplib.SMTPException, OSError or TimeoutError.
    """

    def __init__(self, settings: Settings) -> None:
        if settings.smtp_host is None:
            raise ValueError("GATEWAY_SMTP_HOST is not set")
        self.host = settings.smtp_host
        self.port = settings.smtp_port
        self._security = settings.smtp_security
        self._username = settings.smtp_username
        self._password = settings.smtp_password
        self._timeout = settings.smtp_timeout
        self._ca_bundle = settings.smtp_ca_bundle

    async def send(self, message: EmailMessage) -> None:
        await aiosmtplib.send(
            message,
            hostname=self.host,
            port=self.port,
            username=self._username,
            password=self._password,
            use_tls=self._security == "tls",
            start_tls=self._security == "starttls",
            # The certificate is always verified (aiosmtplib's default), against this
            # bundle when given: a failed check raises and the mail waits for a retry.
            cert_bundle=str(self._ca_bundle) if self._ca_bundle is not None else None,
            timeout=self._timeout,
        )


def message_id(event_id: str, sender: str) -> str:
    """The Message-ID of an event's mail: the same at every attempt."""
    domain = sender.rpartition("@")[2] or "localhost"
    return f"<{event_id}@{domain}>"


def backoff_seconds(attempts: int) -> float:
    """Wait after the `attempts`-th failed attempt: 1, 2, 4 ... minutes, at most six hours."""
    return float(min(MAX_BACKOFF_SECONDS, RETRY_BASE_SECONDS * 2 ** max(0, min(attempts - 1, 30))))


@dataclass(frozen=True, kw_only=True)
class MailResult:
    event_id: str
    outcome: str  # sent, skipped, later (draft), failed (retried) or given_up
    detail: str | None = None
    permanent: bool = False  # failed: the server refused this mail for good (5xx)


class CustomerMail:
    """Sends due customer mail; `run_due` is one pass, `run_forever` the background loop."""

    def __init__(
        self,
        pool: asyncpg.Pool[Any],
        *,
        compose: Composer,
        sender: MailSender,
        sender_address: str,
        batch_size: int = 20,
        poll_seconds: float = 10.0,
        counters: MailCounters | None = None,
    ) -> None:
        self._pool = pool
        self._compose = compose
        self._sender = sender
        self._sender_address = sender_address
        self._batch_size = batch_size
        self._poll_seconds = poll_seconds
        self._counters = counters
        self._wake = asyncio.Event()
        self._stopping = False

    async def run_due(self, *, now: datetime | None = None) -> list[MailResult]:
        """Try each event whose mail is due at `now` once, up to a batch; what happened."""
        moment = now or clock.utc_now()
        results: list[MailResult] = []
        while len(results) < self._batch_size and not self._stopping:
            result = await self._next(moment)
            if result is None:
                break
            results.append(result)
        return results

    async def _next(self, now: datetime) -> MailResult | None:
        async with self._pool.acquire() as connection, connection.transaction():
            row = await connection.fetchrow(
                "SELECT id, tenant_id, type, payload, mail_attempts + 1 AS attempt "
                "FROM outbound_events WHERE mail_done_at IS NULL AND type = ANY($1::text[]) "
                "AND mail_next_attempt_at <= $2 ORDER BY mail_next_attempt_at, id LIMIT 1 "
                "FOR UPDATE SKIP LOCKED",
                list(MAIL_EVENT_TYPES),
                now,
            )
            if row is None:
                return None
            result = await self._attempt(connection, row)
            if result.permanent and row["attempt"] >= MAX_ATTEMPTS:
                result = MailResult(event_id=row["id"], outcome="given_up", detail=result.detail)
            if result.outcome in ("sent", "skipped", "given_up"):
                await self._mark_done(connection, row, result, now)
            else:
                await self._retry_later(connection, row, result, now)
            self._count(row["type"], result.outcome)
            return result

    async def _mark_done(
        self, connection: Connection, row: Any, result: MailResult, now: datetime
    ) -> None:
        outcome = {"sent": "sent", "skipped": "skipped: ", "given_up": "given up: "}[result.outcome]
        if result.outcome != "sent":
            outcome = (outcome + (result.detail or ""))[:MAX_ERROR_LENGTH]
        await connection.execute(
            "UPDATE outbound_events SET mail_done_at = $3, mail_outcome = $4, "
            "mail_attempts = $5, mail_last_error = $6 WHERE tenant_id = $1 AND id = $2",
            row["tenant_id"],
            row["id"],
            now,
            outcome,
            row["attempt"],
            (result.detail or None) if result.outcome == "given_up" else None,
        )
        if result.outcome == "given_up":
            logger.warning(
                "mail for event %s given up after %d attempts: %s",
                row["id"],
                row["attempt"],
                result.detail,
            )

    async def _retry_later(
        self, connection: Connection, row: Any, result: MailResult, now: datetime
    ) -> None:
        wait = timedelta(seconds=backoff_seconds(row["attempt"]))
        await connection.execute(
            "UPDATE outbound_events SET mail_next_attempt_at = $3, mail_attempts = $4, "
            "mail_last_error = $5 WHERE tenant_id = $1 AND id = $2",
            row["tenant_id"],
            row["id"],
            now + wait,
            row["attempt"],
            (result.detail or "")[:MAX_ERROR_LENGTH] or None,
        )
        if result.outcome == "failed":
            logger.info(
                "mail for event %s not sent (attempt %d): %s",
                row["id"],
                row["attempt"],
                result.detail,
            )

    def _count(self, kind: str, outcome: str) -> None:
        # "later" (the invoice is still a draft) is no attempt at sending: not counted.
        label = {"sent": "sent", "skipped": "skipped", "failed": "retried", "given_up": "given_up"}
        if self._counters is not None and outcome in label:
            self._counters.count_customer_mail(kind, label[outcome])

    async def _attempt(self, connection: Connection, row: Any) -> MailResult:
        event_id = row["id"]
        try:
            # A savepoint: a failed query while composing must not abort the row's transaction.
            async with connection.transaction():
                composed = await self._compose(
                    connection, row["tenant_id"], row["type"], row["payload"]
                )
        except Exception as failure:
            reraise_if_cancelled()
            logger.exception("composing the mail for event %s failed", event_id)
            return MailResult(event_id=event_id, outcome="failed", detail=_describe(failure))
        if composed is None:
            return MailResult(event_id=event_id, outcome="later", detail="the invoice is a draft")
        if isinstance(composed, str):
            return MailResult(event_id=event_id, outcome="skipped", detail=composed)
        composed["Message-ID"] = message_id(event_id, self._sender_address)
        composed["Date"] = format_datetime(clock.utc_now())
        try:
            await self._sender.send(composed)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as failure:
            return MailResult(
                event_id=event_id,
                outcome="failed",
                detail=_describe(failure),
                permanent=_refused_for_good(failure),
            )
        return MailResult(event_id=event_id, outcome="sent")

    def stop(self) -> None:
        """Ask `run_forever` to return after the mail in progress."""
        self._stopping = True
        self._wake.set()

    async def run_forever(self) -> None:
        """Send until stopped: after each outbox NOTIFY, else every `poll_seconds`."""

        async def one_pass() -> bool:
            return len(await self.run_due()) >= self._batch_size

        await run_passes_on_notify(
            self._pool,
            one_pass,
            channel=NOTIFY_CHANNEL,
            role="customer mail",
            wake=self._wake,
            interval=self._poll_seconds,
            stopping=lambda: self._stopping,
        )


def _describe(failure: BaseException) -> str:
    return f"{type(failure).__name__}: {failure}"[:MAX_ERROR_LENGTH]


@contextlib.asynccontextmanager
async def customer_mail_running(
    pool: asyncpg.Pool[Any],
    *,
    settings: Settings,
    compose: Composer,
    counters: MailCounters | None = None,
) -> AsyncIterator[CustomerMail]:
    """Run the mail loop for the block's duration (a mail in flight finishes first)."""
    mail = CustomerMail(
        pool,
        compose=compose,
        sender=SmtpSender(settings),
        sender_address=settings.mail_from,
        counters=counters,
    )
    task = asyncio.create_task(mail.run_forever(), name="customer mail")
    try:
        yield mail
    finally:
        mail.stop()
        try:
            await asyncio.wait_for(asyncio.shield(task), SHUTDOWN_GRACE_SECONDS)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _refused_for_good(failure: BaseException) -> bool:
    """A 5xx answer about this mail (sender, recipients, content); not a login or an outage."""
    if isinstance(failure, aiosmtplib.SMTPRecipientsRefused):
        return bool(failure.recipients) and all(
            500 <= refused.code < 600 for refused in failure.recipients
        )
    permanent_kinds = (
        aiosmtplib.SMTPRecipientRefused,
        aiosmtplib.SMTPSenderRefused,
        aiosmtplib.SMTPDataError,
    )
    return isinstance(failure, permanent_kinds) and 500 <= failure.code < 600
