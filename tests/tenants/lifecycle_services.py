"""Lifecycle services for domain tests: DNS from challtestsrv, certificates from the internal CA."""

from __future__ import annotations

import dataclasses
import os

import asyncpg

from gateway.issuers import build_issuer
from gateway.settings import Settings
from gateway.tenants.lifecycle import LifecycleServices
from kernel.sealing import Sealer
from tests.fixtures.pebble import ChallTestSrv


async def lifecycle_services(
    pool: asyncpg.Pool,
    settings: Settings,
    challtestsrv: ChallTestSrv,
    *,
    custom_suffix: str | None,
) -> LifecycleServices:
    """Services whose resolver is `challtestsrv` and whose internal CA also signs `custom_suffix`
    (it issues for custom domains only when told to; None: the base domain and localhost only).
    """
    configured = dataclasses.replace(
        settings,
        dns_resolver=("127.0.0.1", challtestsrv.dns_port),
        internal_ca_names=() if custom_suffix is None else (custom_suffix,),
    )
    sealer = Sealer(os.urandom(32))
    issuer = await build_issuer(configured, pool, sealer)
    return LifecycleServices.build(pool=pool, sealer=sealer, settings=configured, issuer=issuer)
