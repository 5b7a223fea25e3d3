"""The certificate issuer chosen by settings.

`build_issuer` makes the internal CA's issuer (offline and demo) or an ACME
issuer from the settings; `issuer_context` puts it in `app[keys.ISSUER]`.
Certificates are obtained through `certs.issuance.issue_and_store`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from certs.acme_issuer import AcmeIssuer
from certs.budgets import DEFAULT_BUDGETS, Budgets
from certs.internal_ca import InternalCA
from certs.issuer import InternalIssuer, Issuer
from gateway.settings import Settings
from kernel.db import Pool
from kernel.sealing import Sealer

if TYPE_CHECKING:
    from aiohttp import web


async def build_issuer(
    settings: Settings, pool: Pool, sealer: Sealer, *, budgets: Budgets = DEFAULT_BUDGETS
) -> Issuer:
    """The issuer named by settings.issuer: the internal CA (created on first use) or ACME.

    The internal CA's root is loaded from PostgreSQL, or created and stored
    sealed under `sealer` (safe when several replicas start at once); it is
    limited to settings.internal_ca_permitted_names. Raises
    certs.errors.KeyUnavailable when the stored root does not open with `sealer`.
    """
    if settings.issuer == "acme":
        if settings.acme_directory_url is None:  # load_settings refuses this already
            raise ValueError("GATEWAY_ACME_DIRECTORY_URL is required with GATEWAY_ISSUER=acme")
        return AcmeIssuer(
            settings.acme_directory_url,
            db=pool,
            sealer=sealer,
            ca_bundle=settings.acme_ca_bundle,
            contact=settings.acme_contact,
            challenge_kinds=settings.acme_challenges,
            budgets=budgets,
        )
    return InternalIssuer(
        await InternalCA.load_or_create(
            pool, sealer, permitted_names=settings.internal_ca_permitted_names
        )
    )


async def issuer_context(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: build the issuer into `app[keys.ISSUER]`; goes after the database context."""
    # Imported here: gateway.keys imports aiohttp's server, which the CLI's commands
    # building an issuer do not need.
    from gateway import keys

    app[keys.ISSUER] = await build_issuer(app[keys.SETTINGS], app[keys.POOL], app[keys.SEALER])
    yield
