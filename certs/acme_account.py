"""This gateway's account with an ACME directory: its key sealed in PostgreSQL, made once.

One account per directory: its ECDSA P-256 key is sealed in acme_accounts and
created once, cluster-wide, under a transaction-level advisory lock. The `acme`
library is blocking; calls to the CA run in a worker thread.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any, cast

from acme import client, messages
from acme import errors as acme_errors
from josepy.jwa import ES256
from josepy.jwk import JWKEC

from certs.acme_failures import describe_failure
from certs.issuer import IssuanceFailed
from certs.keys import generate_private_key, load_private_key_pem, private_key_pem
from kernel.db import Pool
from kernel.sealing import Sealer

USER_AGENT = "billing-edge-gateway"
NETWORK_TIMEOUT = 30  # seconds per HTTP request to the CA


def lock_key(text: str) -> int:
    """A pg_advisory_lock key: the first 8 bytes of SHA-256 as a signed bigint."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big", signed=True)


def account_purpose(directory_url: str) -> str:
    return f"acme_account:{directory_url}"


class AcmeAccount:
    """The account key and URI for `directory_url`, cached once loaded; safe to share.

    `verify` is requests' `verify`: True (the system's CA store) or a CA bundle path.
    """

    def __init__(
        self,
        directory_url: str,
        *,
        db: Pool,
        sealer: Sealer,
        verify: bool | str,
        contact: str | None,
    ) -> None:
        self.directory_url = directory_url
        self._db = db
        self._sealer = sealer
        self._verify = verify
        self._contact = contact
        self._account: tuple[JWKEC, str] | None = None
        self._account_lock = asyncio.Lock()

    def client(self, account_key: JWKEC, account_uri: str) -> client.ClientV2:
        """A client logged in as the account (blocking: fetches the directory)."""
        network = client.ClientNetwork(
            account_key,
            alg=ES256,
            verify_ssl=cast(bool, self._verify),
            user_agent=USER_AGENT,
            timeout=NETWORK_TIMEOUT,
        )
        network.account = messages.RegistrationResource(
            body=messages.Registration(), uri=account_uri
        )
        return client.ClientV2(client.ClientV2.get_directory(self.directory_url, network), network)

    def _register(self, account_key: JWKEC) -> str:
        """Register (or find, for a known key) the account; returns its URI. Blocking."""
        network = client.ClientNetwork(
            account_key,
            alg=ES256,
            verify_ssl=cast(bool, self._verify),
            user_agent=USER_AGENT,
            timeout=NETWORK_TIMEOUT,
        )
        acme = client.ClientV2(client.ClientV2.get_directory(self.directory_url, network), network)
        registration = messages.NewRegistration.from_data(
            email=self._contact, terms_of_service_agreed=True
        )
        try:
            return str(acme.new_account(registration).uri)
        except acme_errors.ConflictError as existing:
            return str(existing.location)

    async def load(self) -> tuple[JWKEC, str]:
        """This directory's account key and URI: cached, stored, or registered now (once)."""
        async with self._account_lock:
            if self._account is not None:
                return self._account
            async with self._db.acquire() as connection, connection.transaction():
                # Serialises concurrent creators across replicas; released at commit.
                await connection.execute(
                    "SELECT pg_advisory_xact_lock($1)",
                    lock_key(f"gateway:acme_account:{self.directory_url}"),
                )
                row = await connection.fetchrow(
                    "SELECT account_uri, key_sealed FROM acme_accounts WHERE directory_url = $1",
                    self.directory_url,
                )
                purpose = account_purpose(self.directory_url)
                if row is not None and row["account_uri"]:
                    key_pem = self._sealer.open(bytes(row["key_sealed"]), purpose)
                    account_key = JWKEC(key=load_private_key_pem(key_pem))
                    self._account = (account_key, str(row["account_uri"]))
                    return self._account
                private_key = generate_private_key()
                account_key = JWKEC(key=private_key)
                uri = await self._call_ca(self._register, account_key)
                await connection.execute(
                    """
                    INSERT INTO acme_accounts (directory_url, account_uri, key_sealed, contact)
                    VALUES ($1, $2, $3, $4)
                    ON CONFLICT (directory_url) DO UPDATE
                        SET account_uri = EXCLUDED.account_uri,
                            key_sealed = EXCLUDED.key_sealed,
                            contact = EXCLUDED.contact
                    """,
                    self.directory_url,
                    uri,
                    self._sealer.seal(private_key_pem(private_key), purpose),
                    self._contact,
                )
                self._account = (account_key, uri)
                return self._account

    async def register_again(self, account_key: JWKEC) -> str:
        uri = await self._call_ca(self._register, account_key)
        async with self._account_lock:
            await self._db.execute(
                "UPDATE acme_accounts SET account_uri = $2 WHERE directory_url = $1",
                self.directory_url,
                uri,
            )
            self._account = (account_key, uri)
        return str(uri)

    async def _call_ca(self, function: Any, *arguments: Any) -> Any:
        try:
            return await asyncio.to_thread(function, *arguments)
        except Exception as error:
            _, detail = describe_failure(error)
            raise IssuanceFailed([], f"the ACME account could not be set up: {detail}") from error
