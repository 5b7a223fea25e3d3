"""The settings page's languages: English and French messages, chosen from Accept-Language.

Dates use Babel through the shared web layer (web/i18n.py). The DNS diagnosis comes from
`gateway.tenants.dns_check` in English; French pages say the same thing from
the problem's stable code.
"""

from __future__ import annotations

from web import i18n as web_i18n
from web.i18n import Translate, layered_translator

MESSAGES: dict[str, dict[str, str]] = {
    "en": {
        "app.title": "Settings",
        "nav.label": "Settings sections",
        "nav.domains": "Domains",
        "nav.brand": "Brand",
        "nav.wallet": "Wallet",
        "nav.portal": "Portal",
        "nav.customers": "Customers",
        "sign_out": "Sign out",
        "saved": "Your changes were saved.",
        "form.errors": "Some fields need your attention; nothing was changed.",
        "save": "Save",
        "copy": "Copy",
        "copied": "Copied",
        "sign_in.title": "Sign in to your settings",
        "sign_in.intro": "Sign in with one of your API keys. The key is only used to open a "
        "session; revoking the key ends the session.",
        "sign_in.api_key": "API key",
        "sign_in.hint": "It starts with gwk_.",
        "sign_in.submit": "Sign in",
        "sign_in.invalid": "This API key is unknown or has been revoked.",
        "sign_in.throttled": "Too many failed sign-ins from your network. "
        "Try again in {minutes} minutes.",
        "sign_in.signed_out": "You are signed out.",
        "domains.title": "Custom domains",
        "domains.intro": "Serve your customer portal and checkout on your own domain, such as "
        "billing.example.com. You point it at us with a CNAME record and prove it is yours with "
        "a TXT record; HTTPS certificates are then obtained and renewed automatically.",
        "domains.list": "Your domains",
        "domains.empty": "You have no custom domain yet.",
        "domains.add": "Add a domain",
        "domains.name": "Domain name",
        "domains.name_hint": "For example billing.example.com",
        "domains.add_submit": "Add domain",
        "domains.status": "Status",
        "domains.open": "Open",
        "domain.title": "Domain {name}",
        "domain.back": "All domains",
        "domain.records": "Records to create at your DNS provider",
        "domain.records_done": "Your DNS points at us: nothing to create.",
        "domain.ownership": "Ownership",
        "domain.proof_why": "The CNAME sends visitors to us; the TXT record {record} proves "
        "that the domain is yours, so no one else can use it even while it points at us. "
        "Its value is a token made for this claim only: removing the domain here voids it.",
        "domain.proof_pending": "Not proven yet. Create both records above; until the TXT "
        "record is found, nothing is served on {name}. This claim expires on {when} if it is "
        "not proven by then.",
        "domain.proof_done": "Proven on {when}. You may keep or delete the TXT record.",
        "domain.copy_name": "Copy the record name {value}",
        "domain.type": "Type",
        "domain.record_name": "Name",
        "domain.target": "Value",
        "domain.copy_target": "Copy {value}",
        "domain.diagnosis": "What we see in DNS",
        "domain.not_checked": "Not checked yet. The first check runs within seconds.",
        "domain.resolves_to": "{name} currently resolves to {where}.",
        "domain.resolves_nowhere": "{name} does not resolve to anything yet.",
        "domain.no_problem": "{name} points at us.",
        "domain.last_checked": "Last checked: {when}",
        "domain.check_now": "Check now",
        "domain.checking": "Checked. The status below updates by itself.",
        "domain.certificate": "Certificate",
        "domain.no_certificate": "No certificate yet.",
        "domain.issuer": "Issuer",
        "domain.expires": "Expires",
        "domain.issuer.acme": "Public certificate authority (ACME)",
        "domain.issuer.internal": "Internal certificate authority",
        "domain.failure": "Last problem: {reason}",
        "domain.remove": "Remove domain",
        "domain.remove_label": "Remove {name}",
        "domain.removed": "The domain {name} was removed.",
        "domain.live": "This page updates by itself.",
        "status.pending_dns": "Pending DNS",
        "status.verified": "Verified",
        "status.issuing": "Issuing certificate",
        "status.active": "Active",
        "status.renewing": "Renewing certificate",
        "status.failed": "Failed",
        "status.moved": "Moved",
        "brand.title": "Brand",
        "brand.intro": "Your colour and icon appear on your customer portal, checkout and "
        "invoices.",
        "brand.color": "Brand colour",
        "brand.color_picker": "Pick a colour",
        "brand.color_hint": "# and six hex digits, like #4f46e5",
        "brand.icon": "Icon",
        "brand.icon_hint": "PNG, ICO or WebP, at most {size}.",
        "brand.icon_current": "Current icon",
        "brand.icon_none": "No icon",
        "brand.icon_remove": "Remove the icon",
        "brand.preview": "Preview of your portal",
        "brand.preview_customer": "Ada Lovelace",
        "brand.preview_plan": "Pro plan",
        "brand.preview_status": "Active",
        "brand.preview_button": "Buy credits",
        "brand.contrast": "Text on this colour is drawn in {text} (contrast {ratio}:1).",
        "brand.contrast_warning": "This colour has a contrast of only {ratio}:1 against the "
        "white page, below the 4.5:1 that text needs: the header and buttons stay readable, "
        "but the colour itself is hard to tell apart from the page. Choose a darker or more "
        "saturated colour.",
        "brand.white": "white",
        "brand.black": "black",
        "wallet.title": "Wallet",
        "wallet.intro": "Customers can buy prepaid credits from their portal. Amounts are in "
        "{currency}.",
        "wallet.topups_enabled": 'Offer "Buy credits" in the portal',
        "wallet.topup_min": "Minimum per payment ({currency})",
        "wallet.topup_max": "Maximum per payment ({currency})",
        "wallet.max_balance": "Maximum balance ({currency})",
        "portal.title": "Portal",
        "portal.billing_edit_enabled": "Customers may edit their billing information",
        "portal.allow_no_payment_method": "Customers may remove their last payment method, "
        "even with a live subscription",
        "portal.link_mode": "Portal links",
        "portal.link_mode.customer_id": "The customer id in the address opens the portal",
        "portal.link_mode.signed": "Signed links that expire",
        "portal.link_ttl_seconds": "Signed link lifetime in seconds",
        "portal.link_ttl_hint": "3600 is one hour, 86400 one day, at most 2592000 (30 days).",
        "portal.webhook_url": "Webhook URL",
        "portal.webhook_hint": "Events are sent here, signed with the secret below. "
        "An https:// address on the public internet, without user name or password; "
        "only a 2xx answer counts as received and redirects are not followed. "
        "Leave empty to send none.",
        "portal.secret": "Webhook signing secret",
        "portal.secret_none": "No signing secret yet.",
        "portal.secret_hidden": "A signing secret is set; it is hidden.",
        "portal.secret_show": "Show the signing secret",
        "portal.secret_rotate": "Create a new signing secret",
        "portal.secret_rotated": "A new signing secret was created; the old one no longer works.",
        "portal.secret_value": "Signing secret",
        "customers.title": "Customers",
        "customers.search": "Search by name, email or id",
        "customers.search_submit": "Search",
        "customers.empty": "No customer matches.",
        "customers.none": "You have no customers yet.",
        "customers.name": "Name",
        "customers.email": "Email",
        "customers.link": "Portal link",
        "customers.copy_link": "Copy portal link for {name}",
        "customers.copy_link_short": "Copy portal link",
        "customers.signed_link": "Create a signed link for {name}",
        "customers.signed_created": "Signed portal link for {name}, valid until {until}:",
        "customers.more": "Showing the first {count}; search to narrow the list.",
    },
    "fr": {
        "app.title": "Paramètres",
        "nav.label": "Sections des paramètres",
        "nav.domains": "Domaines",
        "nav.brand": "Marque",
        "nav.wallet": "Portefeuille",
        "nav.portal": "Portail",
        "nav.customers": "Clients",
        "sign_out": "Se déconnecter",
        "saved": "Vos modifications ont été enregistrées.",
        "form.errors": "Certains champs sont à corriger ; rien n’a été modifié.",
        "save": "Enregistrer",
        "copy": "Copier",
        "copied": "Copié",
        "sign_in.title": "Connexion à vos paramètres",
        "sign_in.intro": "Connectez-vous avec l’une de vos clés d’API. La clé sert seulement à "
        "ouvrir une session ; révoquer la clé ferme la session.",
        "sign_in.api_key": "Clé d’API",
        "sign_in.hint": "Elle commence par gwk_.",
        "sign_in.submit": "Se connecter",
        "sign_in.invalid": "Cette clé d’API est inconnue ou a été révoquée.",
        "sign_in.throttled": "Trop de connexions échouées depuis votre réseau. "
        "Réessayez dans {minutes} minutes.",
        "sign_in.signed_out": "Vous êtes déconnecté.",
        "domains.title": "Domaines personnalisés",
        "domains.intro": "Servez votre portail client et votre page de paiement sur votre "
        "propre domaine, par exemple facturation.exemple.fr. Vous le faites pointer vers nous avec "
        "un enregistrement CNAME et prouvez qu’il est à vous avec un enregistrement TXT ; les "
        "certificats HTTPS sont ensuite obtenus et renouvelés automatiquement.",
        "domains.list": "Vos domaines",
        "domains.empty": "Vous n’avez pas encore de domaine personnalisé.",
        "domains.add": "Ajouter un domaine",
        "domains.name": "Nom de domaine",
        "domains.name_hint": "Par exemple facturation.exemple.fr",
        "domains.add_submit": "Ajouter le domaine",
        "domains.status": "Statut",
        "domains.open": "Ouvrir",
        "domain.title": "Domaine {name}",
        "domain.back": "Tous les domaines",
        "domain.records": "Enregistrements à créer chez votre fournisseur DNS",
        "domain.records_done": "Votre DNS pointe vers nous : rien à créer.",
        "domain.ownership": "Propriété",
        "domain.proof_why": "Le CNAME envoie les visiteurs chez nous ; l’enregistrement TXT "
        "{record} prouve que le domaine est le vôtre, pour que personne d’autre ne puisse "
        "l’utiliser, même s’il pointe vers nous. Sa valeur est un jeton créé pour cette "
        "demande seulement : supprimer le domaine ici l’annule.",
        "domain.proof_pending": "Pas encore prouvée. Créez les deux enregistrements ci-dessus ; "
        "tant que l’enregistrement TXT n’est pas trouvé, rien n’est servi sur {name}. Cette "
        "demande expire le {when} si elle n’est pas prouvée d’ici là.",
        "domain.proof_done": "Prouvée le {when}. Vous pouvez garder ou supprimer "
        "l’enregistrement TXT.",
        "domain.copy_name": "Copier le nom d’enregistrement {value}",
        "domain.type": "Type",
        "domain.record_name": "Nom",
        "domain.target": "Valeur",
        "domain.copy_target": "Copier {value}",
        "domain.diagnosis": "Ce que nous voyons dans le DNS",
        "domain.not_checked": "Pas encore vérifié. La première vérification a lieu dans "
        "quelques secondes.",
        "domain.resolves_to": "{name} pointe actuellement vers {where}.",
        "domain.resolves_nowhere": "{name} ne pointe encore vers rien.",
        "domain.no_problem": "{name} pointe vers nous.",
        "domain.last_checked": "Dernière vérification : {when}",
        "domain.check_now": "Vérifier maintenant",
        "domain.checking": "Vérifié. Le statut ci-dessous se met à jour tout seul.",
        "domain.certificate": "Certificat",
        "domain.no_certificate": "Pas encore de certificat.",
        "domain.issuer": "Émetteur",
        "domain.expires": "Expire le",
        "domain.issuer.acme": "Autorité de certification publique (ACME)",
        "domain.issuer.internal": "Autorité de certification interne",
        "domain.failure": "Dernier problème : {reason}",
        "domain.remove": "Supprimer le domaine",
        "domain.remove_label": "Supprimer {name}",
        "domain.removed": "Le domaine {name} a été supprimé.",
        "domain.live": "Cette page se met à jour toute seule.",
        "status.pending_dns": "En attente du DNS",
        "status.verified": "Vérifié",
        "status.issuing": "Certificat en cours d’émission",
        "status.active": "Actif",
        "status.renewing": "Certificat en cours de renouvellement",
        "status.failed": "En échec",
        "status.moved": "Déplacé",
        "brand.title": "Marque",
        "brand.intro": "Votre couleur et votre icône apparaissent sur votre portail client, "
        "votre page de paiement et vos factures.",
        "brand.color": "Couleur de la marque",
        "brand.color_picker": "Choisir une couleur",
        "brand.color_hint": "# suivi de six chiffres hexadécimaux, comme #4f46e5",
        "brand.icon": "Icône",
        "brand.icon_hint": "PNG, ICO ou WebP, au plus {size}.",
        "brand.icon_current": "Icône actuelle",
        "brand.icon_none": "Pas d’icône",
        "brand.icon_remove": "Supprimer l’icône",
        "brand.preview": "Aperçu de votre portail",
        "brand.preview_customer": "Ada Lovelace",
        "brand.preview_plan": "Offre Pro",
        "brand.preview_status": "Actif",
        "brand.preview_button": "Acheter des crédits",
        "brand.contrast": "Le texte sur cette couleur est écrit en {text} (contraste {ratio}:1).",
        "brand.contrast_warning": "Cette couleur n’a qu’un contraste de {ratio}:1 avec la page "
        "blanche, sous les 4,5:1 nécessaires au texte : l’en-tête et les boutons restent "
        "lisibles, mais la couleur se distingue mal de la page. Choisissez une couleur plus "
        "sombre ou plus saturée.",
        "brand.white": "blanc",
        "brand.black": "noir",
        "wallet.title": "Portefeuille",
        "wallet.intro": "Vos clients peuvent acheter des crédits prépayés depuis leur portail. "
        "Les montants sont en {currency}.",
        "wallet.topups_enabled": "Proposer « Acheter des crédits » dans le portail",
        "wallet.topup_min": "Minimum par paiement ({currency})",
        "wallet.topup_max": "Maximum par paiement ({currency})",
        "wallet.max_balance": "Solde maximum ({currency})",
        "portal.title": "Portail",
        "portal.billing_edit_enabled": "Les clients peuvent modifier leurs informations de "
        "facturation",
        "portal.allow_no_payment_method": "Les clients peuvent supprimer leur dernier moyen de "
        "paiement, même avec un abonnement en cours",
        "portal.link_mode": "Liens vers le portail",
        "portal.link_mode.customer_id": "L’identifiant client dans l’adresse ouvre le portail",
        "portal.link_mode.signed": "Liens signés qui expirent",
        "portal.link_ttl_seconds": "Durée de validité des liens signés, en secondes",
        "portal.link_ttl_hint": "3600 correspond à une heure, 86400 à un jour, au plus 2592000 "
        "(30 jours).",
        "portal.webhook_url": "URL du webhook",
        "portal.webhook_hint": "Les événements sont envoyés ici, signés avec le secret "
        "ci-dessous. Une adresse https:// sur l’internet public, sans nom d’utilisateur ni "
        "mot de passe ; seule une réponse 2xx vaut réception et les redirections ne sont pas "
        "suivies. Laissez vide pour n’en envoyer aucun.",
        "portal.secret": "Secret de signature du webhook",
        "portal.secret_none": "Pas encore de secret de signature.",
        "portal.secret_hidden": "Un secret de signature existe ; il est masqué.",
        "portal.secret_show": "Afficher le secret de signature",
        "portal.secret_rotate": "Créer un nouveau secret de signature",
        "portal.secret_rotated": "Un nouveau secret de signature a été créé ; l’ancien ne "
        "fonctionne plus.",
        "portal.secret_value": "Secret de signature",
        "customers.title": "Clients",
        "customers.search": "Rechercher par nom, e-mail ou identifiant",
        "customers.search_submit": "Rechercher",
        "customers.empty": "Aucun client ne correspond.",
        "customers.none": "Vous n’avez pas encore de client.",
        "customers.name": "Nom",
        "customers.email": "E-mail",
        "customers.link": "Lien du portail",
        "customers.copy_link": "Copier le lien du portail de {name}",
        "customers.copy_link_short": "Copier le lien du portail",
        "customers.signed_link": "Créer un lien signé pour {name}",
        "customers.signed_created": "Lien signé vers le portail de {name}, valable jusqu’au "
        "{until} :",
        "customers.more": "Les {count} premiers sont affichés ; recherchez pour affiner.",
    },
}

