"""`gateway domain ...` and `gateway cert ...` as an operator runs them, with the internal CA
issuing and pebble-challtestsrv answering DNS."""

from __future__ import annotations

import base64
import os
import re
import secrets
from pathlib import Path

import pytest

from tests.fixtures.pebble import ChallTestSrv, challtestsrv
from tests.gateway.gateway_process import inherited_environment
from tests.gateway.test_cli import Result, gateway

__all__ = ["challtestsrv"]

pytestmark = pytest.mark.slow


@pytest.fixture
def cli_env(database_url: str, tmp_path: Path, challtestsrv: ChallTestSrv) -> dict[str, str]:
    environment = inherited_environment()
    environment.update(
        DATABASE_URL=database_url,
        GATEWAY_KEK=base64.b64encode(os.urandom(32)).decode(),
        GATEWAY_DATA_DIR=str(tmp_path / "data"),
        GATEWAY_DNS_RESOLVER=f"127.0.0.1:{challtestsrv.dns_port}",
        # The internal CA issues for the custom domains of these tests only when told to.
        GATEWAY_INTERNAL_CA_NAMES="alpeak.test",
    )
    return environment


def succeeded(result: Result) -> str:
    assert result.status == 0, result.err
    return result.out


async def test_an_operator_adds_checks_lists_renews_and_removes_a_domain(
    cli_env: dict[str, str], challtestsrv: ChallTestSrv
) -> None:
    name = f"billing-{secrets.token_hex(4)}.alpeak.test"
    succeeded(await gateway(cli_env, "tenant", "create", "--slug", "alpeak", "--name", "Alpeak"))

    added = succeeded(await gateway(cli_env, "domain", "add", "alpeak", name))
    pending = succeeded(await gateway(cli_env, "domain", "check", name))
    challtestsrv.set_cname(name, "cname.localhost")
    proof = re.search(rf"_gateway-verify\.{re.escape(name)} TXT ([0-9a-f]{{32}})", added)
    assert proof is not None, added
    challtestsrv.set_txt(f"_gateway-verify.{name}", proof[1])
    active = succeeded(await gateway(cli_env, "domain", "check", name))
    listed = succeeded(await gateway(cli_env, "domain", "list", "alpeak"))
    certificates = succeeded(await gateway(cli_env, "cert", "list"))
    renewed = succeeded(await gateway(cli_env, "cert", "renew", name))
    removed = succeeded(await gateway(cli_env, "domain", "remove", "alpeak", name))
    after = succeeded(await gateway(cli_env, "domain", "list"))

    assert f"{name} CNAME cname.localhost" in added
    assert "status:        pending_dns" in pending
    assert f"create:        {name} CNAME cname.localhost" in pending
    assert f"proof:         _gateway-verify.{name} TXT {proof[1]}" in pending
    assert "ownership:     not proven" in pending
    assert "ownership:" not in active
    assert "status:        active" in active
    serial = next(
        line.split("serial ", 1)[1].split(" ", 1)[0]
        for line in active.splitlines()
        if line.startswith("certificate:")
    )
    row = next(line for line in listed.splitlines() if line.startswith(name))
    assert "alpeak" in row
    assert "active" in row
    assert serial in certificates
    assert f"renewed {name}: serial" in renewed
    assert serial not in renewed  # a new certificate, not the old one
    assert f"removed {name}" in removed
    assert name not in after


async def test_renewing_an_unknown_domain_fails_with_a_message(cli_env: dict[str, str]) -> None:
    result = await gateway(cli_env, "cert", "renew", "nowhere.example.com")

    assert result.status == 1
    assert "no domain nowhere.example.com" in result.err


async def test_domain_and_cert_commands_explain_themselves(cli_env: dict[str, str]) -> None:
    domain_help = succeeded(await gateway(cli_env, "domain", "--help"))
    cert_help = succeeded(await gateway(cli_env, "cert", "renew", "--help"))

    for command in ("add", "check", "list", "remove"):
        assert command in domain_help
    assert "gateway cert renew billing.alpeak.com" in cert_help
