"""The past-due part of the overview: which renewal invoices to pay, when the card is retried."""

from __future__ import annotations

from dataclasses import dataclass

from billing.past_due import OverdueInvoice
from portal.access import Visit
from portal.views import day, money


@dataclass(frozen=True, kw_only=True)
class OverdueInvoiceView:
    id: str
    number: str
    amount: str
    # The day the dunning schedule charges the card again; None: no retry is planned.
    retry_on: str | None


def overdue_by_subscription(
    visit: Visit, invoices: list[OverdueInvoice]
) -> dict[str, list[OverdueInvoiceView]]:
    """The open invoices of each past-due subscription, keyed by subscription id."""
    views: dict[str, list[OverdueInvoiceView]] = {}
    for invoice in invoices:
        retry = invoice.next_payment_attempt_at
        views.setdefault(invoice.subscription_id, []).append(
            OverdueInvoiceView(
                id=invoice.invoice_id,
                number=invoice.number,
                amount=money(visit, invoice.amount_due, invoice.currency),
                retry_on=day(visit, retry) if retry is not None else None,
            )
        )
    return views
