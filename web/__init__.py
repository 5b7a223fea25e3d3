"""The shared web layer of the customer-facing pages: what portal, checkout and the settings page
have in common (origin checks and CSRF, languages and formatting, page headers, Stripe page
helpers, typed amounts). It knows no specific surface."""
