"""Customer mail from the outbox, as the customer's mailbox sees it on a real SMTP server.

A French and a German customer each get the invoice issued (PDF attached), the
receipt and the payment-failed mail (its link opens the invoice's portal page,
where it is paid), in their language and the tenant's brand, once each: also when
the mail server was down when the events were recorded, when two workers race,
and when a mail's outcome was unknown (the repeat carries the same Message-ID).
"""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass, replace
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

import pypdf
import pytest
from PIL import Image

from billing import portal_sessions
from billing.customers import Customer, create_customer
from billing.invoices import Invoice, create_invoice, finalize_invoice, mark_paid, void_invoice
from billing.outbox import record_event
from gateway.app import create_app
from gateway.jobs.customer_mail import CustomerMail, SmtpSender, message_id
from gateway.settings import Settings
from gateway.tenants.icons import set_icon
from gateway.tenants.models import Tenant
from gateway.tenants.registry import create_tenant, update_settings
from kernel import clock
from tests.conftest import eventually
from tests.fixtures.smtp import MailServer, mail_server  # noqa: F401
from web.mail.customer_mail import composer_for

BRAND = "#0f766e"


@dataclass
class Shop:
    tenant: Tenant
    french: Customer
    german: Customer
    settings: Settings


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), BRAND).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
async def shop(pool: Any, settings: Settings, mail_server: MailServer) -> Shop:  # noqa: F811
    tenant = await create_tenant(pool, slug="alpeak", name="Alpeak", brand_color=BRAND)
    await set_icon(pool, tenant_id=tenant.id, data=png(), max_bytes=65536)
    customers = [
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
    mail_settings = replace(
        settings,
        smtp_host=mail_server.host,
        smtp_port=mail_server.port,
        smtp_security="none",
        mail_from="billing@gateway.test",
    )
    return Shop(tenant, customers[0], customers[1], mail_settings)


def mailer(pool: Any, shop: Shop, sender: Any = None) -> CustomerMail:
    return CustomerMail(
        pool,
        compose=composer_for(shop.settings),
        sender=sender or SmtpSender(shop.settings),
        sender_address=shop.settings.mail_from,
    )


async def open_invoice(pool: Any, tenant: Tenant, customer: Customer) -> Invoice:
    draft = await create_invoice(
        pool,
        tenant_id=tenant.id,
        data={
            "customer": customer.id,
            "currency": "EUR",
            "lines": [{"description": "Ski pass", "quantity": 1, "unit_amount": 4990}],
        },
    )
    return await finalize_invoice(pool, tenant_id=tenant.id, invoice_id=draft.id)


async def record(pool: Any, tenant: Tenant, kind: str, invoice: Invoice) -> str:
    return await record_event(
        pool,
        tenant_id=tenant.id,
        type=kind,
        payload={"invoice": invoice.id, "customer": invoice.customer_id},
    )


async def record_the_three(pool: Any, shop: Shop, customer: Customer) -> dict[str, Invoice]:
    """An invoice issued and then paid, and another whose payment failed."""
    paid = await open_invoice(pool, shop.tenant, customer)
    await record(pool, shop.tenant, "invoice.created", paid)
    paid = await mark_paid(pool, tenant_id=shop.tenant.id, invoice_id=paid.id)
    await record(pool, shop.tenant, "invoice.paid", paid)
    unpaid = await open_invoice(pool, shop.tenant, customer)
    await record(pool, shop.tenant, "invoice.payment_failed", unpaid)
    return {"paid": paid, "unpaid": unpaid}


def text_of(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


def html_of(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("html",))
    assert body is not None
    return str(body.get_content())


def pdfs_of(message: EmailMessage) -> list[bytes]:
    return [
        part.get_content()
        for part in message.iter_attachments()
        if part.get_content_type() == "application/pdf"
    ]


def mails_to(server: MailServer, address: str) -> list[EmailMessage]:
    return [message for message in server.messages if address in str(message["To"])]


def portal_link(customer: Customer, invoice: Invoice) -> str:
    return f"http://alpeak.localhost:8080/portal/{customer.id}/invoices/{invoice.id}"


@pytest.mark.parametrize(
    ("language", "issued", "receipt", "failed", "pdf_word"),
    [
        ("fr", "Facture", "Reçu", "Échec du paiement", "Facture"),
        ("de", "Rechnung", "Zahlungsbeleg", "Zahlung fehlgeschlagen", "Rechnung"),
    ],
)
async def test_each_customer_gets_the_three_mails_once_in_their_language(
    pool: Any,
    shop: Shop,
    mail_server: MailServer,  # noqa: F811
    language: str,
    issued: str,
    receipt: str,
    failed: str,
    pdf_word: str,
) -> None:
    customer = shop.french if language == "fr" else shop.german
    invoices = await record_the_three(pool, shop, customer)
    results = await mailer(pool, shop).run_due()
    assert sorted(result.outcome for result in results) == ["sent", "sent", "sent"]
    assert await mailer(pool, shop).run_due(now=clock.utc_now() + timedelta(days=2)) == []

    mails = mails_to(mail_server, customer.email or "")
    assert len(mails) == 3
    assert len(mail_server.by_message_id()) == 3
    subjects = [str(mail["Subject"]) for mail in mails]
    assert subjects[0].startswith(issued)
    assert "Alpeak" in subjects[0]
    assert subjects[1].startswith(receipt)
    assert subjects[2].startswith(failed)
    for mail in mails:
        assert "Alpeak" in str(mail["From"])
        assert "billing@gateway.test" in str(mail["From"])
        assert customer.name in text_of(mail)
        assert BRAND in html_of(mail)  # the brand colour, and its icon as a related part
        assert 'src="cid:brand-icon"' in html_of(mail)
    issue_mail, receipt_mail, failure_mail = mails
    (document,) = pdfs_of(issue_mail)
    assert document.startswith(b"%PDF")
    pdf_text = " ".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(document)).pages)
    assert pdf_word in pdf_text
    assert (invoices["paid"].number or "") in pdf_text
    assert pdfs_of(receipt_mail) == []
    assert pdfs_of(failure_mail) == []
    assert (invoices["paid"].number or "") in str(receipt_mail["Subject"])
    link = portal_link(customer, invoices["unpaid"])
    assert link in text_of(failure_mail)
    assert f'href="{link}"' in html_of(failure_mail)
    assert "49,90" in text_of(failure_mail)  # the amount due as the language writes it


