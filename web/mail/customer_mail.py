"""The customer's mail for an invoice event: issued (PDF attached), paid, or payment failed.

Each mail is in the customer's language (the gettext catalogue through a
`Translator`) and the tenant's brand (name, colour and icon, as on the invoice
PDF and the portal). Its link opens the invoice in the portal, where an open
invoice is paid, on the tenant's active custom domain when there is one, and
with a fresh signed token when the tenant's portal asks for signed links.

`compose_customer_mail` says what to do with one outbox event: a message to
send, a reason why none is due (the invoice was voided, the customer has no
address), or None while the invoice is still a draft (asked again later).
"""

from __future__ import annotations

from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formataddr
from pathlib import Path
from typing import Any

import jinja2

from billing import portal_sessions
from billing.customers import Customer, get_customer
from billing.errors import NotFound
from billing.formatting import format_day, format_money
from billing.invoices import Invoice, get_invoice
from billing.pdf import Seller, invoice_pdf
from gateway.jobs.customer_mail import MAIL_EVENT_TYPES, Composer
from gateway.settings import Settings
from gateway.tenants.domains import active_domain, portal_base_url
from gateway.tenants.icons import tenant_icon
from gateway.tenants.models import Tenant
from gateway.tenants.registry import get_tenant
from kernel.colors import contrast_color
from kernel.db import Connection, Db
from web.i18n import Translator, translator

ICON_CID = "brand-icon"

_TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(Path(__file__).parent / "templates")),
    autoescape=jinja2.select_autoescape(["html"]),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
)


def invoice_id_of(payload: Mapping[str, Any]) -> str | None:
    """The invoice an event is about: `invoice` (an id or an object with `id`), else `id`."""
    named = payload.get("invoice")
    if isinstance(named, Mapping):
        named = named.get("id")
    if named is None and str(payload.get("id", "")).startswith("in_"):
        named = payload["id"]
    return named if isinstance(named, str) and named.startswith("in_") else None


async def invoice_link(db: Db, *, settings: Settings, tenant: Tenant, invoice: Invoice) -> str:
    """The portal page of `invoice` (where an open one is paid), signed when the tenant asks."""
    base = portal_base_url(settings, tenant, await active_domain(db, tenant_id=tenant.id))
    url = f"{base}/portal/{invoice.customer_id}/invoices/{invoice.id}"
    if tenant.portal.link_mode == "signed":
        token, _ = await portal_sessions.create_portal_session(
            db,
            tenant_id=tenant.id,
            customer_id=invoice.customer_id,
            ttl_seconds=tenant.portal.link_ttl_seconds,
        )
        url += f"?token={token}"
    return url


async def compose_customer_mail(
    db: Db, *, settings: Settings, tenant_id: int, event_type: str, payload: Mapping[str, Any]
) -> EmailMessage | str | None:
    """The mail for one event (no Message-ID or Date yet), a reason for none, or None: not yet.

    Runs queries on `db` (the caller's transaction) and may render the invoice PDF
    (in a render process). Raises nothing for a vanished invoice or customer: that
    is a reason.
    """
    if event_type not in MAIL_EVENT_TYPES:
        return f"no customer mail for {event_type} events"
    invoice_id = invoice_id_of(payload)
    if invoice_id is None:
        return "the event names no invoice"
    try:
        invoice = await get_invoice(db, tenant_id=tenant_id, invoice_id=invoice_id)
        customer = await get_customer(db, tenant_id=tenant_id, customer_id=invoice.customer_id)
    except NotFound:
        return "the invoice or its customer no longer exists"
    if invoice.status == "draft" and event_type == "invoice.created":
        return None  # the issue mail waits for the invoice to be final
    reason = _reason_for_no_mail(event_type, invoice, customer)
    if reason is not None:
        return reason
    tenant = await get_tenant(db, tenant_id)
    icon = await tenant_icon(db, tenant_id=tenant_id)
    seller = Seller(
        name=tenant.name,
        brand_color=tenant.brand_color,
        icon=icon.data if icon else None,
        icon_type=icon.content_type if icon else None,
    )
    words = translator(customer.language)
    content = _content(event_type, words, invoice=invoice, customer=customer, seller=seller)
    link = await invoice_link(db, settings=settings, tenant=tenant, invoice=invoice)
    message = _message(content, link=link, language=words.language, seller=seller)
    message["From"] = formataddr((tenant.name, settings.mail_from))
    message["To"] = formataddr((customer.name, customer.email or ""))
    if event_type == "invoice.created":
        document = await invoice_pdf(
            db,
            tenant_id=tenant_id,
            invoice=invoice,
            customer_id=customer.id,
            catalogue=translator,
        )
        message.add_attachment(
            document, "application", "pdf", filename=f"{invoice.number or invoice.id}.pdf"
        )
    return message


