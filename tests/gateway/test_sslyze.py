"""sslyze against a real `gateway serve`: TLS 1.2+ only, strong suites, a valid chain.

One scan per module: the gateway runs as its own process (as ops run it) on
free loopback ports and a database of this module's own, a tenant's default
host gets its certificate from the internal CA on the first handshake, and
sslyze scans that host by name (SNI) with the internal root as its only extra
trust store. sslyze caps cryptography below the version the gateway runs, so it
lives in a virtualenv of its own (`make sslyze-venv`, which `make test` runs):
`sslyze_scan.py` runs there and writes sslyze's JSON, which the tests read.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from cryptography import x509

from certs.internal_ca import InternalCA
from gateway.settings import Settings
from kernel.sealing import Sealer
from tests.conftest import run_blocking, with_database
from tests.fixtures.pebble import free_port
from tests.gateway.gateway_process import inherited_environment

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
# Where the Makefile's `sslyze-venv` target installs sslyze (SSLYZE_VENV there).
SSLYZE_PYTHON = ROOT / ".venv" / "tools" / "sslyze" / "bin" / "python"
SCAN_SCRIPT = Path(__file__).resolve().parent / "sslyze_scan.py"

SLUG = "alpeak"
HOST = f"{SLUG}.localhost"
START_TIMEOUT = 120.0
STOP_TIMEOUT = 60.0
SCAN_TIMEOUT = 600.0  # the whole scan; each connection has its own 30 s in sslyze_scan.py

# The protocol versions that must be refused outright: no cipher suite accepted at all.
# Values are sslyze's scan command names, the keys of its JSON `scan_result`.
LEGACY_VERSIONS = {
    "SSL 2.0": "ssl_2_0_cipher_suites",
    "SSL 3.0": "ssl_3_0_cipher_suites",
    "TLS 1.0": "tls_1_0_cipher_suites",
    "TLS 1.1": "tls_1_1_cipher_suites",
}
TLS_1_2 = "tls_1_2_cipher_suites"
TLS_1_3 = "tls_1_3_cipher_suites"
CIPHER_SUITE_COMMANDS = [*LEGACY_VERSIONS.values(), TLS_1_2, TLS_1_3]


@dataclass(frozen=True)
class Scan:
    """What sslyze reported for the tenant host (its JSON), by scan command."""

    cipher_suites: dict[str, dict[str, Any]]
    certificate_info: dict[str, Any]


def sslyze_python() -> Path:
    """sslyze's interpreter; fails under CI=true and skips elsewhere when it is not installed."""
    if not os.access(SSLYZE_PYTHON, os.X_OK):
        reason = "sslyze's virtualenv is missing: run `make sslyze-venv`"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return SSLYZE_PYTHON


def gateway_environment(database_url: str, data_dir: Path) -> tuple[dict[str, str], int]:
    """The environment of a `gateway serve` on free ports; and its HTTPS port."""
    https_port = free_port()
    environment = inherited_environment()
    environment.update(
        DATABASE_URL=database_url,
        GATEWAY_KEK=base64.b64encode(os.urandom(32)).decode(),
        GATEWAY_DATA_DIR=str(data_dir),
        GATEWAY_HTTP_PORT=str(free_port()),
        GATEWAY_HTTPS_PORT=str(https_port),
        GATEWAY_OPS_PORT=str(free_port()),
        GATEWAY_SHUTDOWN_TIMEOUT="5",
    )
    return environment, https_port


