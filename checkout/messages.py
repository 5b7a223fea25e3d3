"""The checkout page's words in English and French; the portal's catalogue fills in the rest."""

from __future__ import annotations

from web.i18n import MESSAGES as PORTAL_MESSAGES
from web.i18n import Translate

MESSAGES: dict[str, dict[str, str]] = {
    "en": {
        "title": "Checkout",
        "heading": "Pay {tenant}",
        "summary": "Order summary",
        "summary.caption": "What you are buying",
        "item": "Item",
        "quantity": "Quantity",
        "amount": "Amount",
        "once": "once",
        "every": "every {interval}",
        "trial": "Free for {days} days, then {amount} every {interval}.",
        "then": "Then {amount} every {interval}, until you cancel.",
        "due_today": "Due today",
        "billing": "Billing information",
        "required": "required",
        "card": "Card",
        "card.help": "Your card is saved for this subscription's future payments.",
        "pay": "Pay {amount}",
        "start_trial": "Start free trial",
        "cancel": "Cancel and go back",
        "expires": "This link works until {date}.",
        "complete.title": "This checkout is complete",
        "complete.body": "Your payment was received. Nothing more to do.",
        "complete.continue": "Continue",
        "expired.title": "This checkout link has expired",
        "expired.body": "Nothing was charged. Ask {tenant} for a new payment link.",
        "declined": "The payment did not go through: {reason}",
        "not_set_up": "Card payments are not set up for this account yet.",
        "subtotal": "Subtotal",
        "tax": "Tax",
        "tax.line": "Tax {rate}: {amount}",
        "outcome.succeeded": "Payment complete. Thank you!",
        "outcome.requires_action": "Your bank asks you to confirm this payment.",
        "outcome.processing": "Your bank has not confirmed the payment yet. "
        "Reload this page in a moment to see the result.",
        "outcome.failed": "Nothing was charged. Try again or use another card.",
        "js.working": "Processing your payment…",
        "js.failed": "Something went wrong. Nothing was charged; reload the page and try again.",
        "js.closed": "This checkout can no longer be paid here. Reload the page to see why.",
        "js.fields": "Some information needs your attention.",
        "error.name": "Enter your name.",
        "error.email": "Enter a valid email address.",
        "error.line1": "Check the first address line.",
        "error.line2": "Check the second address line.",
        "error.postal_code": "Check the postal code.",
        "error.city": "Check the city.",
        "error.state": "Check the state or region.",
        "error.country": "Choose a country from the list.",
        "error.vat_number": "Check the VAT number: it must match the country.",
        "error.card": "Check your card details.",
    },
    "fr": {
        "title": "Paiement",
        "heading": "Payer {tenant}",
        "summary": "Récapitulatif",
        "summary.caption": "Ce que vous achetez",
        "item": "Article",
        "quantity": "Quantité",
        "amount": "Montant",
        "once": "une fois",
        "every": "chaque {interval}",
        "trial": "Gratuit pendant {days} jours, puis {amount} chaque {interval}.",
        "then": "Puis {amount} chaque {interval}, jusqu’à résiliation.",
        "due_today": "À payer aujourd’hui",
        "billing": "Informations de facturation",
        "required": "obligatoire",
        "card": "Carte",
        "card.help": "Votre carte est enregistrée pour les prochains paiements de cet abonnement.",
        "pay": "Payer {amount}",
        "start_trial": "Commencer l’essai gratuit",
        "cancel": "Annuler et revenir",
        "expires": "Ce lien est valable jusqu’au {date}.",
        "complete.title": "Ce paiement est terminé",
        "complete.body": "Votre paiement a été reçu. Vous n’avez plus rien à faire.",
        "complete.continue": "Continuer",
        "expired.title": "Ce lien de paiement a expiré",
        "expired.body": "Rien n’a été débité. Demandez à {tenant} un nouveau lien de paiement.",
        "declined": "Le paiement n’a pas abouti : {reason}",
        "not_set_up": "Le paiement par carte n’est pas encore configuré pour ce compte.",
        "subtotal": "Sous-total",
        "tax": "Taxes",
        "tax.line": "Taxes {rate} : {amount}",
        "outcome.succeeded": "Paiement effectué. Merci !",
        "outcome.requires_action": "Votre banque vous demande de confirmer ce paiement.",
        "outcome.processing": "Votre banque n’a pas encore confirmé le paiement. "
        "Rechargez cette page dans un instant pour voir le résultat.",
        "outcome.failed": "Rien n’a été débité. Réessayez ou utilisez une autre carte.",
        "js.working": "Paiement en cours…",
        "js.failed": "Une erreur s’est produite. Rien n’a été débité ; "
        "rechargez la page et réessayez.",
        "js.closed": "Ce paiement n’est plus possible ici. Rechargez la page pour savoir pourquoi.",
        "js.fields": "Certaines informations sont à vérifier.",
        "error.name": "Indiquez votre nom.",
        "error.email": "Indiquez une adresse e-mail valide.",
        "error.line1": "Vérifiez la première ligne de l’adresse.",
        "error.line2": "Vérifiez la deuxième ligne de l’adresse.",
        "error.postal_code": "Vérifiez le code postal.",
        "error.city": "Vérifiez la ville.",
        "error.state": "Vérifiez l’État ou la région.",
        "error.country": "Choisissez un pays dans la liste.",
        "error.vat_number": "Vérifiez le numéro de TVA : il doit correspondre au pays.",
        "error.card": "Vérifiez les coordonnées de votre carte.",
    },
}
SUPPORTED_LANGUAGES = tuple(MESSAGES)


def checkout_translator(language: str) -> Translate:
    """`t(key, **values)`: checkout's words, then the portal's, in `language`, else English."""
    chain = [
        MESSAGES.get(language, {}),
        PORTAL_MESSAGES.get(language, {}),
        MESSAGES["en"],
        PORTAL_MESSAGES["en"],
    ]

    def t(key: str, **values: object) -> str:
        template = next((messages[key] for messages in chain if key in messages), key)
        return template.format(**values) if values else template

    return t