def _reason_for_no_mail(event_type: str, invoice: Invoice, customer: Customer) -> str | None:
    if invoice.status == "draft":
        return "the invoice is a draft"
    if invoice.status == "void":
        return "the invoice was voided"
    if event_type == "invoice.payment_failed" and invoice.status != "open":
        return f"the invoice is {invoice.status} now"
    if not customer.email:
        return "the customer has no e-mail address"
    return None


def _message(content: dict[str, Any], *, link: str, language: str, seller: Seller) -> EmailMessage:
    """Plain text and HTML in the brand (the icon as a related part), without addresses yet."""
    values = {
        **content,
        "action": {"label": content["action"], "url": link},
        "language": language,
        "seller": seller.name,
        "brand_color": seller.brand_color,
        "brand_contrast": contrast_color(seller.brand_color),
        "icon_cid": ICON_CID if seller.icon else None,
    }
    message = EmailMessage()
    message["Subject"] = content["subject"]
    message.set_content(_TEMPLATES.get_template("customer_mail.txt").render(values))
    message.add_alternative(
        _TEMPLATES.get_template("customer_mail.html").render(values), subtype="html"
    )
    if seller.icon is not None and seller.icon_type is not None:
        html_part = message.get_body(preferencelist=("html",))
        if isinstance(html_part, EmailMessage):
            maintype, _, subtype = seller.icon_type.partition("/")
            html_part.add_related(seller.icon, maintype, subtype, cid=f"<{ICON_CID}>")
    return message


def composer_for(settings: Settings) -> Composer:
    """`compose_customer_mail` with `settings`, as `gateway.jobs.customer_mail` calls it."""

    async def compose(
        connection: Connection, tenant_id: int, event_type: str, payload: Mapping[str, Any]
    ) -> EmailMessage | str | None:
        return await compose_customer_mail(
            connection,
            settings=settings,
            tenant_id=tenant_id,
            event_type=event_type,
            payload=payload,
        )

    return compose


def _content(
    event_type: str, words: Translator, *, invoice: Invoice, customer: Customer, seller: Seller
) -> dict[str, Any]:
    """Subject, greeting, paragraphs, facts, button label and footer of one mail."""
    _ = words.gettext
    language = words.language
    number = invoice.number or invoice.id
    amount = format_money(invoice.total, invoice.currency, language)
    due = format_money(invoice.amount_due, invoice.currency, language)
    facts: list[tuple[str, str]] = [(_("Invoice number"), number)]
    if event_type == "invoice.created":
        subject = _("Invoice %(number)s from %(seller)s", number=number, seller=seller.name)
        paragraphs = [
            _(
                "%(seller)s has issued invoice %(number)s for %(amount)s.",
                seller=seller.name,
                number=number,
                amount=amount,
            ),
            _("The invoice is attached as a PDF."),
        ]
        facts.append((_("Amount due"), due))
        if invoice.due_at is not None:
            facts.append((_("Due date"), format_day(invoice.due_at, language)))
        action = _("View the invoice")
    elif event_type == "invoice.paid":
        subject = _("Receipt for invoice %(number)s", number=number)
        paragraphs = [
            _(
                "We received your payment of %(amount)s for invoice %(number)s. Thank you.",
                amount=amount,
                number=number,
            )
        ]
        facts.append(
            (_("Amount paid"), format_money(invoice.amount_paid, invoice.currency, language))
        )
        if invoice.paid_at is not None:
            facts.append((_("Paid on"), format_day(invoice.paid_at, language)))
        action = _("View the invoice")
    else:
        subject = _("Payment failed for invoice %(number)s", number=number)
        paragraphs = [
            _(
                "We could not collect the payment of %(amount)s for invoice %(number)s.",
                amount=due,
                number=number,
            ),
            _("Please pay the invoice in your customer portal, with your card or another one."),
        ]
        facts.append((_("Amount due"), due))
        action = _("Pay the invoice")
    return {
        "subject": subject,
        "greeting": _("Hello %(name)s,", name=customer.name),
        "paragraphs": paragraphs,
        "facts": facts,
        "action": action,
        "footer": _("You receive this e-mail as a customer of %(seller)s.", seller=seller.name),
    }
