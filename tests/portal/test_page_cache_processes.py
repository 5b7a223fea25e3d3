"""Two real `gateway serve` processes on one database: a write through one shows on the other.

Each process keeps its own rendered-page cache. The customer's overview is first
viewed on B (so B holds it), the write goes through A, and B's very next view must
show it: no polling, no waiting for a notification. The writes: the tenant API
(billing details, wallet credits) and the portal's own billing form.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from tests.conftest import ApiTenant
from tests.gateway.gateway_process import GatewayProcess, gateway_environment, gateway_process

pytestmark = pytest.mark.slow

CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass(frozen=True)
class Replicas:
    a: GatewayProcess
    b: GatewayProcess
    tenant: ApiTenant
    session: aiohttp.ClientSession


@pytest.fixture
async def replicas(
    database_url: str,
    tmp_path: Path,
    make_tenant: Callable[..., Coroutine[Any, Any, ApiTenant]],
) -> AsyncIterator[Replicas]:
    tenant = await make_tenant("alpeak", name="Alpeak Outdoor")
    kek = base64.b64encode(os.urandom(32)).decode()
    first = gateway_environment(database_url, kek, tmp_path / "a")
    second = gateway_environment(database_url, kek, tmp_path / "b")
    timeout = aiohttp.ClientTimeout(total=60)
    async with (
        gateway_process(*first) as a,
        gateway_process(*second) as b,
        aiohttp.ClientSession(timeout=timeout) as session,
    ):
        yield Replicas(a, b, tenant, session)


async def api(
    replicas: Replicas, method: str, path: str, body: dict[str, Any], expect: int
) -> dict[str, Any]:
    """The tenant API of replica A."""
    port = replicas.a.http_port
    headers = {"Host": f"api.localhost:{port}", "Authorization": f"Bearer {replicas.tenant.key}"}
    async with replicas.session.request(
        method, f"http://127.0.0.1:{port}/api/v1{path}", json=body, headers=headers
    ) as response:
        assert response.status == expect, await response.text()
        answer: dict[str, Any] = await response.json()
        return answer


async def overview_on(replicas: Replicas, replica: GatewayProcess, customer_id: str) -> str:
    port = replica.http_port
    async with replicas.session.get(
        f"http://127.0.0.1:{port}/portal/{customer_id}",
        headers={"Host": f"alpeak.localhost:{port}", "Accept-Language": "en"},
    ) as response:
        assert response.status == 200, await response.text()
        return await response.text()


async def new_customer(replicas: Replicas) -> str:
    customer = await api(
        replicas, "POST", "/customers", {"name": "Ada Lovelace", "email": "ada@alpeak.test"}, 201
    )
    return str(customer["id"])


async def test_billing_details_changed_through_one_process_show_on_the_others_next_view(
    replicas: Replicas, pool: asyncpg.Pool
) -> None:
    customer_id = await new_customer(replicas)
    before = await overview_on(replicas, replicas.b, customer_id)
    assert before == await overview_on(replicas, replicas.b, customer_id)  # B serves its copy

    await api(
        replicas, "PATCH", f"/customers/{customer_id}", {"email": "billing@lovelace.test"}, 200
    )
    after = await overview_on(replicas, replicas.b, customer_id)

    assert "ada@alpeak.test" in before
    assert "billing@lovelace.test" in after
    assert "ada@alpeak.test" not in after


async def test_wallet_credits_added_through_one_process_show_on_the_others_next_view(
    replicas: Replicas,
) -> None:
    customer_id = await new_customer(replicas)
    wallet = await api(
        replicas, "POST", "/wallets", {"customer": customer_id, "currency": "EUR"}, 201
    )
    before = await overview_on(replicas, replicas.b, customer_id)
    await overview_on(replicas, replicas.a, customer_id)  # both processes hold the page

    await api(replicas, "POST", f"/wallets/{wallet['id']}/credits", {"amount": 4200}, 201)
    on_b = await overview_on(replicas, replicas.b, customer_id)
    on_a = await overview_on(replicas, replicas.a, customer_id)

    assert "€0.00" in before
    assert "€42.00" in on_b
    assert "€42.00" in on_a


async def test_the_billing_form_saved_through_one_process_shows_on_the_others_next_view(
    replicas: Replicas,
) -> None:
    customer_id = await new_customer(replicas)
    before = await overview_on(replicas, replicas.b, customer_id)
    port = replicas.a.http_port
    host = f"alpeak.localhost:{port}"
    url = f"http://127.0.0.1:{port}/portal/{customer_id}/billing"
    async with replicas.session.get(url, headers={"Host": host}) as form:
        token = CSRF_INPUT.search(await form.text())
    assert token is not None
    fields = {
        "csrf_token": token[1],
        "name": "Ada King",
        "email": "ada.king@lovelace.test",
        "line1": "1 Place Grenette",
        "city": "Grenoble",
        "postal_code": "38000",
        "country": "FR",
        "language": "en",
    }
    async with replicas.session.post(
        url,
        data=fields,
        headers={"Host": host, "Origin": f"http://{host}"},
        allow_redirects=False,
    ) as saved:
        assert saved.status == 303, await saved.text()
    after = await overview_on(replicas, replicas.b, customer_id)

    assert "1 Place Grenette" not in before
    assert "1 Place Grenette" in after
    assert "ada.king@lovelace.test" in after
