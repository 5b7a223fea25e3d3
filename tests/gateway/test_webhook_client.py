"""Requests to tenant webhook URLs reach public addresses only, and stay small and short.

A plain TCP listener on 127.0.0.1 stands for the internal service an attacker
aims at: it counts the connections it gets, so a refused URL is one that never
connected. Names resolve through pebble-challtestsrv, as GATEWAY_DNS_RESOLVER
would make them: by default every name there resolves to 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from billing.outbox import record_event
from gateway.jobs.outbox_delivery import OutboxDelivery
from gateway.jobs.webhook_client import MAX_RESPONSE_BYTES, AddressRefused, WebhookClient
from gateway.settings import Settings
from gateway.tenants.registry import create_tenant, rotate_webhook_secret
from gateway.tenants.webhook_urls import WebhookUrlRefused, check_webhook_url
from kernel.db import transaction
from kernel.sealing import Sealer
from tests.fixtures.pebble import ChallTestSrv, challtestsrv, empty_dns

__all__ = ["challtestsrv", "empty_dns"]


@dataclass
class Listener:
    """A TCP port on 127.0.0.1 that counts connections and answers nothing."""

    port: int
    connections: int = 0


@pytest.fixture
async def listener() -> AsyncIterator[Listener]:
    found = Listener(port=0)

    async def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        found.connections += 1
        writer.close()

    server = await asyncio.start_server(accepted, "127.0.0.1", 0)
    found.port = server.sockets[0].getsockname()[1]
    try:
        yield found
    finally:
        server.close()
        await server.wait_closed()


def unique_name() -> str:
    return f"hooks-{secrets.token_hex(4)}.alpeak.test"


def nameserver(dns: ChallTestSrv) -> tuple[str, int]:
    return ("127.0.0.1", dns.dns_port)


# Each form reaches an address inside the gateway's own network; the port is the listener's.
HIDDEN_ADDRESS_FORMS = [
    "https://127.0.0.1:{port}/events",
    "https://2130706433:{port}/events",
    "https://0x7f.1:{port}/events",
    "https://017700000001:{port}/events",
    "https://127.1:{port}/events",
    "https://[::1]:{port}/events",
    "https://[::ffff:127.0.0.1]:{port}/events",
    "https://localhost:{port}/events",
    "https://0.0.0.0:{port}/events",
    "http://127.0.0.1:{port}/events",
    "https://user:secret@127.0.0.1:{port}/events",
]


@pytest.mark.parametrize("template", HIDDEN_ADDRESS_FORMS)
async def test_a_stored_url_to_an_internal_address_is_refused_at_delivery_without_connecting(
    template: str, pool: Any, settings: Settings, listener: Listener
) -> None:
    """URLs stored before the rule (or written around it) still never connect."""
    assert settings.kek is not None
    sealer = Sealer(settings.kek)
    tenant = await create_tenant(pool, slug="alpeak", name="Alpeak")
    await rotate_webhook_secret(pool, sealer, tenant_id=tenant.id)
    await pool.execute(
        "UPDATE tenants SET webhook_url = $2 WHERE id = $1",
        tenant.id,
        template.format(port=listener.port),
    )
    async with transaction(pool) as connection:
        await record_event(connection, tenant_id=tenant.id, type="wallet.credited", payload={})
    delivery = OutboxDelivery(pool, sealer, timeout_seconds=5.0)
    try:
        [result] = await delivery.run_due()
    finally:
        await delivery.close()
    assert not result.delivered
    assert "refused" in (result.error or "")
    stored = await pool.fetchrow("SELECT delivered_at, last_error FROM outbound_events")
    assert stored["delivered_at"] is None  # kept for when the tenant fixes the URL
    assert "refused" in stored["last_error"]
    assert listener.connections == 0


@pytest.mark.parametrize(
    ("record", "addresses", "reason"),
    [
        ("a", ["127.0.0.1"], "loopback"),
        ("a", ["10.0.0.1"], "private"),
        ("a", ["169.254.169.254"], "link-local"),
        ("a", ["100.64.0.1"], "carrier-grade NAT"),
        ("aaaa", ["::1"], "loopback"),
        ("aaaa", ["fd00::1"], "private"),
    ],
)
async def test_a_name_resolving_to_an_internal_address_is_refused_when_connecting(
    record: str,
    addresses: list[str],
    reason: str,
    empty_dns: ChallTestSrv,
    listener: Listener,
) -> None:
    """The URL is fine when saved; what the name resolves to at delivery time decides."""
    name = unique_name()
    if record == "a":
        empty_dns.add_a(name, addresses)
    else:
        empty_dns.add_aaaa(name, addresses)
    url = f"https://{name}:{listener.port}/events"
    assert check_webhook_url(url) == url  # nothing wrong with the URL itself
    client = WebhookClient(timeout=5.0, nameserver=nameserver(empty_dns))
    try:
        with pytest.raises(aiohttp.ClientConnectorError, match=reason) as raised:
            await client.post(url, data=b"{}", headers={})
    finally:
        await client.close()
    assert isinstance(raised.value.os_error, AddressRefused)
    assert listener.connections == 0


async def test_a_name_resolving_to_loopback_is_refused_even_by_default_dns_answers(
    challtestsrv: ChallTestSrv, listener: Listener
) -> None:
    """challtestsrv answers 127.0.0.1 for a name it was told nothing about (DNS rebinding)."""
    url = f"https://{unique_name()}:{listener.port}/events"
    client = WebhookClient(timeout=5.0, nameserver=nameserver(challtestsrv))
    try:
        with pytest.raises(aiohttp.ClientConnectorError, match=r"127\.0\.0\.1 is a loopback"):
            await client.post(url, data=b"{}", headers={})
    finally:
        await client.close()
    assert listener.connections == 0


@dataclass
class Endpoint:
    url: str
    received: list[bytes]


@pytest.fixture
async def endpoint(aiohttp_server: Any) -> Endpoint:
    found = Endpoint(url="", received=[])

    async def accept(request: web.Request) -> web.Response:
        found.received.append(await request.read())
        return web.Response(status=204)

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect(location="/events")

    app = web.Application()
    app.router.add_post("/events", accept)
    app.router.add_post("/moved", redirect)
    server = await aiohttp_server(app, host="127.0.0.1")
    found.url = f"http://127.0.0.1:{server.port}"
    return found


async def test_with_the_loopback_setting_a_name_resolving_to_loopback_is_delivered(
    challtestsrv: ChallTestSrv, endpoint: Endpoint
) -> None:
    port = endpoint.url.rsplit(":", 1)[1]
    url = f"http://{unique_name()}:{port}/events"
    client = WebhookClient(timeout=5.0, nameserver=nameserver(challtestsrv), allow_loopback=True)
    try:
        answer = await client.post(url, data=b'{"ok":true}', headers={})
    finally:
        await client.close()
    assert answer.status == 204
    assert endpoint.received == [b'{"ok":true}']


async def test_the_loopback_setting_still_refuses_private_addresses(
    challtestsrv: ChallTestSrv, listener: Listener
) -> None:
    name = unique_name()
    challtestsrv.add_a(name, ["10.1.2.3"])
    client = WebhookClient(timeout=5.0, nameserver=nameserver(challtestsrv), allow_loopback=True)
    try:
        with pytest.raises(aiohttp.ClientConnectorError, match=r"10\.1\.2\.3 is a private"):
            await client.post(f"http://{name}:{listener.port}/", data=b"{}", headers={})
        with pytest.raises(WebhookUrlRefused, match="user name or password"):
            await client.post(f"http://u:p@127.0.0.1:{listener.port}/", data=b"{}", headers={})
    finally:
        await client.close()
    assert listener.connections == 0


async def test_redirects_are_not_followed(endpoint: Endpoint) -> None:
    client = WebhookClient(timeout=5.0, allow_loopback=True)
    try:
        answer = await client.post(endpoint.url + "/moved", data=b"{}", headers={})
    finally:
        await client.close()
    assert answer.status == 307
    assert endpoint.received == []


def resident_kib(field: str) -> int:
    """VmRSS (now) or VmHWM (peak since the last reset) of this process, in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/self/status")


