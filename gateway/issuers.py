"""The certificate issuer chosen by settings, and the one way to issue a certificate and keep it.

`build_issuer` makes the internal CA's issuer (offline and demo) or an ACME
issuer from the settings; `issuer_context` puts it in `app[keys.ISSUER]`.
`issue_and_store` is what every caller uses to obtain a certificate (the
domain lifecycle, renewal, the CLI, and handshake-time issuance): it saves the
certificate through `CertificateStore` while the issuer's per-name lock is
still held, so a concurrent caller for the same names finds it stored.

This module does not import aiohttp's server at import time, so the domain
lifecycle below the HTTP layer can use `issue_and_store`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from certs.acme_issuer import AcmeIssuer
from certs.budgets import DEFAULT_BUDGETS, Budgets
from certs.internal_ca import InternalCA
from certs.issuer import InternalIssuer, IssuedCertificate, Issuer
from certs.store import CertificateStore
from gateway.settings import Settings
from kernel.db import Db, Pool
from kernel.sealing import Sealer

if TYPE_CHECKING:
    from aiohttp import web


@dataclass(frozen=True)
class StoredIssue:
    """A certificate just issued (or found stored by a concurrent caller) and its row id.

    `certificate_id` is None when another caller issued and stored it while
    this one waited for the issuer's lock.
    """

    certificate: IssuedCertificate
    certificate_id: str | None


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
    # Imported here: gateway.keys imports aiohttp's server, which the lower layers using
    # issue_and_store must not pull in.
    from gateway import keys

    app[keys.ISSUER] = await build_issuer(app[keys.SETTINGS], app[keys.POOL], app[keys.SEALER])
    yield


async def issue_and_store(
    issuer: Issuer,
    pool: Db,
    sealer: Sealer,
    *,
    tenant_id: int | None,
    domain_id: str | None,
    names: list[str],
) -> StoredIssue:
    """Issue a certificate for `names` and save it (key sealed) in table certificates.

    The save runs inside the issuer's `on_issued` callback, under its
    cluster-wide lock for the names, and records the issuer's kind and detail.
    `tenant_id`/`domain_id` are None for vendor hosts. Blocks for as long as the
    CA takes (see `certs.issuer.Issuer.issue`); raises what `issue` raises
    (IssuanceFailed, IssuanceInProgress, BudgetExhausted, InvalidCertificateNames).
    """
    saved: list[str] = []

    async def save(issued: IssuedCertificate) -> None:
        saved.append(
            await CertificateStore().save(
                pool,
                sealer,
                tenant_id=tenant_id,
                domain_id=domain_id,
                names=issued.names,
                issuer=issuer.kind,
                issuer_detail=issuer.detail,
                chain_pem=issued.chain_pem,
                key_pem=issued.key_pem,
            )
        )

    issued = await issuer.issue(names, on_issued=save)
    return StoredIssue(issued, saved[0] if saved else None)