async def test_mail_recorded_while_the_server_is_down_arrives_once_it_is_back(
    pool: Any,
    shop: Shop,
    mail_server: MailServer,  # noqa: F811
) -> None:
    await mail_server.stop()
    await record_the_three(pool, shop, shop.french)
    down = await mailer(pool, shop).run_due()
    assert [result.outcome for result in down] == ["failed"] * 3
    pending = await pool.fetch(
        "SELECT mail_attempts, mail_last_error, mail_done_at FROM outbound_events"
    )
    assert all(row["mail_attempts"] == 1 and row["mail_done_at"] is None for row in pending)
    assert all(row["mail_last_error"] for row in pending)
    # Not due again before the backoff runs out, even with the server back.
    await mail_server.start()
    assert await mailer(pool, shop).run_due() == []
    later = clock.utc_now() + timedelta(minutes=5)
    sent = await mailer(pool, shop).run_due(now=later)
    assert [result.outcome for result in sent] == ["sent"] * 3
    assert await mailer(pool, shop).run_due(now=later + timedelta(days=1)) == []
    assert len(mail_server.messages) == 3
    assert all(len(copies) == 1 for copies in mail_server.by_message_id().values())


async def test_two_workers_racing_send_each_mail_once(
    pool: Any,
    shop: Shop,
    mail_server: MailServer,  # noqa: F811
) -> None:
    for _ in range(4):
        await record_the_three(pool, shop, shop.german)
    first, second = await asyncio.gather(mailer(pool, shop).run_due(), mailer(pool, shop).run_due())
    assert len(first) + len(second) == 12
    assert len(mail_server.messages) == 12
    assert len(mail_server.by_message_id()) == 12


