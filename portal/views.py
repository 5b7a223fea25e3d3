"""What portal pages show, formatted for the reader: subscriptions, cards, wallets, invoices."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from types import MappingProxyType

from billing import addresses, subscription_changes
from billing.countries import country_names
from billing.customers import Customer, postal_address
from billing.formatting import format_day, format_money
from billing.invoices import Invoice
from billing.payment_methods import PaymentMethod
from billing.subscription_items import SubscriptionItem
from billing.subscriptions import Subscription, upcoming_invoice_lines
from billing.wallets import Wallet
from portal.access import Visit
from web import labels

# Drafts are the tenant's work in progress: customers never see them.
CUSTOMER_VISIBLE_INVOICE_STATUSES = frozenset({"open", "paid", "void", "uncollectible"})


@functools.lru_cache(maxsize=8192)
def _money_text(amount_minor: int, currency: str, language: str) -> str:
    return format_money(amount_minor, currency, language)


@functools.lru_cache(maxsize=4096)
def _day_text(day: date, language: str) -> str:
    return format_day(day, language)


@functools.lru_cache(maxsize=32)
def _country_names(language: str) -> Mapping[str, str]:
    return MappingProxyType(country_names(language))


# Babel builds each amount and date from the locale's patterns, tens of microseconds a
# call, and the overview shows dozens (bench/notes.md). The text depends only on the
# arguments, and a customer's pages repeat the same prices and days: keep it.
def money(visit: Visit, amount_minor: int, currency: str) -> str:
    """`amount_minor` of `currency` as the page's language writes it."""
    return _money_text(amount_minor, currency, visit.language)


def day(visit: Visit, moment: datetime | date) -> str:
    """The day of `moment` as the page's language writes it."""
    return _day_text(moment.date() if isinstance(moment, datetime) else moment, visit.language)


def country_name(visit: Visit, code: str) -> str:
    """The name of country `code` in the page's language (the code when unknown)."""
    return _country_names(visit.language).get(code, code)


@dataclass(frozen=True, kw_only=True)
class ItemView:
    name: str
    quantity: int
    price: str
    amount: str
    interval: str


@dataclass(frozen=True, kw_only=True)
class LineView:
    description: str
    quantity: int
    unit_price: str
    amount: str
    period: str


@dataclass(frozen=True, kw_only=True)
class SubscriptionView:
    id: str
    plan_name: str
    status: str
    status_label: str
    period: str
    next_billing_on: str | None
    ends_on: str | None
    trial_ends_on: str | None
    items: list[ItemView]
    upcoming: list[LineView]
    upcoming_total: str | None  # before tax
    upcoming_tax: str | None  # only when a line is taxed
    upcoming_due: str | None  # with tax
    # Offered only where the tenant lets customers cancel at period end (portal settings).
    can_cancel: bool = False
    can_resume: bool = False


@dataclass(frozen=True, kw_only=True)
class PaymentMethodView:
    id: str
    label: str
    expires: str
    added: str  # two cards alike ("Visa ending in 4242") differ by the day they were added
    is_default: bool


@dataclass(frozen=True, kw_only=True)
class WalletView:
    id: str
    name: str
    balance: str


@dataclass(frozen=True, kw_only=True)
class InvoiceRow:
    id: str
    number: str
    date: str
    status: str
    status_label: str
    total: str
    # Open with something left to pay: the row offers a Pay link.
    payable: bool = False


def interval_label(visit: Visit, interval: str, count: int) -> str:
    """`month`, or `3 months`, in the page's language."""
    return labels.interval_label(visit.i18n, interval, count)


def _item_view(visit: Visit, item: SubscriptionItem, currency: str) -> ItemView:
    unit = money(visit, item.unit_amount, currency)
    return ItemView(
        name=item.name,
        quantity=item.quantity,
        # per_unit: unit_amount x quantity each period; flat: unit_amount whatever the quantity.
        price=visit.i18n.gettext("%(price)s per unit", price=unit)
        if item.price_model == "per_unit"
        else "{} ({})".format(unit, visit.i18n.gettext("flat")),
        amount=money(visit, item.amount, currency),
        interval=interval_label(visit, item.billing_interval, item.interval_count),
    )


def subscription_view(visit: Visit, subscription: Subscription) -> SubscriptionView:
    """One subscription with its items and what its next invoice will contain."""
    ends = subscription.cancel_at_period_end and subscription.status != "canceled"
    trial = subscription.status == "trialing" and subscription.trial_end is not None
    upcoming = upcoming_invoice_lines(subscription)
    currency = subscription.currency
    tax = sum(line.tax for line in upcoming)
    self_service = visit.tenant.portal.subscription_cancel_enabled
    return SubscriptionView(
        id=subscription.id,
        plan_name=subscription.plan_name,
        status=subscription.status,
        status_label=labels.status_label(visit.i18n, subscription.status),
        period=f"{day(visit, subscription.current_period_start)} – "
        f"{day(visit, subscription.current_period_end)}",
        next_billing_on=day(visit, subscription.current_period_end) if upcoming else None,
        ends_on=day(visit, subscription.current_period_end) if ends else None,
        trial_ends_on=(
            day(visit, subscription.trial_end)
            if trial and subscription.trial_end is not None
            else None
        ),
        items=[_item_view(visit, item, currency) for item in subscription.items],
        upcoming=[
            LineView(
                description=line.description,
                quantity=line.quantity,
                unit_price=money(visit, line.unit_amount, currency),
                amount=money(visit, line.amount, currency),
                period=f"{day(visit, line.period_start)} – {day(visit, line.period_end)}",
            )
            for line in upcoming
        ],
        upcoming_total=(
            money(visit, sum(line.amount for line in upcoming), currency) if upcoming else None
        ),
        upcoming_tax=money(visit, tax, currency) if tax else None,
        upcoming_due=(
            money(visit, sum(line.amount for line in upcoming) + tax, currency) if tax else None
        ),
        can_cancel=self_service and subscription_changes.can_cancel(subscription),
        can_resume=self_service and subscription_changes.can_resume(subscription),
    )


def payment_method_view(visit: Visit, method: PaymentMethod) -> PaymentMethodView:
    return PaymentMethodView(
        id=method.id,
        label=labels.card_label(visit.i18n, method.brand, method.last4),
        expires=visit.i18n.gettext(
            "expires %(month)s/%(year)s", month=str(method.exp_month).zfill(2), year=method.exp_year
        ),
        added=visit.i18n.gettext("added on %(date)s", date=day(visit, method.created_at)),
        is_default=method.is_default,
    )


def wallet_view(visit: Visit, wallet: Wallet) -> WalletView:
    return WalletView(
        id=wallet.id, name=wallet.name, balance=money(visit, wallet.balance, wallet.currency)
    )


def invoice_row(visit: Visit, invoice: Invoice) -> InvoiceRow:
    issued = invoice.finalized_at or invoice.created_at
    return InvoiceRow(
        id=invoice.id,
        number=invoice.number or "",
        date=day(visit, issued),
        status=invoice.status,
        status_label=labels.status_label(visit.i18n, invoice.status),
        total=money(visit, invoice.total, invoice.currency),
        payable=invoice.status == "open" and invoice.amount_due > 0,
    )


def address_lines(visit: Visit, customer: Customer) -> list[str]:
    """The billing address as its country writes it on an envelope, empty parts left out."""
    return addresses.address_lines(postal_address(customer), language=visit.language)