@contextlib.contextmanager
def module_database(postgres_url: str, template: str) -> Iterator[str]:
    """A migrated database for the whole module (the `database_url` fixture is per test)."""
    name = f"gateway_test_sslyze_{os.getpid()}"

    async def admin(statement: str) -> None:
        connection = await asyncpg.connect(postgres_url)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    run_blocking(lambda: admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    try:
        yield with_database(postgres_url, name)
    finally:
        run_blocking(lambda: admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def seed(database_url: str, kek: bytes) -> str:
    """The tenant behind HOST; the internal CA's root PEM (created before the gateway starts)."""
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    try:
        await pool.execute(
            "INSERT INTO tenants (slug, name, brand_color) VALUES ($1, $2, $3)",
            SLUG,
            "Alpeak Outdoor",
            "#0f766e",
        )
        # The gateway's defaults: its root is limited to localhost (the base domain).
        authority = await InternalCA.load_or_create(
            pool, Sealer(kek), permitted_names=Settings().internal_ca_permitted_names
        )
        return authority.root_pem
    finally:
        await pool.close()


@contextlib.contextmanager
def gateway_process(environment: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """`python -m gateway serve --workers 1` until the block ends; fails if it does not start."""
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", "serve", "--workers", "1"],
        env=environment,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
    )
    stdout = process.stdout
    assert stdout is not None
    first_line: list[bytes] = []
    reader = threading.Thread(target=lambda: first_line.append(stdout.readline()))
    reader.start()
    try:
        reader.join(START_TIMEOUT)
        line = first_line[0].decode() if first_line else ""
        assert line.startswith("gateway listening on "), f"the gateway did not start: {line!r}"
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        reader.join()
        stdout.close()


def first_handshake(port: int, root_pem: str) -> None:
    """One verified handshake, so the certificate is issued before sslyze opens its connections."""
    client = ssl.create_default_context(cadata=root_pem)
    with (
        socket.create_connection(("127.0.0.1", port), timeout=30) as raw,
        client.wrap_socket(raw, server_hostname=HOST) as tls,
    ):
        assert tls.version() in ("TLSv1.2", "TLSv1.3")


def scan(python: Path, port: int, ca_file: Path, json_out: Path) -> Scan:
    """sslyze's cipher suite and certificate scans of HOST on 127.0.0.1:`port` (blocking)."""
    # -I: sslyze's interpreter sees neither PYTHONPATH nor the project, only its own venv.
    arguments = [HOST, str(port), "127.0.0.1", str(ca_file), str(json_out)]
    completed = subprocess.run(
        [str(python), "-I", str(SCAN_SCRIPT), *arguments],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=SCAN_TIMEOUT,
        check=False,
    )
    assert completed.returncode == 0, f"sslyze_scan.py failed:\n{completed.stderr}"
    result = json.loads(json_out.read_text())
    assert result["connectivity_status"] == "COMPLETED", result["connectivity_error_trace"]
    assert result["scan_status"] == "COMPLETED"
    attempts = result["scan_result"]
    assert attempts is not None
    for name in [*CIPHER_SUITE_COMMANDS, "certificate_info"]:
        attempt = attempts[name]
        assert attempt["status"] == "COMPLETED", (
            name,
            attempt["error_reason"],
            attempt["error_trace"],
        )
        assert attempt["result"] is not None, name
    return Scan(
        cipher_suites={name: attempts[name]["result"] for name in CIPHER_SUITE_COMMANDS},
        certificate_info=attempts["certificate_info"]["result"],
    )


@pytest.fixture(scope="module")
def sslyze_scan(
    postgres_url: str, template_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Scan]:
    """One sslyze scan of HOST on a running gateway process."""
    python = sslyze_python()
    directory = tmp_path_factory.mktemp("sslyze")
    with module_database(postgres_url, template_database) as database_url:
        environment, https_port = gateway_environment(database_url, directory / "data")
        kek = base64.b64decode(environment["GATEWAY_KEK"])
        root_pem = run_blocking(lambda: seed(database_url, kek))
        ca_file = directory / "internal-root.pem"
        ca_file.write_text(root_pem)
        with gateway_process(environment):
            first_handshake(https_port, root_pem)
            yield scan(python, https_port, ca_file, directory / "scan.json")


def accepted(result: dict[str, Any]) -> list[str]:
    return sorted(suite["cipher_suite"]["name"] for suite in result["accepted_cipher_suites"])


def test_ssl_2_ssl_3_tls_1_0_and_tls_1_1_clients_get_no_cipher_suite_at_all(
    sslyze_scan: Scan,
) -> None:
    accepted_by_version = {
        version: accepted(sslyze_scan.cipher_suites[command])
        for version, command in LEGACY_VERSIONS.items()
    }
    assert accepted_by_version == {version: [] for version in LEGACY_VERSIONS}


def forward_secret_aead(name: str) -> bool:
    """The rule for TLS 1.2 suites: an ephemeral (EC)DHE key exchange, signed (not anonymous),
    and an AEAD cipher (AES-GCM or ChaCha20-Poly1305). That rules out RC4, 3DES, NULL,
    EXPORT, anonymous suites, static-RSA key exchange and every CBC suite."""
    key_exchange_ok = name.startswith(("TLS_ECDHE_ECDSA_", "TLS_ECDHE_RSA_", "TLS_DHE_RSA_"))
    aead = "_GCM_" in name or name.endswith("_CHACHA20_POLY1305_SHA256")
    return key_exchange_ok and aead


def test_tls_1_2_clients_get_only_forward_secret_aead_cipher_suites(sslyze_scan: Scan) -> None:
    suites = [
        suite["cipher_suite"]
        for suite in sslyze_scan.cipher_suites[TLS_1_2]["accepted_cipher_suites"]
    ]
    names = sorted(suite["name"] for suite in suites)
    assert names, "TLS 1.2 clients must still be served"
    assert [name for name in names if not forward_secret_aead(name)] == []
    assert not any(suite["is_anonymous"] for suite in suites)
    assert all(suite["key_size"] >= 128 for suite in suites)


def test_tls_1_3_clients_are_served(sslyze_scan: Scan) -> None:
    names = accepted(sslyze_scan.cipher_suites[TLS_1_3])
    assert "TLS_AES_128_GCM_SHA256" in names
    assert all(name.startswith("TLS_") for name in names)


def test_the_certificate_chain_validates_up_to_the_issuing_root_for_the_sni_name(
    sslyze_scan: Scan,
) -> None:
    info = sslyze_scan.certificate_info
    assert info["hostname_used_for_server_name_indication"] == HOST
    assert len(info["certificate_deployments"]) == 1
    deployment = info["certificate_deployments"][0]
    trusted_by = [
        result["trust_store"]["name"]
        for result in deployment["path_validation_results"]
        if result["was_validation_successful"]
    ]
    # Only the root given to sslyze validates it: public trust stores do not know the internal CA.
    assert trusted_by == ["Supplied CA file"]
    chain = deployment["verified_certificate_chain"]
    assert chain is not None
    leaf = x509.load_pem_x509_certificate(chain[0]["as_pem"].encode())
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert HOST in names.get_values_for_type(x509.DNSName)
    assert deployment["received_chain_has_valid_order"] is True
    assert deployment["verified_chain_has_sha1_signature"] is False
