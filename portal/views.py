"""What portal pages show, formatted for the reader: subscriptions, cards, wallets, invoices."""

from __future__ import annotations

from dataclasses import dataclass

from billing.customers import Customer
from billing.invoices import Invoice
from billing.payment_methods import PaymentMethod
from billing.subscriptions import Subscription, SubscriptionItem, upcoming_invoice_lines
from billing.wallets import Wallet
from portal.access import Visit
from portal.i18n import country_names

# Drafts are the tenant's work in progress: customers never see them.
CUSTOMER_VISIBLE_INVOICE_STATUSES = frozenset({"open", "paid", "void", "uncollectible"})


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
    upcoming_total: str | None


@dataclass(frozen=True, kw_only=True)
class PaymentMethodView:
    id: str
    label: str
    expires: str
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


def interval_label(visit: Visit, interval: str, count: int) -> str:
    """`month`, or `3 months`, in the page's language."""
    if count == 1:
        return visit.t(f"interval.{interval}")
    return visit.t(f"interval.{interval}s", count=count)


def _item_view(visit: Visit, item: SubscriptionItem, currency: str) -> ItemView:
    unit = visit.money(item.unit_amount, currency)
    return ItemView(
        name=item.name,
        quantity=item.quantity,
        # per_unit: unit_amount x quantity each period; flat: unit_amount whatever the quantity.
        price=visit.t("subscriptions.per_unit", price=unit)
        if item.price_model == "per_unit"
        else f"{unit} ({visit.t('subscriptions.flat')})",
        amount=visit.money(item.amount, currency),
        interval=interval_label(visit, item.billing_interval, item.interval_count),
    )


def subscription_view(visit: Visit, subscription: Subscription) -> SubscriptionView:
    """One subscription with its items and what its next invoice will contain."""
    ends = subscription.cancel_at_period_end and subscription.status != "canceled"
    trial = subscription.status == "trialing" and subscription.trial_end is not None
    upcoming = upcoming_invoice_lines(subscription)
    currency = subscription.currency
    return SubscriptionView(
        id=subscription.id,
        plan_name=subscription.plan_name,
        status=subscription.status,
        status_label=visit.t(f"status.{subscription.status}"),
        period=f"{visit.day(subscription.current_period_start)} – "
        f"{visit.day(subscription.current_period_end)}",
        next_billing_on=visit.day(subscription.current_period_end) if upcoming else None,
        ends_on=visit.day(subscription.current_period_end) if ends else None,
        trial_ends_on=(
            visit.day(subscription.trial_end)
            if trial and subscription.trial_end is not None
            else None
        ),
        items=[_item_view(visit, item, currency) for item in subscription.items],
        upcoming=[
            LineView(
                description=line.description,
                quantity=line.quantity,
                unit_price=visit.money(line.unit_amount, currency),
                amount=visit.money(line.amount, currency),
                period=f"{visit.day(line.period_start)} – {visit.day(line.period_end)}",
            )
            for line in upcoming
        ],
        upcoming_total=(
            visit.money(sum(line.amount for line in upcoming), currency) if upcoming else None
        ),
    )


def payment_method_view(visit: Visit, method: PaymentMethod) -> PaymentMethodView:
    return PaymentMethodView(
        id=method.id,
        label=visit.t("payment_methods.card", brand=method.brand.title(), last4=method.last4),
        expires=visit.t(
            "payment_methods.expires", month=f"{method.exp_month:02d}", year=method.exp_year
        ),
        is_default=method.is_default,
    )


def wallet_view(visit: Visit, wallet: Wallet) -> WalletView:
    return WalletView(
        id=wallet.id, name=wallet.name, balance=visit.money(wallet.balance, wallet.currency)
    )


def invoice_row(visit: Visit, invoice: Invoice) -> InvoiceRow:
    issued = invoice.finalized_at or invoice.created_at
    return InvoiceRow(
        id=invoice.id,
        number=invoice.number or "",
        date=visit.day(issued),
        status=invoice.status,
        status_label=visit.t(f"status.{invoice.status}"),
        total=visit.money(invoice.total, invoice.currency),
    )


def address_lines(visit: Visit, customer: Customer) -> list[str]:
    """The billing address as printed on an envelope, empty parts left out."""
    town = " ".join(part for part in (customer.postal_code, customer.city) if part)
    country = (
        country_names(visit.language).get(customer.country, customer.country)
        if customer.country
        else None
    )
    parts = (customer.address_line1, customer.address_line2, town, customer.state, country)
    return [part for part in parts if part]
