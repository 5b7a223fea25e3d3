"""Fixtures for billing tests: two tenants on this test's own database."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.tenants.models import Tenant
from gateway.tenants.registry import create_tenant


@pytest.fixture
async def tenant(pool: Any) -> Tenant:
    return await create_tenant(pool, slug="alpeak", name="Alpeak")


@pytest.fixture
async def other_tenant(pool: Any) -> Tenant:
    return await create_tenant(pool, slug="borealis", name="Borealis", default_currency="USD")
