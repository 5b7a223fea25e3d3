"""Languages of the customer-facing pages: the portal's English and French catalogue (checkout
adds its own words on top), Babel for money, dates and country names.

The page language is the browser's first supported choice (Accept-Language with
q-values, RFC 9110 12.5.4), else the customer's own language, else English.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
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
        "subscriptions.upcoming_due": "Total with tax",
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
        "payment_methods.remove": "Remove",
        "payment_methods.remove_label": "Remove {card}",
        "payment_methods.add": "Add a card",
        "payment_methods.last_card": "This card pays for your {plan} subscription. "
        "Add a new card first; you can then remove this one.",
        "cards.intro": "The new card becomes your default payment method.",
        "cards.details": "Card details",
        "cards.save": "Save card",
        "cards.not_saved": "The card was not saved: it was declined or not authenticated.",
        "topup.title": "Buy credits",
        "topup.heading": "Buy credits: {wallet}",
        "topup.link": "Buy credits for {wallet} ({currency})",
        "topup.amount": "Amount ({currency}), from {minimum} to {maximum}",
        "topup.charged_at_once": "Your default card is charged at once.",
        "topup.submit": "Buy credits",
        "topup.unavailable": "Buying credits is not available for this account.",
        "topup.processing": "Your payment is being processed.",
        "topup.requires_action": "Your bank asks you to confirm this payment.",
        "topup.succeeded": "{amount} was added to your wallet.",
        "topup.nothing_charged": "Nothing was charged.",
        "topup.amount_format": "enter an amount such as 25 or 25.50",
        "topup.decimals": "use at most {digits} decimal places",
        "topup.topup_min": "the smallest top-up is {limit}",
        "topup.topup_max": "the largest top-up is {limit}",
        "topup.max_balance": "your balance may not exceed {limit}; you can add at most {room}",
        "topup.no_card": "add a card before buying credits",
        "topup.form_expired": "the form is out of date; reload the page and try again",
        "request_failed": "Something went wrong ({status}). Reload the page and try again.",
        "back_to_overview": "Back to your billing overview",
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
        "subscriptions.upcoming_due": "Total TTC",
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
        "payment_methods.remove": "Supprimer",
        "payment_methods.remove_label": "Supprimer {card}",
        "payment_methods.add": "Ajouter une carte",
        "payment_methods.last_card": "Cette carte paie votre abonnement {plan}. "
        "Ajoutez d’abord une nouvelle carte ; vous pourrez ensuite supprimer celle-ci.",
        "cards.intro": "La nouvelle carte devient votre moyen de paiement par défaut.",
        "cards.details": "Informations de la carte",
        "cards.save": "Enregistrer la carte",
        "cards.not_saved": "La carte n’a pas été enregistrée : elle a été refusée "
        "ou n’a pas été authentifiée.",
        "topup.title": "Acheter des crédits",
        "topup.heading": "Acheter des crédits : {wallet}",
        "topup.link": "Acheter des crédits pour {wallet} ({currency})",
        "topup.amount": "Montant ({currency}), de {minimum} à {maximum}",
        "topup.charged_at_once": "Votre carte par défaut est débitée immédiatement.",
        "topup.submit": "Acheter des crédits",
        "topup.unavailable": "L’achat de crédits n’est pas disponible pour ce compte.",
        "topup.processing": "Votre paiement est en cours de traitement.",
        "topup.requires_action": "Votre banque vous demande de confirmer ce paiement.",
        "topup.succeeded": "{amount} ont été ajoutés à votre portefeuille.",
        "topup.nothing_charged": "Rien n’a été débité.",
        "topup.amount_format": "saisissez un montant, par exemple 25 ou 25,50",
        "topup.decimals": "utilisez au plus {digits} décimales",
        "topup.topup_min": "le plus petit achat de crédits est de {limit}",
        "topup.topup_max": "le plus gros achat de crédits est de {limit}",
        "topup.max_balance": "votre solde ne peut pas dépasser {limit} ; "
        "vous pouvez ajouter au plus {room}",
        "topup.no_card": "ajoutez une carte avant d’acheter des crédits",
        "topup.form_expired": "ce formulaire n’est plus valable ; rechargez la page et réessayez",
        "request_failed": "Une erreur s’est produite ({status}). Rechargez la page et réessayez.",
        "back_to_overview": "Retour à votre espace de facturation",
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

# The payment provider's refusals arrive in English (Stripe's standard card messages
# and our own); known ones are shown in the page's language, others as they came.
PROVIDER_MESSAGES: dict[str, dict[str, str]] = {
    "fr": {
        "Your card was declined.": "Votre carte a été refusée.",
        "Your card has insufficient funds.": "Le solde de votre carte est insuffisant.",
        "Your card has expired.": "Votre carte a expiré.",
        "Your card's security code is incorrect.": "Le code de sécurité de votre carte est "
        "incorrect.",
        "Your card number is incorrect.": "Le numéro de votre carte est incorrect.",
        "An error occurred while processing your card. Try again in a little bit.": "Une "
        "erreur s’est produite lors du traitement de votre carte. Réessayez dans un instant.",
        "The provided PaymentMethod has failed authentication.": "L’authentification de "
        "votre carte a échoué.",
        "Your bank asks you to confirm this payment.": "Votre banque vous demande de "
        "confirmer ce paiement.",
        "The payment failed. Nothing was charged.": "Le paiement a échoué. Rien n’a été débité.",
        "The payment was not completed. Nothing was charged.": "Le paiement n’a pas abouti. "
        "Rien n’a été débité.",
        "We could not reach the payment provider. Nothing was charged; try again shortly.": (
            "Le prestataire de paiement est injoignable. Rien n’a été débité ; "
            "réessayez dans un instant."
        ),
    },
}

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


def choose_language(
    accept_language: str | None,
    customer_language: str | None,
    *,
    supported: Collection[str] = SUPPORTED_LANGUAGES,
) -> str:
    """The browser's first `supported` language, else the customer's, else English."""
    for language in parse_accept_language(accept_language):
        if language in supported:
            return language
    if customer_language and customer_language.lower() in supported:
        return customer_language.lower()
    return DEFAULT_LANGUAGE


Catalogue = Mapping[str, Mapping[str, str]]  # language -> key -> message


def layered_translator(catalogues: Sequence[Catalogue], language: str) -> Translate:
    """`t(key, **values)`: the first of `catalogues` with `key` in `language`, then in English.

    A surface puts its own words first and shares the rest (checkout over the portal's).
    """
    chain = [catalogue.get(language, {}) for catalogue in catalogues]
    chain += [catalogue.get(DEFAULT_LANGUAGE, {}) for catalogue in catalogues]

    def t(key: str, **values: object) -> str:
        template = next((messages[key] for messages in chain if key in messages), key)
        return template.format(**values) if values else template

    return t


def translator(language: str) -> Translate:
    """`t(key, **values)` in `language` from the portal's catalogue; English stands in."""
    return layered_translator([MESSAGES], language)


def provider_message(text: str, language: str) -> str:
    """A payment provider's message in `language` when it is a known one, else as it came."""
    return PROVIDER_MESSAGES.get(language, {}).get(text, text)


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