class LostAnswer:
    """Hands the message over, then loses the server's answer (the outcome is unknown)."""

    def __init__(self, inner: SmtpSender) -> None:
        self.inner = inner

    async def send(self, message: EmailMessage) -> None:
        await self.inner.send(message)
        raise ConnectionResetError("connection lost before the answer")


async def test_a_repeat_after_an_unknown_outcome_carries_the_same_message_id(
    pool: Any,
    shop: Shop,
    mail_server: MailServer,  # noqa: F811
) -> None:
    invoice = await open_invoice(pool, shop.tenant, shop.french)
    event_id = await record(pool, shop.tenant, "invoice.payment_failed", invoice)
    lost = await mailer(pool, shop, LostAnswer(SmtpSender(shop.settings))).run_due()
    assert [result.outcome for result in lost] == ["failed"]
    retried = await mailer(pool, shop).run_due(now=clock.utc_now() + timedelta(minutes=5))
    assert [result.outcome for result in retried] == ["sent"]
    expected = message_id(event_id, "billing@gateway.test")
    assert list(mail_server.by_message_id()) == [expected]
    assert len(mail_server.messages) == 2


async def test_a_draft_waits_and_a_voided_invoice_is_not_mailed(
    pool: Any,
    shop: Shop,
    mail_server: MailServer,  # noqa: F811
) -> None:
    draft = await create_invoice(
        pool,
        tenant_id=shop.tenant.id,
        data={"customer": shop.french.id, "lines": [{"description": "Cours", "unit_amount": 900}]},
    )
    await record(pool, shop.tenant, "invoice.created", draft)
    voided = await open_invoice(pool, shop.tenant, shop.german)
    await void_invoice(pool, tenant_id=shop.tenant.id, invoice_id=voided.id)
    await record(pool, shop.tenant, "invoice.created", voided)
    first = await mailer(pool, shop).run_due()
    assert sorted(result.outcome for result in first) == ["later", "skipped"]
    await finalize_invoice(pool, tenant_id=shop.tenant.id, invoice_id=draft.id)
    second = await mailer(pool, shop).run_due(now=clock.utc_now() + timedelta(minutes=5))
    assert [result.outcome for result in second] == ["sent"]
    assert [str(mail["To"]) for mail in mail_server.messages] == [
        "Camille Martin <camille@example.fr>"
    ]
    outcomes = await pool.fetch("SELECT mail_outcome FROM outbound_events ORDER BY created_at")
    assert [row["mail_outcome"] for row in outcomes] == ["sent", "skipped: the invoice was voided"]


async def test_signed_link_mode_mails_a_link_that_opens_the_portal(
    pool: Any,
    shop: Shop,
    mail_server: MailServer,  # noqa: F811
) -> None:
    await update_settings(pool, tenant_id=shop.tenant.id, changes={"portal.link_mode": "signed"})
    invoice = await open_invoice(pool, shop.tenant, shop.german)
    await record(pool, shop.tenant, "invoice.payment_failed", invoice)
    await mailer(pool, shop).run_due()
    (mail,) = mail_server.messages
    link = portal_link(shop.german, invoice) + "?token="
    text = text_of(mail)
    token = text[text.index(link) + len(link) :].split()[0]
    opened = await portal_sessions.resolve(pool, tenant_id=shop.tenant.id, token=token)
    assert opened == shop.german.id


async def test_the_running_gateway_mails_as_soon_as_an_event_is_recorded(
    pool: Any,
    shop: Shop,
    mail_server: MailServer,  # noqa: F811
    aiohttp_client: Any,
) -> None:
    app = create_app(shop.settings, domain_worker=False, outbox_delivery=True)
    await aiohttp_client(app)
    invoice = await open_invoice(pool, shop.tenant, shop.french)
    await record(pool, shop.tenant, "invoice.created", invoice)
    received = await eventually(
        lambda: asyncio.sleep(0, mail_server.messages), lambda found: len(found) == 1
    )
    assert len(received) == 1
    assert pdfs_of(received[0])
