"""Certificate keys and CSRs: P-256 keys, only issuable names, keys encrypted for the loader."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from certs.errors import InvalidCertificateNames
from certs.keys import (
    build_csr,
    encrypt_private_key_pem,
    generate_private_key,
    load_private_key_pem,
    new_key_password,
    normalise_names,
    private_key_pem,
)


def test_names_are_lower_cased_deduplicated_and_lose_a_trailing_dot() -> None:
    assert normalise_names(["Billing.Alpeak.Test.", "billing.alpeak.test", "www.alpeak.test"]) == [
        "billing.alpeak.test",
        "www.alpeak.test",
    ]


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("*.alpeak.test", "wildcard"),
        ("127.0.0.1", "IP"),
        ("bad_name.test", "letters, digits"),
        ("-lead.test", "letters, digits"),
        ("a" * 64 + ".test", "letters, digits"),
        ("bücher.test", "A-labels"),
        ("a..test", "letters, digits"),
        ("", "1 to 253"),
        (("a" * 60 + ".") * 5 + "test", "1 to 253"),
    ],
)
def test_unissuable_names_are_refused_with_the_reason(name: str, reason: str) -> None:
    with pytest.raises(InvalidCertificateNames, match=reason):
        normalise_names([name])


def test_empty_name_list_is_refused() -> None:
    with pytest.raises(InvalidCertificateNames, match="at least one"):
        normalise_names([])


def test_keys_are_ecdsa_p256() -> None:
    key = generate_private_key()
    assert isinstance(key.curve, ec.SECP256R1)
    assert load_private_key_pem(private_key_pem(key)).private_numbers() == key.private_numbers()


def test_key_encrypted_for_the_loader_opens_only_with_its_password() -> None:
    key = generate_private_key()
    password = new_key_password()
    encrypted = encrypt_private_key_pem(private_key_pem(key), password)
    assert encrypted.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert load_private_key_pem(encrypted, password).private_numbers() == key.private_numbers()
    with pytest.raises(ValueError, match="password"):
        load_private_key_pem(encrypted, new_key_password())


def test_csr_names_every_domain_and_is_signed_by_the_key() -> None:
    key = generate_private_key()
    csr = x509.load_pem_x509_csr(build_csr(key, ["Billing.Alpeak.test", "www.alpeak.test"]))
    assert csr.is_signature_valid
    san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["billing.alpeak.test", "www.alpeak.test"]
    assert csr.subject.rfc4514_string() == "CN=billing.alpeak.test"
    assert csr.public_key() == key.public_key()


def test_csr_for_a_name_longer_than_a_common_name_has_an_empty_subject() -> None:
    name = "a" * 60 + ".alpeak.test"
    csr = x509.load_pem_x509_csr(build_csr(generate_private_key(), [name]))
    assert csr.subject.rfc4514_string() == ""