def reset_peak_rss() -> None:
    # proc(5): writing 5 to clear_refs resets the peak resident set size (VmHWM).
    Path("/proc/self/clear_refs").write_text("5")


HUGE_BYTES = 300 * 1024 * 1024


@pytest.fixture
async def huge_endpoint(aiohttp_server: Any) -> str:
    """Answers 200 with a 300 MB body, streamed from one reused 1 MiB block."""
    block = b"x" * (1024 * 1024)

    async def huge(request: web.Request) -> web.StreamResponse:
        await request.read()
        response = web.StreamResponse(status=200)
        response.content_length = HUGE_BYTES
        await response.prepare(request)
        with contextlib.suppress(ConnectionError):
            for _ in range(HUGE_BYTES // len(block)):
                await response.write(block)
        return response

    app = web.Application()
    app.router.add_post("/events", huge)
    server = await aiohttp_server(app, host="127.0.0.1")
    return f"http://127.0.0.1:{server.port}/events"


async def test_a_300_mb_answer_is_cut_at_64_kib_and_leaves_memory_flat(huge_endpoint: str) -> None:
    client = WebhookClient(timeout=30.0, allow_loopback=True)
    try:
        await client.post(huge_endpoint, data=b"{}", headers={})  # warm up: imports, TLS-free
        before = resident_kib("VmRSS")
        reset_peak_rss()
        started = time.monotonic()
        answer = await client.post(huge_endpoint, data=b"{}", headers={})
        elapsed = time.monotonic() - started
        peak = resident_kib("VmHWM")
    finally:
        await client.close()
    assert answer.status == 200
    assert answer.truncated
    assert len(answer.body) == MAX_RESPONSE_BYTES
    # Reading all of it took this process from 105 MB to 698 MB (issue 13); now a few MB.
    assert peak - before < 8 * 1024, f"peak RSS grew by {peak - before} KiB"
    assert elapsed < 10  # the rest is not read, so not waited for either
