"""Languages of the customer-facing pages: gettext catalogues, Accept-Language, Jinja's i18n.

One gettext domain, `messages`, holds the words of the portal, checkout, the settings
page and the invoice PDF (web/catalogues.py loads it). Messages are the English text
with `%(name)s` placeholders; `web/locale/<language>/LC_MESSAGES/messages.po` holds
each language (English plural forms included). Templates translate with
`jinja2.ext.i18n` (`{% trans %}`, `_()`, `ngettext()`), Python code with a
`Translator`'s `gettext`/`ngettext`/`pgettext`; both format with the same `%` rules.

The page language is the browser's first offered choice (Accept-Language with
q-values, RFC 9110 12.5.4, matched by Babel), else the customer's own language,
else English; the offered languages are those with a complete catalogue
(`web.catalogues.offered_languages`). Money, dates and names go through `billing.formatting`.
"""

from __future__ import annotations

from collections.abc import Collection
from gettext import NullTranslations
from typing import Any

import jinja2
from babel import negotiate_locale

from web.catalogues import SOURCE_LANGUAGE, offered_languages, translations

DEFAULT_LANGUAGE = SOURCE_LANGUAGE


def parse_accept_language(header: str | None) -> list[str]:
    """Language tags the browser accepts, most preferred first (q=0 and `*` dropped)."""
    if not header:
        return []
    weighted: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")):
        tag, *parameters = (piece.strip() for piece in part.split(";"))
        quality = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if tag and tag != "*" and quality > 0:
            weighted.append((-quality, position, tag))
    return [language for _, _, language in sorted(weighted)]


def choose_language(
    accept_language: str | None,
    customer_language: str | None,
    *,
    supported: Collection[str] | None = None,
) -> str:
    """The browser's first `supported` language, else the customer's, else English.

    `supported` defaults to the offered languages (complete catalogues).
    """
    available = list(offered_languages() if supported is None else supported)
    for preferred in parse_accept_language(accept_language):
        # One tag at a time: Babel then matches fr-CA to fr without an earlier,
        # unsupported choice falling through to a later one's region.
        match = negotiate_locale([preferred], available, sep="-", aliases={})
        if match is not None:
            return match.lower()
    if customer_language and customer_language.lower() in available:
        return customer_language.lower()
    return DEFAULT_LANGUAGE


class Translator:
    """The catalogue of one language; every method formats `%(name)s` with `values`.

    `ngettext` also offers the count as `%(num)d`, as Jinja's `ngettext` does.
    """

    def __init__(self, language: str) -> None:
        self.language = language if language in offered_languages() else DEFAULT_LANGUAGE
        self.catalogue: NullTranslations = translations(self.language)

    def gettext(self, message: str, /, **values: object) -> str:
        return _format(self.catalogue.gettext(message), values)

    def ngettext(self, singular: str, plural: str, count: int, /, **values: object) -> str:
        return _format(self.catalogue.ngettext(singular, plural, count), {"num": count, **values})

    def pgettext(self, context: str, message: str, /, **values: object) -> str:
        return _format(self.catalogue.pgettext(context, message), values)


def _format(text: str, values: dict[str, object]) -> str:
    return text % values if values else text


def translator(language: str) -> Translator:
    """The `Translator` of `language`; English stands in for a language without a catalogue."""
    return Translator(language)


def _catalogue_of(context: jinja2.runtime.Context) -> NullTranslations:
    found = context.get("i18n")
    return found.catalogue if isinstance(found, Translator) else translations(DEFAULT_LANGUAGE)


@jinja2.pass_context
def _gettext(context: jinja2.runtime.Context, message: str) -> str:
    return _catalogue_of(context).gettext(message)


@jinja2.pass_context
def _ngettext(context: jinja2.runtime.Context, singular: str, plural: str, count: int) -> str:
    return _catalogue_of(context).ngettext(singular, plural, count)


@jinja2.pass_context
def _pgettext(context: jinja2.runtime.Context, message_context: str, message: str) -> str:
    return _catalogue_of(context).pgettext(message_context, message)


@jinja2.pass_context
def _npgettext(
    context: jinja2.runtime.Context, message_context: str, singular: str, plural: str, count: int
) -> str:
    return _catalogue_of(context).npgettext(message_context, singular, plural, count)


def install_gettext(environment: jinja2.Environment) -> None:
    """Give `environment` Jinja's i18n extension, translating in the template's `i18n`.

    A page puts its `Translator` in the context as `i18n`; newstyle gettext escapes the
    values it formats in, so `_('Pay %(amount)s', amount=...)` is safe in HTML.
    """
    environment.add_extension("jinja2.ext.i18n")
    # Compiles fixed words into the text of a language's own templates (web.page_templates).
    environment.add_extension("web.page_templates.ConstantTranslations")
    install: Any = environment.install_gettext_callables  # type: ignore[attr-defined]
    install(
        gettext=_gettext,
        ngettext=_ngettext,
        pgettext=_pgettext,
        npgettext=_npgettext,
        newstyle=True,
    )
