"""TLS policy of the public listener: server SSL contexts for tenant names and TLS-ALPN-01.

Policy, in one place:

- TLS 1.2 minimum, TLS 1.3 allowed. Older clients get a protocol_version alert.
- TLS 1.2 suites: ECDHE key exchange with AEAD ciphers only (AES-GCM,
  ChaCha20-Poly1305), the Mozilla "intermediate" list; TLS 1.3 suites are
  OpenSSL's defaults, all AEAD.
- No TLS compression (CRIME), no renegotiation (RFC 5746 attacks, and a
  client-driven CPU cost).
- No session tickets (`num_tickets = 0`, OP_NO_TICKET). Python cannot set or
  rotate ticket keys: OpenSSL would draw one per context and keep it for the
  context's whole life, which weakens forward secrecy for as long as a name
  stays in the cache, and a ticket issued by one replica does not open on
  another behind the TCP load balancer anyway. A new connection costs a full
  ECDHE handshake, cheap with ECDSA P-256 keys. OpenSSL's in-memory TLS 1.2
  session-id cache stays (Python cannot switch it off); it is bounded and its
  entries expire after 300 seconds.
- ALPN: http/1.1 for tenant names; only acme-tls/1 on the TLS-ALPN-01
  responder's contexts (RFC 8737 section 3).

`load_cert_chain` reads files only. The chain and the key, still encrypted
(PKCS#8 under `password`), go to one private temporary file (mode 0600,
created exclusively, deleted right after loading), so no clear key touches the
disk. Building a context takes about a millisecond of CPU and a filesystem
round trip; callers cache contexts (`gateway.tls.contexts.ContextCache`).
"""

from __future__ import annotations

import os
import ssl
import tempfile

from gateway.tls.client_hello import ClientHello
from gateway.tls.errors import CertificateLoadError

MINIMUM_VERSION = 0x0303  # TLS 1.2, as the ClientHello spells it
HTTP_ALPN = ["http/1.1"]
ACME_TLS_ALPN = ["acme-tls/1"]

# Mozilla "intermediate" TLS 1.2 suites (ECDHE + AEAD), strongest first.
TLS12_CIPHERS = ":".join(
    [
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
    ]
)


def offers_supported_version(hello: ClientHello) -> bool:
    """Whether the client offers TLS 1.2 or newer. A listener can answer the others with a
    protocol_version alert before any handshake work (the contexts would refuse them too)."""
    return hello.highest_version >= MINIMUM_VERSION


def server_context(chain_pem: str, key_pem_encrypted: bytes, password: bytes) -> ssl.SSLContext:
    """A server context for a tenant name: the chain (leaf first), its key, ALPN http/1.1.

    Raises CertificateLoadError when the chain or key does not load or do not match.
    """
    context = _policy_context(HTTP_ALPN)
    _load_chain(context, chain_pem, key_pem_encrypted, password)
    return context


def acme_tls_alpn_context(
    certificate_pem: str, key_pem_encrypted: bytes, password: bytes
) -> ssl.SSLContext:
    """A context serving an RFC 8737 validation certificate; it negotiates only acme-tls/1.

    Use it only for connections whose ClientHello offers exactly acme-tls/1.
    """
    context = _policy_context(ACME_TLS_ALPN)
    _load_chain(context, certificate_pem, key_pem_encrypted, password)
    return context


def _policy_context(alpn_protocols: list[str]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.maximum_version = ssl.TLSVersion.TLSv1_3
    context.set_ciphers(TLS12_CIPHERS)
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION | ssl.OP_NO_TICKET
    context.num_tickets = 0
    context.set_alpn_protocols(alpn_protocols)
    return context


def _load_chain(
    context: ssl.SSLContext, chain_pem: str, key_pem_encrypted: bytes, password: bytes
) -> None:
    if b"ENCRYPTED PRIVATE KEY" not in key_pem_encrypted:
        # Refuse before anything is written: the temporary file must never hold a clear key.
        raise CertificateLoadError("the private key must be encrypted PKCS#8 PEM")
    descriptor, path = tempfile.mkstemp(prefix="chain-", suffix=".pem")  # mode 0600, O_EXCL
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(chain_pem.encode("ascii") + b"\n" + key_pem_encrypted)
        context.load_cert_chain(path, password=password)
    except (ssl.SSLError, ValueError) as error:
        raise CertificateLoadError(f"the certificate chain or key does not load: {error}") from None
    finally:
        os.unlink(path)
