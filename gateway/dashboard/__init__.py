"""The tenant settings page at app.<base domain>: domains, brand, wallet, portal, customers."""
