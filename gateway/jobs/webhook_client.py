"""The HTTP client for tenant-chosen URLs: public addresses only, bounded in time and size.

A tenant picks its webhook URL, so every request to it is treated as hostile
input (OWASP SSRF prevention): the URL is checked again before each request
(`gateway.tenants.webhook_urls`), and the resolver below refuses every address
that is not public, so the addresses the connection really goes to are the
checked ones (a name that resolves to a public address when saved and to
127.0.0.1 later, DNS rebinding, fails at connect time). aiohttp connects only
to what its resolver returns, or to an IP literal, which the URL check covered;
the DNS cache is off so no stale answer is reused. Redirects are never
followed, environment proxies are ignored, at most `MAX_RESPONSE_BYTES` of an
answer are read (the connection is then closed, the rest never read), and the
whole exchange has one deadline.
"""

from __future__ import annotations

import asyncio
import errno
import socket
from dataclasses import dataclass

import aiohttp
import dns.asyncresolver
import dns.exception
import dns.rdatatype
import dns.resolver
from aiohttp.abc import AbstractResolver, ResolveResult

from gateway.tenants.dns_check import make_resolver
from gateway.tenants.public_addresses import parse_address, refusal
from gateway.tenants.webhook_urls import check_webhook_url

# Enough for any acknowledgement; an endpoint answering more is not read further.
MAX_RESPONSE_BYTES = 64 * 1024
_READ_CHUNK = 16 * 1024


class AddressRefused(OSError):
    """A name resolved only to addresses requests may not go to; `strerror` says which."""

    def __init__(self, message: str) -> None:
        super().__init__(errno.EACCES, message)


class PublicAddressResolver(AbstractResolver):
    """An aiohttp resolver that returns only the addresses outbound requests may reach.

    Asks `nameserver` (host, port) through dnspython when given, else the
    system's resolver (`getaddrinfo`). Non-public answers are dropped; when
    none is left, `resolve` raises AddressRefused naming what was refused.
    """

    def __init__(
        self,
        *,
        nameserver: tuple[str, int] | None = None,
        allow_loopback: bool = False,
        timeout: float = 5.0,
    ) -> None:
        self._dns = (
            None
            if nameserver is None
            else make_resolver([nameserver[0]], port=nameserver[1], timeout=timeout)
        )
        self._allow_loopback = allow_loopback

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._lookup(host, port, family)
        allowed: list[ResolveResult] = []
        refused: list[str] = []
        for result in found:
            address = parse_address(result["host"])
            reason = (
                "not an IP address"
                if address is None
                else refusal(address, allow_loopback=self._allow_loopback)
            )
            if reason is None:
                allowed.append(result)
            else:
                refused.append(reason)
        if not allowed:
            if refused:
                raise AddressRefused(f"{host} resolves to {refused[0]}")
            raise OSError(errno.EHOSTUNREACH, f"{host} has no address")
        return allowed

    async def _lookup(
        self, host: str, port: int, family: socket.AddressFamily
    ) -> list[ResolveResult]:
        if self._dns is None:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM, family=family
            )
            return [
                _result(host, str(info[4][0]), port, info[0])
                for info in infos
                if info[0] in (socket.AF_INET, socket.AF_INET6)
            ]
        results: list[ResolveResult] = []
        kinds = {
            socket.AF_INET: (dns.rdatatype.A,),
            socket.AF_INET6: (dns.rdatatype.AAAA,),
        }.get(family, (dns.rdatatype.A, dns.rdatatype.AAAA))
        for kind in kinds:
            try:
                answer = await self._dns.resolve(host, kind, raise_on_no_answer=False, search=False)
            except dns.resolver.NXDOMAIN:
                continue
            except dns.exception.DNSException as error:
                raise OSError(errno.EHOSTUNREACH, f"DNS lookup of {host} failed: {error}") from None
            address_family = socket.AF_INET if kind == dns.rdatatype.A else socket.AF_INET6
            results.extend(
                _result(host, record.address, port, address_family)
                for record in (answer.rrset or ())
            )
        return results

    async def close(self) -> None:
        return None


def _result(host: str, address: str, port: int, family: int) -> ResolveResult:
    return {
        "hostname": host,
        "host": address,
        "port": port,
        "family": family,
        "proto": 0,
        "flags": socket.AI_NUMERICHOST,
    }


@dataclass(frozen=True, kw_only=True)
class Answer:
    """What the endpoint answered: its status and up to MAX_RESPONSE_BYTES of its body."""

    status: int
    body: bytes
    truncated: bool


class WebhookClient:
    """POSTs to tenant URLs under the rules above; `close` releases the connections.

    Blocks only on the network, at most `timeout` seconds per request in all
    (resolution, connection, TLS, sending, answer). Raises WebhookUrlRefused
    for a URL that may not be used, aiohttp.ClientError (AddressRefused inside
    for a refused address) or TimeoutError otherwise.
    """

    def __init__(
        self,
        *,
        timeout: float = 10.0,
        nameserver: tuple[str, int] | None = None,
        allow_loopback: bool = False,
        user_agent: str = "billing-edge-gateway",
        max_response_bytes: int = MAX_RESPONSE_BYTES,
    ) -> None:
        self._timeout = timeout
        self._nameserver = nameserver
        self._allow_loopback = allow_loopback
        self._user_agent = user_agent
        self._max_response_bytes = max_response_bytes
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            resolver = PublicAddressResolver(
                nameserver=self._nameserver,
                allow_loopback=self._allow_loopback,
                timeout=self._timeout,
            )
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(resolver=resolver, use_dns_cache=False),
                timeout=aiohttp.ClientTimeout(total=self._timeout),
                headers={"User-Agent": self._user_agent},
                trust_env=False,  # never through a proxy named by the environment
            )
        return self._session

    async def post(self, url: str, *, data: bytes, headers: dict[str, str]) -> Answer:
        """POST `data` to `url`; the status and the first bytes of the answer."""
        check_webhook_url(url, allow_loopback=self._allow_loopback)
        session = self._http()
        async with asyncio.timeout(self._timeout):
            response = await session.post(url, data=data, headers=headers, allow_redirects=False)
            try:
                body, truncated = await self._read_bounded(response)
            finally:
                if response.content.at_eof():
                    response.release()
                else:
                    # Closing drops the connection: the rest of the answer is never read.
                    response.close()
        return Answer(status=response.status, body=body, truncated=truncated)

    async def _read_bounded(self, response: aiohttp.ClientResponse) -> tuple[bytes, bool]:
        body = bytearray()
        while len(body) < self._max_response_bytes:
            chunk = await response.content.read(
                min(_READ_CHUNK, self._max_response_bytes - len(body))
            )
            if not chunk:
                return bytes(body), False
            body += chunk
        return bytes(body), not response.content.at_eof()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
