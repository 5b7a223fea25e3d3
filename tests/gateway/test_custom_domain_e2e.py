"""A tenant's custom domain end to end, as the tenant lives it, against a real ACME CA.

The real gateway (`gateway.server.serve`, domain worker on) runs on the ports
Pebble's validator connects to, so Pebble validates HTTP-01 through the
gateway's plain-HTTP listener and TLS-ALPN-01 through its HTTPS listener.
Names resolve through a challtestsrv with no default answers: a name has only
the records this test creates. The tenant adds its domain through the API,
sees it wait for DNS, creates the CNAME, asks for a check, and its customer's
portal then opens on the custom domain under a certificate from Pebble's root.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import asyncpg
import pytest
from aiohttp import web

from certs.challenges import HTTP_01, TLS_ALPN_01
from gateway.app import create_app
from gateway.server import serve
from gateway.settings import Settings
from tests.conftest import ApiTenant, eventually
from tests.fixtures.pebble import ChallTestSrv, Pebble, empty_dns, running_pebble
from tests.gateway.https_gateway import START_TIMEOUT, https_get, trusting, with_free_ports

__all__ = ["empty_dns"]

pytestmark = pytest.mark.slow

NAME = "billing.alpeak.test"
ALPEAK_COLOR = "#b4531f"  # a colour no other fixture uses
ACTIVE_WITHIN = 60.0  # seconds; generous for a loaded machine


@pytest.fixture(scope="module")
def pebble_on_empty_dns(empty_dns: ChallTestSrv) -> Iterator[Pebble]:
    """A Pebble resolving through `empty_dns`: no name points anywhere until told to."""
    with running_pebble(empty_dns) as server:
        yield server


class Api:
    """The gateway's API as a tenant reaches it: plain HTTP on 127.0.0.1, Host api.<base>."""

    def __init__(self, session: aiohttp.ClientSession, settings: Settings, key: str) -> None:
        self.session = session
        self.base = f"http://127.0.0.1:{settings.http_port}/api/v1"
        self.headers = {
            "Host": f"{settings.api_host}:{settings.http_port}",
            "Authorization": f"Bearer {key}",
        }

    async def call(
        self, method: str, path: str, body: dict[str, Any] | None = None, expect: int = 200
    ) -> dict[str, Any]:
        async with self.session.request(
            method, self.base + path, json=body, headers=self.headers
        ) as response:
            text = await response.text()
            assert response.status == expect, f"{method} {path}: {response.status} {text}"
            result: dict[str, Any] = await response.json()
            return result


async def acme_orders(pool: asyncpg.Pool, name: str) -> list[str]:
    rows = await pool.fetch("SELECT outcome FROM acme_orders WHERE name = $1 ORDER BY id", name)
    return [row["outcome"] for row in rows]