# French wording of the DNS problems, by their stable code (gateway.tenants.dns_check).
PROBLEMS_FR = {
    "no_record": "{name} n’a encore aucun enregistrement DNS : créez un enregistrement CNAME "
    "pour {name} pointant vers {target}.",
    "wrong_target": "{name} pointe vers {where}, pas vers {target}. Modifiez l’enregistrement "
    "CNAME de {name} pour qu’il pointe vers {target}.",
    "address_elsewhere": "{name} a une adresse qui pointe ailleurs ({where}) : supprimez-la et "
    "créez un enregistrement CNAME pointant vers {target}.",
    "cname_loop": "Les enregistrements CNAME de {name} forment une boucle ou une chaîne trop "
    "longue. Faites pointer {name} directement vers {target}.",
    "caa_forbids": "Les enregistrements CAA de votre domaine interdisent à notre autorité de "
    "certification d’émettre pour {name}. Ajoutez l’enregistrement CAA indiqué ci-dessus.",
    "proof_missing": "La propriété de {name} n’est pas encore prouvée : créez l’enregistrement "
    "TXT indiqué ci-dessus.",
    "dns_unavailable": "Le DNS de {name} n’a pas pu être lu pour l’instant. C’est en général "
    "temporaire chez le fournisseur DNS : nous réessaierons plus tard.",
}


def choose_language(accept_language: str | None) -> str:
    """The browser's first language the settings page speaks, else English."""
    return web_i18n.choose_language(accept_language, None, supported=MESSAGES)


def translator(language: str) -> Translate:
    """`t(key, **values)` in `language`; English stands in for a missing message."""
    return layered_translator([MESSAGES], language)
