"""What a tenant lets its customers add to a wallet, and the check of one top-up against it."""

from __future__ import annotations

from typing import Any, Protocol

from billing.errors import Conflict, InvalidInput
from billing.formatting import format_money


class WalletPolicy(Protocol):
    """What the tenant allows customers to add to their wallets (amounts in minor units).

    A tenant's wallet settings are one; billing reads them and knows no tenant.
    """

    @property
    def topups_enabled(self) -> bool: ...
    @property
    def topup_min(self) -> int: ...
    @property
    def topup_max(self) -> int: ...
    @property
    def max_balance(self) -> int: ...


class AmountRefused(InvalidInput):
    """The amount is outside the tenant's caps: data a page can put in its own words.

    `cap` is `topup_min`, `topup_max` or `max_balance`; `limit` is that cap in minor
    units of `currency`, and `room` what may still be added under `max_balance`.
    """

    def __init__(self, message: str, *, cap: str, limit: int, currency: str, room: int) -> None:
        self.cap = cap
        self.limit = limit
        self.currency = currency
        self.room = room
        super().__init__({"amount": message})


def check_amount(policy: WalletPolicy, *, balance: int, amount: Any, currency: str) -> int:
    """`amount` if top-ups are on and it fits the policy's caps; AmountRefused naming the cap."""
    settings = policy
    if not settings.topups_enabled:
        raise Conflict("Buying credits is not available for this account.", field="amount")
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise InvalidInput({"amount": "enter an amount"})
    room = max(settings.max_balance - balance, 0)
    if amount < settings.topup_min:
        low = format_money(settings.topup_min, currency, "en")
        raise AmountRefused(
            f"the smallest top-up is {low}",
            cap="topup_min",
            limit=settings.topup_min,
            currency=currency,
            room=room,
        )
    if amount > settings.topup_max:
        high = format_money(settings.topup_max, currency, "en")
        raise AmountRefused(
            f"the largest top-up is {high}",
            cap="topup_max",
            limit=settings.topup_max,
            currency=currency,
            room=room,
        )
    if balance + amount > settings.max_balance:
        cap = format_money(settings.max_balance, currency, "en")
        raise AmountRefused(
            f"your balance may not exceed {cap}; "
            f"you can add at most {format_money(room, currency, 'en')}",
            cap="max_balance",
            limit=settings.max_balance,
            currency=currency,
            room=room,
        )
    return amount
