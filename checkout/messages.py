"""The checkout page's words in English and French; the portal's catalogue fills in the rest."""

from __future__ import annotations

from portal.i18n import MESSAGES as PORTAL_MESSAGES
from portal.i18n import Translate

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
