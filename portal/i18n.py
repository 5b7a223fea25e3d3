"""The portal's languages: a small English and French message catalogue, Babel for money and dates.

The page language is the browser's first supported choice (Accept-Language with
q-values, RFC 9110 12.5.4), else the customer's own language, else English.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal

from babel import Locale
from babel.dates import format_date
from babel.numbers import format_currency

from billing.money import exponent

DEFAULT_LANGUAGE = "en"

MESSAGES: dict[str, dict[str, str]] = {
    "en": {
        "page.title": "Billing for {name}",
        "nav.overview": "Overview",
        "nav.invoices": "Invoices",
        "nav.billing": "Billing information",
        "subscriptions.title": "Subscriptions",
        "subscriptions.empty": "You have no subscriptions.",
        "subscriptions.period": "Current period: {period}",
        "subscriptions.next_billing": "Next billing date: {date}",
        "subscriptions.trial_ends": "Your trial ends on {date}.",
        "subscriptions.ends": "This subscription ends on {date} and will not renew.",
        "subscriptions.items_caption": "What this subscription bills",
        "subscriptions.item": "Item",
        "subscriptions.quantity": "Quantity",
        "subscriptions.unit_price": "Unit price",
        "subscriptions.amount": "Amount",
        "subscriptions.flat": "flat",
        "subscriptions.per_unit": "{price} per unit",
        "subscriptions.every": "every {interval}",
        "subscriptions.upcoming": "Next invoice",
        "subscriptions.upcoming_caption": "What your next invoice will contain",
        "subscriptions.upcoming_none": "No further invoice is planned.",
        "subscriptions.upcoming_total": "Total before tax",
        "interval.day": "day",
        "interval.week": "week",
        "interval.month": "month",
        "interval.year": "year",
        "interval.days": "{count} days",
        "interval.weeks": "{count} weeks",
        "interval.months": "{count} months",
        "interval.years": "{count} years",
        "status.incomplete": "Incomplete",
        "status.trialing": "Trial",
        "status.active": "Active",
        "status.past_due": "Past due",
        "status.paused": "Paused",
        "status.canceled": "Canceled",
        "status.open": "Open",
        "status.paid": "Paid",
        "status.void": "Void",
        "status.uncollectible": "Uncollectible",
        "payment_methods.title": "Payment methods",
        "payment_methods.empty": "No payment method is saved.",
        "payment_methods.card": "{brand} ending in {last4}",
        "payment_methods.expires": "expires {month}/{year}",
        "payment_methods.default": "Default",
        "billing.title": "Billing information",
        "billing.name": "Name",
        "billing.email": "Email",
        "billing.address": "Address",
        "billing.line1": "Address line 1",
        "billing.line2": "Address line 2",
        "billing.city": "City",
        "billing.postal_code": "Postal code",
        "billing.state": "State or region",
        "billing.country": "Country",
        "billing.no_country": "Choose a country",
        "billing.vat_number": "VAT number",
        "billing.language": "Language",
        "billing.not_set": "Not set",
        "billing.edit": "Edit billing information",
        "billing.save": "Save",
        "billing.cancel": "Cancel",
        "billing.saved": "Your billing information was saved.",
        "billing.errors": "Some fields need your attention.",
        "billing.edit_disabled": "Billing information cannot be changed here.",
        "wallets.title": "Wallets",
        "wallets.empty": "You have no wallet.",
        "wallets.balance": "Balance",
        "invoices.title": "Invoices",
        "invoices.recent": "Recent invoices",
        "invoices.all": "All invoices",
        "invoices.empty": "You have no invoices yet.",
        "invoices.number": "Number",
        "invoices.date": "Date",
        "invoices.status": "Status",
        "invoices.total": "Total",
        "invoices.due": "Due date",
        "invoices.paid_on": "Paid on",
        "invoices.description": "Description",
        "invoices.subtotal": "Subtotal",
        "invoices.tax": "Tax",
        "invoices.amount_paid": "Amount paid",
        "invoices.download": "Download PDF",
        "invoices.invoice": "Invoice {number}",
        "invoices.billed_to": "Billed to",
        "invoices.issued_by": "Issued by",
        "invoices.memo": "Note",
        "invoices.back": "Back to invoices",
        "link.title": "This link has expired",
        "link.body": "For your security, portal links work for a limited time. "
        "Ask {tenant} for a fresh link to your billing portal.",
        "back": "Back to overview",
    },
    "fr": {
        "page.title": "Facturation de {name}",
        "nav.overview": "Vue d’ensemble",
        "nav.invoices": "Factures",
        "nav.billing": "Informations de facturation",
        "subscriptions.title": "Abonnements",
        "subscriptions.empty": "Vous n’avez aucun abonnement.",
        "subscriptions.period": "Période en cours : {period}",
        "subscriptions.next_billing": "Prochaine facturation : {date}",
        "subscriptions.trial_ends": "Votre essai se termine le {date}.",
        "subscriptions.ends": "Cet abonnement se termine le {date} et ne sera pas renouvelé.",
        "subscriptions.items_caption": "Ce que cet abonnement facture",
        "subscriptions.item": "Article",
        "subscriptions.quantity": "Quantité",
        "subscriptions.unit_price": "Prix unitaire",
        "subscriptions.amount": "Montant",
        "subscriptions.flat": "forfait",
        "subscriptions.per_unit": "{price} par unité",
        "subscriptions.every": "chaque {interval}",
        "subscriptions.upcoming": "Prochaine facture",
        "subscriptions.upcoming_caption": "Ce que contiendra votre prochaine facture",
        "subscriptions.upcoming_none": "Aucune autre facture n’est prévue.",
        "subscriptions.upcoming_total": "Total hors taxes",
        "interval.day": "jour",
        "interval.week": "semaine",
        "interval.month": "mois",
        "interval.year": "an",
        "interval.days": "{count} jours",
        "interval.weeks": "{count} semaines",
        "interval.months": "{count} mois",
        "interval.years": "{count} ans",
        "status.incomplete": "Incomplet",
        "status.trialing": "Essai",
        "status.active": "Actif",
        "status.past_due": "En retard",
        "status.paused": "En pause",
        "status.canceled": "Résilié",
        "status.open": "À payer",
        "status.paid": "Payée",
        "status.void": "Annulée",
        "status.uncollectible": "Irrécouvrable",
        "payment_methods.title": "Moyens de paiement",
        "payment_methods.empty": "Aucun moyen de paiement enregistré.",
        "payment_methods.card": "{brand} se terminant par {last4}",
        "payment_methods.expires": "expire le {month}/{year}",
        "payment_methods.default": "Par défaut",
        "billing.title": "Informations de facturation",
        "billing.name": "Nom",
        "billing.email": "E-mail",
        "billing.address": "Adresse",
        "billing.line1": "Adresse (ligne 1)",
        "billing.line2": "Adresse (ligne 2)",
        "billing.city": "Ville",
        "billing.postal_code": "Code postal",
        "billing.state": "État ou région",
        "billing.country": "Pays",
        "billing.no_country": "Choisissez un pays",
        "billing.vat_number": "Numéro de TVA",
        "billing.language": "Langue",
        "billing.not_set": "Non renseigné",
        "billing.edit": "Modifier les informations de facturation",
        "billing.save": "Enregistrer",
        "billing.cancel": "Annuler",
        "billing.saved": "Vos informations de facturation ont été enregistrées.",
        "billing.errors": "Certains champs sont à corriger.",
        "billing.edit_disabled": "Les informations de facturation ne peuvent pas être "
        "modifiées ici.",
        "wallets.title": "Portefeuilles",
        "wallets.empty": "Vous n’avez aucun portefeuille.",
        "wallets.balance": "Solde",
        "invoices.title": "Factures",
        "invoices.recent": "Factures récentes",
        "invoices.all": "Toutes les factures",
        "invoices.empty": "Vous n’avez pas encore de facture.",
        "invoices.number": "Numéro",
        "invoices.date": "Date",
        "invoices.status": "Statut",
        "invoices.total": "Total",
        "invoices.due": "Échéance",
        "invoices.paid_on": "Payée le",
        "invoices.description": "Description",
        "invoices.subtotal": "Sous-total",
        "invoices.tax": "TVA",
        "invoices.amount_paid": "Montant payé",
        "invoices.download": "Télécharger le PDF",
        "invoices.invoice": "Facture {number}",
        "invoices.billed_to": "Facturé à",
        "invoices.issued_by": "Émise par",
        "invoices.memo": "Note",
        "invoices.back": "Retour aux factures",
        "link.title": "Ce lien a expiré",
        "link.body": "Pour votre sécurité, les liens du portail ne sont valables qu’un temps. "
        "Demandez à {tenant} un nouveau lien vers votre espace de facturation.",
        "back": "Retour à la vue d’ensemble",
    },
}
SUPPORTED_LANGUAGES = tuple(MESSAGES)

Translate = Callable[..., str]


def parse_accept_language(header: str | None) -> list[str]:
    """Primary language subtags the browser accepts, most preferred first (q=0 dropped)."""
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
            weighted.append((-quality, position, tag.split("-")[0].lower()))
    return [language for _, _, language in sorted(weighted)]


def choose_language(accept_language: str | None, customer_language: str | None) -> str:
    """The browser's first supported language, else the customer's, else English."""
    for language in parse_accept_language(accept_language):
        if language in MESSAGES:
            return language
    if customer_language and customer_language.lower() in MESSAGES:
        return customer_language.lower()
    return DEFAULT_LANGUAGE


def translator(language: str) -> Translate:
    """`t(key, **values)` in `language`; English stands in for a missing message."""
    messages = MESSAGES.get(language, MESSAGES[DEFAULT_LANGUAGE])
    fallback = MESSAGES[DEFAULT_LANGUAGE]

    def t(key: str, **values: object) -> str:
        template = messages.get(key) or fallback.get(key) or key
        return template.format(**values) if values else template

    return t


def format_money(amount_minor: int, currency: str, language: str) -> str:
    """An amount in minor units as `language` writes it: 12,50 € or €12.50."""
    major = Decimal(amount_minor).scaleb(-exponent(currency))
    return str(format_currency(major, currency, locale=language))


def format_day(moment: datetime | date, language: str) -> str:
    """A date as `language` writes it, unambiguous: 1 Dec 2026, 1 déc. 2026."""
    day = moment.date() if isinstance(moment, datetime) else moment
    return str(format_date(day, "d MMM y", locale=language))


def country_names(language: str) -> dict[str, str]:
    """ISO 3166 alpha-2 code to the country's name in `language`."""
    territories = Locale.parse(language).territories
    return {str(code): str(name) for code, name in territories.items()}


def language_name(code: str, language: str) -> str:
    """The name of language `code`, written in `language`."""
    name = Locale.parse(language).languages.get(code, code)
    return str(name).capitalize()
