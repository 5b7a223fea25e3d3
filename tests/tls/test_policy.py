"""TLS policy: what clients negotiate with the server contexts; no clear key on disk."""

from __future__ import annotations

import os
import ssl
import stat
import tempfile
import warnings
from pathlib import Path
from typing import Any

import pytest

from certs.internal_ca import InternalCA, IssuedCertificate
from certs.keys import encrypt_private_key_pem, new_key_password
from gateway.tls.errors import CertificateLoadError
from gateway.tls.policy import TLS12_CIPHERS, acme_tls_alpn_context, server_context
from tests.tls.clients import memory_handshake, trusting_client

CA = InternalCA.create(permitted_names=["alpeak.test"])
ISSUED = CA.issue(["billing.alpeak.test"])


def context_for(issued: IssuedCertificate) -> ssl.SSLContext:
    password = new_key_password()
    return server_context(
        issued.chain_pem, encrypt_private_key_pem(issued.key_pem, password), password
    )


def peer_names(connection: ssl.SSLObject) -> list[str]:
    certificate = connection.getpeercert()
    assert certificate
    return [str(entry[1]) for entry in certificate["subjectAltName"] if entry[0] == "DNS"]


def test_client_trusting_the_root_verifies_the_served_certificate() -> None:
    connection = memory_handshake(
        context_for(ISSUED), trusting_client(CA.root_pem), "billing.alpeak.test"
    )
    assert peer_names(connection.client) == ["billing.alpeak.test"]
    assert connection.client.version() == "TLSv1.3"


def test_browser_offering_h2_and_http11_gets_http11() -> None:
    client = trusting_client(CA.root_pem, alpn=["h2", "http/1.1"])
    connection = memory_handshake(context_for(ISSUED), client, "billing.alpeak.test")
    assert connection.client.selected_alpn_protocol() == "http/1.1"


def test_tls12_client_gets_an_ecdhe_aead_suite() -> None:
    client = trusting_client(CA.root_pem)
    client.maximum_version = ssl.TLSVersion.TLSv1_2
    connection = memory_handshake(context_for(ISSUED), client, "billing.alpeak.test")
    cipher = connection.client.cipher()
    assert cipher is not None
    assert connection.client.version() == "TLSv1.2"
    assert cipher[0] in TLS12_CIPHERS.split(":")


def test_tls12_client_offering_only_cbc_suites_is_refused() -> None:
    client = trusting_client(CA.root_pem)
    client.maximum_version = ssl.TLSVersion.TLSv1_2
    client.set_ciphers("ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES128-SHA")
    with pytest.raises(ssl.SSLError, match=r"HANDSHAKE_FAILURE|NO_SHARED_CIPHER"):
        memory_handshake(context_for(ISSUED), client, "billing.alpeak.test")


def tls11_client() -> ssl.SSLContext:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # setting TLSv1_1 is deprecated
        client = trusting_client(CA.root_pem)
        client.minimum_version = ssl.TLSVersion.TLSv1
        client.maximum_version = ssl.TLSVersion.TLSv1_1
    client.set_ciphers("DEFAULT:@SECLEVEL=0")  # OpenSSL 3 clients refuse TLS 1.1 by default
    return client


def test_tls11_client_is_refused_by_the_server() -> None:
    # Control: this client does speak TLS 1.1 with a server that allows it...
    permissive = context_for(ISSUED)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        permissive.minimum_version = ssl.TLSVersion.TLSv1
    permissive.set_ciphers("DEFAULT:@SECLEVEL=0")
    control = memory_handshake(permissive, tls11_client(), "billing.alpeak.test")
    assert control.client.version() == "TLSv1.1"
    # ...and the gateway's policy refuses it.
    with pytest.raises(ssl.SSLError, match="UNSUPPORTED_PROTOCOL"):
        memory_handshake(context_for(ISSUED), tls11_client(), "billing.alpeak.test")


def test_no_session_tickets_are_issued() -> None:
    connection = memory_handshake(
        context_for(ISSUED), trusting_client(CA.root_pem), "billing.alpeak.test"
    )
    assert connection.server_says(b"hello") == b"hello"
    session = connection.client.session
    assert session is not None
    assert not session.has_ticket

    # The same exchange with OpenSSL's defaults does get a ticket: the check above means something.
    default = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    password = new_key_password()
    with tempfile.NamedTemporaryFile("wb", suffix=".pem") as file:
        file.write(ISSUED.chain_pem.encode() + encrypt_private_key_pem(ISSUED.key_pem, password))
        file.flush()
        default.load_cert_chain(file.name, password=password)
    control = memory_handshake(default, trusting_client(CA.root_pem), "billing.alpeak.test")
    assert control.server_says(b"hello") == b"hello"
    assert control.client.session is not None
    assert control.client.session.has_ticket


def test_only_an_encrypted_key_reaches_the_disk_and_the_file_is_removed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    seen: list[tuple[int, bytes]] = []
    original = ssl.SSLContext.load_cert_chain

    def spy(self: ssl.SSLContext, certfile: Any, *args: Any, **kwargs: Any) -> None:
        seen.append((os.stat(certfile).st_mode, Path(certfile).read_bytes()))
        original(self, certfile, *args, **kwargs)

    monkeypatch.setattr(ssl.SSLContext, "load_cert_chain", spy)
    context_for(ISSUED)
    [(mode, content)] = seen
    assert stat.S_IMODE(mode) == 0o600
    assert b"BEGIN ENCRYPTED PRIVATE KEY" in content
    assert b"BEGIN PRIVATE KEY" not in content
    assert list(tmp_path.iterdir()) == []


def test_clear_key_is_refused_before_anything_is_written(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with pytest.raises(CertificateLoadError, match="encrypted"):
        server_context(ISSUED.chain_pem, ISSUED.key_pem, b"unused")
    assert list(tmp_path.iterdir()) == []


def test_key_of_another_certificate_is_refused() -> None:
    other = CA.issue(["other.alpeak.test"])
    password = new_key_password()
    with pytest.raises(CertificateLoadError):
        server_context(ISSUED.chain_pem, encrypt_private_key_pem(other.key_pem, password), password)


def test_wrong_password_is_refused() -> None:
    encrypted = encrypt_private_key_pem(ISSUED.key_pem, new_key_password())
    with pytest.raises(CertificateLoadError):
        server_context(ISSUED.chain_pem, encrypted, new_key_password())


def test_acme_tls_alpn_context_negotiates_acme_tls_1() -> None:
    password = new_key_password()
    context = acme_tls_alpn_context(
        ISSUED.chain_pem, encrypt_private_key_pem(ISSUED.key_pem, password), password
    )
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.check_hostname = False
    client.verify_mode = ssl.CERT_NONE  # the validator checks the challenge extension instead
    client.set_alpn_protocols(["acme-tls/1"])
    connection = memory_handshake(context, client, "billing.alpeak.test")
    assert connection.client.selected_alpn_protocol() == "acme-tls/1"
