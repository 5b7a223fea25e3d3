"""Customer mail over TLS to a real SMTP server (aiosmtpd): STARTTLS and implicit TLS, AUTH
over STARTTLS, an untrusted certificate that delays the mail without losing it, and the
mail counters an operator watches."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import trustme

from billing.customers import create_customer
from gateway.jobs.customer_mail import MAX_ATTEMPTS, CustomerMail, SmtpSender
from gateway.ops.metrics import GatewayMetrics
from gateway.settings import Settings
from gateway.tenants.registry import create_tenant
from kernel import clock
from tests.fixtures.pebble import free_port
from tests.fixtures.smtp import MailServer, SecureMailServer, mail_server  # noqa: F401
from tests.gateway.test_customer_mail import Shop, open_invoice, record, record_the_three
from web.mail.customer_mail import composer_for

LOGIN = ("billing", "correct horse battery staple")


@pytest.fixture
def authority() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def server_context(authority: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


@pytest.fixture
def trusted_bundle(authority: trustme.CA, tmp_path: Path) -> Path:
    path = tmp_path / "smtp-ca.pem"
    authority.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture
def untrusted_bundle(tmp_path: Path) -> Path:
    path = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(path))
    return path


async def make_shop(pool: Any, settings: Settings) -> Shop:
    tenant = await create_tenant(pool, slug="alpeak", name="Alpeak", brand_color="#0f766e")
    french, german = [
        await create_customer(
            pool,
            tenant_id=tenant.id,
            default_currency="EUR",
            data={"name": name, "email": address, "language": language},
        )
        for name, address, language in (
            ("Camille Martin", "camille@example.fr", "fr"),
            ("Jonas Weber", "jonas@example.de", "de"),
        )
    ]
    return Shop(tenant, french, german, settings)


def mailer(pool: Any, shop: Shop, metrics: GatewayMetrics | None = None) -> CustomerMail:
    return CustomerMail(
        pool,
        compose=composer_for(shop.settings),
        sender=SmtpSender(shop.settings),
        sender_address=shop.settings.mail_from,
        counters=metrics,
    )


@pytest.fixture
async def secure_server(
    request: pytest.FixtureRequest, server_context: ssl.SSLContext
) -> AsyncIterator[SecureMailServer]:
    implicit, credentials = request.param
    server = SecureMailServer(
        free_port(), server_context, implicit=implicit, credentials=credentials
    )
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def mail_settings(
    settings: Settings, server: MailServer, security: str, bundle: Path | None
) -> Settings:
    return replace(
        settings,
        smtp_host=server.host,
        smtp_port=server.port,
        smtp_security=security,
        smtp_ca_bundle=bundle,
        mail_from="billing@gateway.test",
    )


def series(metrics: GatewayMetrics, kind: str, outcome: str) -> float:
    value = metrics.registry.get_sample_value(
        "gateway_customer_mail_total", {"kind": kind, "outcome": outcome}
    )
    return value or 0.0


@pytest.mark.parametrize(
    ("secure_server", "security"),
    [((False, None), "starttls"), ((True, None), "tls")],
    ids=["starttls-required", "implicit-tls"],
    indirect=["secure_server"],
)
async def test_mail_is_delivered_over_tls_with_the_servers_ca_trusted(
    pool: Any,
    settings: Settings,
    secure_server: SecureMailServer,
    security: str,
    trusted_bundle: Path,
) -> None:
    shop = await make_shop(pool, mail_settings(settings, secure_server, security, trusted_bundle))
    await record_the_three(pool, shop, shop.french)
    metrics = GatewayMetrics()
    results = await mailer(pool, shop, metrics).run_due()
    assert [result.outcome for result in results] == ["sent"] * 3
    assert len(secure_server.messages) == 3
    assert all("camille@example.fr" in str(mail["To"]) for mail in secure_server.messages)
    for kind in ("invoice.created", "invoice.paid", "invoice.payment_failed"):
        assert series(metrics, kind, "sent") == 1.0


@pytest.mark.parametrize(
    ("secure_server", "security"),
    [((False, None), "starttls"), ((True, None), "tls")],
    ids=["starttls-required", "implicit-tls"],
    indirect=["secure_server"],
)
async def test_an_untrusted_certificate_delays_the_mail_and_loses_nothing(
    pool: Any,
    settings: Settings,
    secure_server: SecureMailServer,
    security: str,
    trusted_bundle: Path,
    untrusted_bundle: Path,
) -> None:
    shop = await make_shop(pool, mail_settings(settings, secure_server, security, untrusted_bundle))
    invoice = await open_invoice(pool, shop.tenant, shop.german)
    await record(pool, shop.tenant, "invoice.payment_failed", invoice)
    metrics = GatewayMetrics()
    refused = await mailer(pool, shop, metrics).run_due()
    assert [result.outcome for result in refused] == ["failed"]
    assert "certificate" in (refused[0].detail or "").lower()
    assert secure_server.messages == []
    row = await pool.fetchrow(
        "SELECT mail_attempts, mail_done_at, mail_last_error FROM outbound_events"
    )
    assert (row["mail_attempts"], row["mail_done_at"]) == (1, None)
    assert series(metrics, "invoice.payment_failed", "retried") == 1.0
    # The operator installs the right CA: the mail goes out once, at its next attempt.
    shop = replace(shop, settings=replace(shop.settings, smtp_ca_bundle=trusted_bundle))
    later = clock.utc_now() + timedelta(minutes=5)
    assert [r.outcome for r in await mailer(pool, shop, metrics).run_due(now=later)] == ["sent"]
    assert len(secure_server.messages) == 1
    assert series(metrics, "invoice.payment_failed", "sent") == 1.0


@pytest.mark.parametrize("secure_server", [(False, LOGIN)], indirect=True, ids=["starttls-auth"])
async def test_credentials_are_sent_over_starttls_and_a_wrong_password_delays_the_mail(
    pool: Any, settings: Settings, secure_server: SecureMailServer, trusted_bundle: Path
) -> None:
    base = mail_settings(settings, secure_server, "starttls", trusted_bundle)
    wrong = replace(base, smtp_username=LOGIN[0], smtp_password="wrong")
    shop = await make_shop(pool, wrong)
    invoice = await open_invoice(pool, shop.tenant, shop.french)
    await record(pool, shop.tenant, "invoice.created", invoice)
    assert [r.outcome for r in await mailer(pool, shop).run_due()] == ["failed"]
    assert secure_server.messages == []
    shop = replace(shop, settings=replace(wrong, smtp_password=LOGIN[1]))
    later = clock.utc_now() + timedelta(minutes=5)
    assert [r.outcome for r in await mailer(pool, shop).run_due(now=later)] == ["sent"]
    assert secure_server.logins == [LOGIN[0]]
    assert len(secure_server.messages) == 1


async def test_a_mailbox_refused_for_days_is_given_up_and_counted(
    pool: Any,
    settings: Settings,
    mail_server: MailServer,  # noqa: F811
) -> None:
    shop = await make_shop(pool, mail_settings(settings, mail_server, "none", None))
    mail_server.refused.add("camille@example.fr")
    invoice = await open_invoice(pool, shop.tenant, shop.french)
    await record(pool, shop.tenant, "invoice.payment_failed", invoice)
    metrics = GatewayMetrics()
    assert [r.outcome for r in await mailer(pool, shop, metrics).run_due()] == ["failed"]
    # Every attempt but the last already failed (about three days of backoff).
    await pool.execute(
        "UPDATE outbound_events SET mail_attempts = $1, mail_next_attempt_at = now()",
        MAX_ATTEMPTS - 1,
    )
    later = clock.utc_now() + timedelta(minutes=1)
    assert [r.outcome for r in await mailer(pool, shop, metrics).run_due(now=later)] == ["given_up"]
    row = await pool.fetchrow("SELECT mail_done_at, mail_outcome FROM outbound_events")
    assert row["mail_done_at"] is not None
    assert row["mail_outcome"].startswith("given up: ")
    assert "550" in row["mail_outcome"]
    assert series(metrics, "invoice.payment_failed", "retried") == 1.0
    assert series(metrics, "invoice.payment_failed", "given_up") == 1.0
    mail_server.refused.clear()
    assert await mailer(pool, shop).run_due(now=later + timedelta(days=1)) == []
    assert mail_server.messages == []


async def test_a_mail_server_down_for_days_delays_the_mail_and_never_loses_it(
    pool: Any,
    settings: Settings,
    mail_server: MailServer,  # noqa: F811
) -> None:
    shop = await make_shop(pool, mail_settings(settings, mail_server, "none", None))
    await mail_server.stop()
    invoice = await open_invoice(pool, shop.tenant, shop.french)
    await record(pool, shop.tenant, "invoice.payment_failed", invoice)
    await pool.execute(
        "UPDATE outbound_events SET mail_attempts = $1, mail_next_attempt_at = now()",
        MAX_ATTEMPTS + 5,
    )
    later = clock.utc_now() + timedelta(minutes=1)
    assert [r.outcome for r in await mailer(pool, shop).run_due(now=later)] == ["failed"]
    assert await pool.fetchval("SELECT mail_done_at FROM outbound_events") is None
    await mail_server.start()
    results = await mailer(pool, shop).run_due(now=later + timedelta(days=1))
    assert [r.outcome for r in results] == ["sent"]
    assert len(mail_server.messages) == 1
