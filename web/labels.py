"""Words for the values billing stores as codes: statuses, billing intervals and cards.

Each label is written out as a literal `gettext` call so `pybabel extract` finds it;
the tables are built per `Translator`, never from a key joined at run time.
"""

from __future__ import annotations

from web.i18n import Translator

# Status words per language, built on first use: a page shows a status on every row, and
# the catalogues do not change while the process runs.
_STATUS_LABELS: dict[str, dict[str, str]] = {}


def status_label(i18n: Translator, status: str) -> str:
    """A subscription's or invoice's status in the page's language (the code when unknown)."""
    labels = _STATUS_LABELS.get(i18n.language)
    if labels is None:
        labels = _STATUS_LABELS[i18n.language] = _status_labels(i18n)
    return labels.get(status, status)


def _status_labels(i18n: Translator) -> dict[str, str]:
    return {
        "incomplete": i18n.gettext("Incomplete"),
        "trialing": i18n.gettext("Trial"),
        "active": i18n.gettext("Active"),
        "past_due": i18n.gettext("Past due"),
        "paused": i18n.gettext("Paused"),
        "canceled": i18n.gettext("Canceled"),
        "open": i18n.pgettext("invoice status", "Open"),
        "paid": i18n.gettext("Paid"),
        "void": i18n.gettext("Void"),
        "uncollectible": i18n.gettext("Uncollectible"),
    }


def interval_label(i18n: Translator, interval: str, count: int) -> str:
    """`month`, or `3 months`, in the page's language."""
    if interval == "day":
        return i18n.ngettext("day", "%(num)d days", count)
    if interval == "week":
        return i18n.ngettext("week", "%(num)d weeks", count)
    if interval == "year":
        return i18n.ngettext("year", "%(num)d years", count)
    return i18n.ngettext("month", "%(num)d months", count)


def card_label(i18n: Translator, brand: str, last4: str) -> str:
    """ "Visa ending in 4242", in the page's language."""
    return i18n.gettext("%(brand)s ending in %(last4)s", brand=brand.title(), last4=last4)
