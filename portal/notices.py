"""The portal's one-time notices: what a customer reads after an action, by key.

Handlers name a key when they redirect (`web.notices`); the next page shows the
text of that key in the page's language. Only the keys below exist, so a cookie
can never bring words of its own onto the page.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from aiohttp import web

from web import notices
from web.i18n import Translator


@dataclass(frozen=True, kw_only=True)
class Notice:
    kind: Literal["success", "error"]
    text: str


_SUCCESS: dict[str, Callable[[Translator], str]] = {
    "card_added": lambda i18n: i18n.gettext(
        "The card was saved. It is now your default payment method."
    ),
    "card_removed": lambda i18n: i18n.gettext("The card was removed."),
    "card_default": lambda i18n: i18n.gettext("Your default payment method was changed."),
    "subscription_canceled": lambda i18n: i18n.gettext(
        "Your subscription was canceled. You keep access until the end of the current period."
    ),
    "subscription_resumed": lambda i18n: i18n.gettext(
        "Your subscription was resumed. It renews as before."
    ),
}
_ERROR: dict[str, Callable[[Translator], str]] = {
    "subscription_unchanged": lambda i18n: i18n.gettext(
        "This subscription can no longer be changed here."
    ),
}
KEYS = frozenset(_SUCCESS) | frozenset(_ERROR)


def notice_for(i18n: Translator, key: str | None) -> Notice | None:
    """The notice `key` in the reader's language; None for no key or an unknown one."""
    if key in _SUCCESS:
        return Notice(kind="success", text=_SUCCESS[key](i18n))
    if key in _ERROR:
        return Notice(kind="error", text=_ERROR[key](i18n))
    return None


def attach_notice(
    request: web.Request, response: web.StreamResponse, *, customer_id: str, key: str
) -> None:
    """Show notice `key` on the customer's next portal page (after a script's redirect too)."""
    if key not in KEYS:
        raise ValueError(f"unknown portal notice {key!r}")
    path = f"/portal/{customer_id}"
    notices.set_notice(request, response, owner=customer_id, key=key, path=path)


def redirect_with_notice(request: web.Request, *, customer_id: str, key: str) -> web.HTTPSeeOther:
    """A redirect to the customer's overview that shows notice `key` there once."""
    redirect = web.HTTPSeeOther(location=f"/portal/{customer_id}")
    attach_notice(request, redirect, customer_id=customer_id, key=key)
    return redirect
