"""Every resource module of the tenant API, gathered into one set of routes."""

from __future__ import annotations

from gateway.api import (
    checkout_sessions,
    customers,
    domains,
    invoices,
    payment_attempts,
    subscriptions,
    tenant_settings,
    wallets,
)
from gateway.api.framework import ApiRoutes


def all_routes() -> ApiRoutes:
    api = ApiRoutes()
    for module in (
        tenant_settings,
        domains,
        customers,
        subscriptions,
        invoices,
        payment_attempts,
        wallets,
        checkout_sessions,
    ):
        api.include(module.routes)
    return api
