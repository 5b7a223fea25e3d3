"""RFC 8737 validation certificates: what a CA's TLS-ALPN-01 validator checks."""

from __future__ import annotations

import hashlib
import ssl

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from certs.keys import new_key_password
from certs.tls_alpn import ACME_IDENTIFIER_OID, challenge_certificate
from gateway.tls.policy import acme_tls_alpn_context
from tests.tls.clients import MemoryConnection

KEY_AUTHORIZATION = (
    "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9"
)


def test_certificate_has_one_san_and_a_critical_acme_identifier_with_the_digest() -> None:
    issued = challenge_certificate("Billing.Alpeak.test", KEY_AUTHORIZATION)
    certificate = x509.load_pem_x509_certificate(issued.certificate_pem.encode())

    san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert list(san) == [x509.DNSName("billing.alpeak.test")]
    extension = certificate.extensions.get_extension_for_oid(ACME_IDENTIFIER_OID)
    assert extension.critical
    assert isinstance(extension.value, x509.UnrecognizedExtension)
    digest = hashlib.sha256(KEY_AUTHORIZATION.encode()).digest()
    assert extension.value.value == b"\x04\x20" + digest  # DER OCTET STRING of 32 bytes
    assert certificate.issuer == certificate.subject  # self-signed
    assert isinstance(certificate.public_key(), ec.EllipticCurvePublicKey)


def test_validator_offering_acme_tls_1_gets_the_challenge_certificate() -> None:
    issued = challenge_certificate("billing.alpeak.test", KEY_AUTHORIZATION)
    password = new_key_password()
    server = acme_tls_alpn_context(
        issued.certificate_pem, issued.encrypted_key_pem(password), password
    )
    validator = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    validator.check_hostname = False
    validator.verify_mode = ssl.CERT_NONE  # RFC 8737: the validator checks the extension
    validator.set_alpn_protocols(["acme-tls/1"])

    connection = MemoryConnection(server, validator, "billing.alpeak.test")
    connection.handshake()

    assert connection.client.selected_alpn_protocol() == "acme-tls/1"
    der = connection.client.getpeercert(binary_form=True)
    assert der is not None
    served = x509.load_der_x509_certificate(der)
    assert served.extensions.get_extension_for_oid(ACME_IDENTIFIER_OID).critical


def test_each_challenge_gets_a_fresh_key() -> None:
    first = challenge_certificate("billing.alpeak.test", KEY_AUTHORIZATION)
    second = challenge_certificate("billing.alpeak.test", KEY_AUTHORIZATION)

    assert first.key_pem != second.key_pem
    assert "PRIVATE KEY" not in repr(first)


def test_encrypted_key_needs_the_password() -> None:
    issued = challenge_certificate("billing.alpeak.test", KEY_AUTHORIZATION)
    encrypted = issued.encrypted_key_pem(b"password-1")

    assert b"ENCRYPTED PRIVATE KEY" in encrypted
    with pytest.raises(ValueError, match=r"(?i)incorrect password|bad decrypt"):
        serialization.load_pem_private_key(encrypted, b"wrong")