@pytest.mark.parametrize("method", [HTTP_01, TLS_ALPN_01])
async def test_a_tenant_points_its_domain_at_us_and_its_portal_opens_there_under_the_cas_root(
    pool: asyncpg.Pool,
    settings: Settings,
    pebble_on_empty_dns: Pebble,
    make_tenant: Callable[..., Coroutine[Any, Any, ApiTenant]],
    method: str,
) -> None:
    pebble = pebble_on_empty_dns
    dns = pebble.dns
    dns.clear_cname(NAME)  # the other parametrization shares this DNS server
    # Pebble's validator connects to these ports on whatever address the name resolves to.
    dns.add_a(f"cname.{settings.base_domain}", ["127.0.0.1"])
    settings = dataclasses.replace(
        with_free_ports(settings, http_port=pebble.http_port, https_port=pebble.tls_port),
        redirect_http=False,
        issuer="acme",
        acme_directory_url=pebble.directory_url,
        acme_ca_bundle=pebble.ca_bundle,
        acme_challenges=(method,),
        dns_resolver=("127.0.0.1", dns.dns_port),
    )
    tenant = await make_tenant("alpeak", name="Alpeak Outdoor", brand_color=ALPEAK_COLOR)
    app = create_app(settings)  # the domain worker runs too

    try:
        async with (
            running(settings, app),
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=45)) as session,
        ):
            api = Api(session, settings, tenant.key)
            customer = await api.call(
                "POST", "/customers", {"name": "Ada Lovelace", "email": "ada@alpeak.test"}, 201
            )

            added = await api.call("POST", "/domains", {"name": NAME}, 201)
            assert added["status"] == "pending_dns"
            assert added["cname_target"] == settings.cname_target
            proof = added["ownership"]
            assert proof["proven"] is False
            assert proof["record_name"] == f"_gateway-verify.{NAME}"
            assert added["records_to_create"] == [
                {"type": "CNAME", "name": NAME, "target": settings.cname_target},
                {"type": "TXT", "name": proof["record_name"], "target": proof["value"]},
            ]

            # No record yet: the check says what to create and no order is placed.
            waiting = await api.call("POST", f"/domains/{NAME}/check")
            assert waiting["status"] == "pending_dns"
            assert waiting["certificate"] is None
            codes = [problem["code"] for problem in waiting["problems"]]
            assert codes == ["no_record", "proof_missing"], waiting["problems"]
            assert settings.cname_target in waiting["problems"][0]["message"]
            assert waiting["diagnosis"]["verified"] is False
            assert await acme_orders(pool, NAME) == []

            # The CNAME alone proves nothing: the name could be anyone's.
            dns.set_cname(NAME, settings.cname_target)
            unproven = await api.call("POST", f"/domains/{NAME}/check")
            assert unproven["status"] == "pending_dns"
            assert [p["code"] for p in unproven["problems"]] == ["proof_missing"]
            assert await acme_orders(pool, NAME) == []

            # The tenant creates the TXT record and asks again (the worker may get there first).
            dns.set_txt(proof["record_name"], proof["value"])
            active = await eventually(
                lambda: api.call("POST", f"/domains/{NAME}/check"),
                lambda domain: domain["status"] in ("active", "failed"),
                within=ACTIVE_WITHIN,
            )
            assert active["status"] == "active", active["failure_reason"]
            assert active["problems"] == []
            assert active["records_to_create"] == []
            assert active["ownership"]["proven"] is True
            assert settings.cname_target in active["resolves_to"]
            assert active["certificate"] is not None
            assert active["certificate"]["issuer"] == "acme"

            read = await api.call("GET", f"/domains/{NAME}")
            assert read["status"] == "active"
            assert read["certificate"] == active["certificate"]

            # The customer's portal link now points at the custom domain.
            link = await api.call("GET", f"/customers/{customer['id']}/portal")
            url = urlsplit(link["url"])
            assert (url.scheme, url.hostname) == ("https", NAME)

            # A visitor trusting only Pebble's root gets the tenant's branded portal.
            client = trusting(pebble.root_pem)
            answer, serial = await eventually(
                lambda: https_get(settings.https_port, client, NAME, url.path, host=NAME),
                lambda result: result[0].status == 200,
            )
        assert answer.status == 200, answer.body[:500]
        assert f"--brand: {ALPEAK_COLOR}" in answer.body
        assert "Ada Lovelace" in answer.body
        assert serial == active["certificate"]["serial"].lower().lstrip("0")
        assert await acme_orders(pool, NAME) == ["valid"]
        stored = await pool.fetch(
            "SELECT c.issuer FROM certificates c JOIN domains d ON d.id = c.domain_id"
            " WHERE d.name = $1 AND c.tenant_id = $2",
            NAME,
            tenant.tenant.id,
        )
        assert [row["issuer"] for row in stored] == ["acme"]
    finally:
        dns.clear_cname(NAME)


@contextlib.asynccontextmanager
async def running(settings: Settings, app: web.Application) -> AsyncIterator[None]:
    """`serve(settings, app=app)` in this loop until the block ends; fails if it does not start."""
    started = asyncio.Event()
    stop = asyncio.Event()
    task = asyncio.create_task(
        serve(settings, ready=lambda _urls: started.set(), stop=stop, app=app)
    )
    try:
        waiter = asyncio.create_task(started.wait())
        done, _ = await asyncio.wait(
            {task, waiter}, timeout=START_TIMEOUT, return_when=asyncio.FIRST_COMPLETED
        )
        waiter.cancel()
        if task in done:
            task.result()  # raises the start-up error
        assert started.is_set(), "the gateway did not start"
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, START_TIMEOUT)
