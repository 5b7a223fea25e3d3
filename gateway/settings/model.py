"""The settings value: one frozen dataclass whose fields carry their parser and description.

`load_settings` (in `gateway.settings.loading`) builds it; every field's metadata
names its parser, its description (for --help and the README table) and, where
it is not GATEWAY_<NAME>, its environment variable.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.settings.parsers import (
    parse_address,
    parse_addresses,
    parse_bool,
    parse_challenge_kinds,
    parse_choice,
    parse_database_url,
    parse_domain,
    parse_domains,
    parse_float,
    parse_int,
    parse_kek,
    parse_log_level,
    parse_mail_address,
    parse_networks,
    parse_optional_path,
    parse_optional_text,
    parse_optional_url,
    parse_path,
    parse_resolver,
    parse_upstreams,
    parse_url,
)


def _setting(default: Any, parse: Callable[[str, object], Any], doc: str, env: str = "") -> Any:
    return field(default=default, metadata={"parse": parse, "doc": doc, "env": env})


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything the process is configured with; build it with `load_settings`."""

    database_url: str | None = _setting(
        None,
        parse_database_url,
        "PostgreSQL URL; empty starts an embedded server in the data directory",
        env="DATABASE_URL",
    )
    data_dir: Path = _setting(
        Path(".data"), parse_path, "directory for the embedded PostgreSQL and local keys"
    )
    base_domain: str = _setting(
        "localhost", parse_domain, "tenants are served at <slug>.<base domain>"
    )
    http_host: str = _setting("127.0.0.1", parse_address, "address the HTTP listener binds")
    http_port: int = _setting(8080, parse_int(1, 65535), "HTTP listener port")
    https_port: int = _setting(8443, parse_int(1, 65535), "HTTPS listener port")
    redirect_http: bool = _setting(
        True,
        parse_bool,
        "answer plain HTTP for known hosts with 308 to HTTPS (make run turns it off so the "
        "demo also opens over http://*.localhost without trusting the local CA)",
    )
    issuer: str = _setting(
        "internal",
        parse_choice("internal", "acme"),
        "who issues certificates: internal (a local CA, offline) or acme",
    )
    internal_ca_names: tuple[str, ...] = _setting(
        (),
        parse_domains,
        "comma-separated DNS suffixes the internal CA may also issue for, besides the base "
        "domain and localhost (development setups serving custom domains over HTTPS); its "
        "root is limited to these names, and changing them makes a new root",
    )
    acme_directory_url: str | None = _setting(
        None, parse_optional_url, "ACME directory URL (with GATEWAY_ISSUER=acme)"
    )
    acme_ca_bundle: Path | None = _setting(
        None, parse_optional_path, "CA bundle to trust the ACME server's HTTPS (empty: system)"
    )
    acme_contact: str | None = _setting(None, parse_optional_text, "ACME account contact e-mail")
    acme_challenges: tuple[str, ...] = _setting(
        ("http-01", "tls-alpn-01"),
        parse_challenge_kinds,
        "ACME challenge types to use, in order of preference",
    )
    dns_resolver: tuple[str, int] | None = _setting(
        None, parse_resolver, "DNS server for domain checks as host:port (empty: system resolver)"
    )
    ingress_addresses: tuple[str, ...] = _setting(
        (), parse_addresses, "comma-separated public addresses; apex domains may point A/AAAA here"
    )
    caa_identities: tuple[str, ...] = _setting(
        ("letsencrypt.org",), parse_domains, "CA identities a CAA record must allow"
    )
    tls_context_cache_size: int = _setting(
        10_000, parse_int(1, 10_000_000), "TLS contexts kept in memory per process (LRU)"
    )
    tls_handshake_timeout: float = _setting(
        10.0,
        parse_float(0.5, 120),
        "seconds a client has to send its ClientHello and finish the TLS handshake",
    )
    tls_max_pending_handshakes: int = _setting(
        1024,
        parse_int(1, 1_000_000),
        "connections per process between accept and a finished TLS handshake",
    )
    workers: int = _setting(
        0,
        parse_int(0, 1024),
        "worker processes sharing the listening ports (SO_REUSEPORT), each on its own event "
        "loop; 0: one per CPU; 1: serve in the main process (`gateway serve --workers` overrides)",
    )
    head_timeout: float = _setting(
        10.0,
        parse_float(0.1, 600),
        "seconds a client has to send a complete request head (request line and headers), "
        "counted from the connection or from the first byte of a keep-alive request; also the "
        "deadline for a PROXY protocol header",
    )
    body_timeout: float = _setting(
        30.0,
        parse_float(0.1, 3600),
        "seconds a client has to send a whole request body once its head has arrived",
    )
    keepalive_timeout: float = _setting(
        15.0, parse_float(0.1, 3600), "seconds an idle keep-alive connection stays open"
    )
    max_headers: int = _setting(
        100, parse_int(1, 1000), "most header fields a request may carry (more: refused with 400)"
    )
    max_header_bytes: int = _setting(
        8190,
        parse_int(256, 65536),
        "longest request line or header field in bytes (longer: refused with 400)",
    )
    max_connections: int = _setting(
        10_000,
        parse_int(1, 1_000_000),
        "open HTTP and HTTPS connections per worker; connections beyond it are closed at once",
    )
    shutdown_timeout: float = _setting(
        10.0,
        parse_float(0, 3600),
        "seconds from SIGTERM until every request still in flight (proxied ones included) is "
        "cut; requests whose head has arrived finish their bodies and responses meanwhile, and "
        "the process exits within this bound plus about a second",
    )
    drain_delay: float = _setting(
        0.0,
        parse_float(0, 600),
        "seconds after SIGTERM during which /readyz answers 503 while the listeners still "
        "accept, so a load balancer's health check moves traffic away first; counted within "
        "GATEWAY_SHUTDOWN_TIMEOUT",
    )
    proxy_protocol: str = _setting(
        "off",
        parse_choice("off", "v1", "v2", "any"),
        "PROXY protocol header versions required from GATEWAY_TRUSTED_PROXIES on both listeners "
        "(off, v1, v2 or any); other peers are served directly and closed if they send one",
    )
    trusted_proxies: tuple[str, ...] = _setting(
        (),
        parse_networks,
        "comma-separated addresses or CIDR networks of the load balancers that send PROXY "
        "protocol headers",
    )
    worker_header: bool = _setting(
        False,
        parse_bool,
        "add a Gateway-Worker response header with the serving process id (to check how "
        "connections spread over workers; leave off in production)",
    )
    vendor_cert_file: Path | None = _setting(
        None,
        parse_optional_path,
        "PEM chain for the vendor hosts (a wildcard for *.<base domain>), used with "
        "GATEWAY_ISSUER=acme; empty: those names are refused on HTTPS",
    )
    vendor_key_file: Path | None = _setting(
        None, parse_optional_path, "PEM private key of GATEWAY_VENDOR_CERT_FILE"
    )
    domain_recheck_seconds: int = _setting(
        3600, parse_int(10, 7 * 86400), "how often active domains' DNS is checked again"
    )
    domain_claim_days: int = _setting(
        7,
        parse_int(1, 90),
        "days a claimed custom domain has to prove ownership (TXT record) before the claim "
        "expires and is removed",
    )
    stripe_api_base: str = _setting(
        "https://api.stripe.com",
        parse_url,
        "Stripe API base URL (tests point it at localstripe)",
    )
    stripe_js_url: str = _setting(
        "https://js.stripe.com/v3/", parse_url, "Stripe.js script URL that payment pages load"
    )
    kek: bytes | None = _setting(
        None,
        parse_kek,
        "key-encryption key for secrets at rest, 32 bytes base64; "
        "required with DATABASE_URL, generated in the data directory otherwise",
    )
    db_pool_min: int = _setting(1, parse_int(0, 1000), "smallest database pool size")
    db_pool_max: int = _setting(10, parse_int(1, 1000), "largest database pool size")
    db_job_pool_max: int = _setting(
        6,
        parse_int(3, 1000),
        "largest database pool of the renewal job, kept apart from the requests' pool",
    )
    db_command_timeout: float = _setting(
        10.0, parse_float(0.1, 600), "seconds a database command may take"
    )
    max_body_bytes: int = _setting(
        1_048_576, parse_int(1024, 64 * 1_048_576), "largest API request body in bytes"
    )
    max_icon_bytes: int = _setting(
        262_144, parse_int(1024, 8 * 1_048_576), "largest brand icon in bytes"
    )
    log_level: str = _setting(
        "INFO",
        parse_log_level,
        "DEBUG, INFO, WARNING or ERROR, for the gateway's own lines; libraries (the Stripe "
        "client logs each call at INFO) log from WARNING up unless it is DEBUG",
    )

    log_format: str = _setting(
        "json", parse_choice("json", "text"), "log lines as JSON objects (json) or plain text"
    )
    access_log_sample: float = _setting(
        1.0,
        parse_float(0, 1),
        "share of fast 2xx requests that get an access line (1: every request, 0.01: one in "
        "a hundred); errors, redirects and slower requests always get one",
    )
    access_log_fast_ms: float = _setting(
        100.0,
        parse_float(0, 60_000),
        "milliseconds under which a 2xx request counts as fast for GATEWAY_ACCESS_LOG_SAMPLE",
    )
    ops_host: str = _setting(
        "127.0.0.1", parse_address, "address the ops listener (/metrics, /healthz, /readyz) binds"
    )
    ops_port: int = _setting(9090, parse_int(1, 65535), "ops listener port")
    metrics_refresh_seconds: float = _setting(
        30.0,
        parse_float(1, 3600),
        "seconds between refreshes of the metrics read from PostgreSQL "
        "(certificate expiry, ACME orders)",
    )
    webhook_timeout: float = _setting(
        10.0,
        parse_float(0.5, 120),
        "seconds one webhook delivery may take in all (connect, send, answer)",
    )
    webhook_allow_loopback: bool = _setting(
        False,
        parse_bool,
        "also accept plain http webhook URLs on loopback addresses (127.0.0.0/8, ::1, "
        "localhost); for tests only, never in production (make run leaves it off)",
    )
    upstreams: tuple[tuple[str, str], ...] = _setting(
        (),
        parse_upstreams,
        "reverse-proxy routes on tenant hosts: comma-separated /prefix=http://host:port "
        "(the path is forwarded unchanged)",
    )
    upstream_connect_timeout: float = _setting(
        5.0, parse_float(0.1, 120), "seconds to connect to an upstream of GATEWAY_UPSTREAMS"
    )
    upstream_read_timeout: float = _setting(
        30.0,
        parse_float(0.1, 3600),
        "seconds an upstream may stay silent while its response is awaited or streamed",
    )
    smtp_host: str | None = _setting(
        None,
        parse_optional_text,
        "SMTP server that sends the customers' mail (invoice issued, receipt, payment "
        "failed); empty: no mail is sent, the events wait",
    )
    smtp_port: int = _setting(587, parse_int(1, 65535), "SMTP server port")
    smtp_security: str = _setting(
        "starttls",
        parse_choice("starttls", "tls", "none"),
        "starttls (upgrade a plain connection, port 587), tls (implicit TLS, port 465) or "
        "none (plain, for a local server only)",
    )
    smtp_username: str | None = _setting(
        None, parse_optional_text, "SMTP user name (empty: no authentication)"
    )
    smtp_password: str | None = _setting(None, parse_optional_text, "SMTP password")
    smtp_timeout: float = _setting(
        30.0, parse_float(1, 300), "seconds one SMTP delivery may take in all"
    )
    smtp_ca_bundle: Path | None = _setting(
        None,
        parse_optional_path,
        "CA bundle to trust the SMTP server's certificate (empty: the system's); an "
        "untrusted certificate delays the mail, it is never sent unverified",
    )
    mail_from: str = _setting(
        "billing@localhost",
        parse_mail_address,
        "sender address of the customers' mail (shown with the tenant's name)",
    )

    @property
    def api_host(self) -> str:
        """Vendor host serving the tenant API."""
        return f"api.{self.base_domain}"

    @property
    def app_host(self) -> str:
        """Vendor host serving the settings page."""
        return f"app.{self.base_domain}"

    @property
    def cname_target(self) -> str:
        """The name tenants point their custom domains at."""
        return f"cname.{self.base_domain}"

    @property
    def internal_ca_permitted_names(self) -> tuple[str, ...]:
        """The names (with their subdomains) the internal CA's root is limited to, sorted."""
        return tuple(sorted({self.base_domain, "localhost", *self.internal_ca_names}))

    def public_url(self, host: str) -> str:
        """Base URL of a host on the HTTP listener (port left out when it is 80)."""
        port = "" if self.http_port == 80 else f":{self.http_port}"
        return f"http://{host}{port}"

    def secure_url(self, host: str) -> str:
        """Base URL of a host on the HTTPS listener (port left out when it is 443)."""
        port = "" if self.https_port == 443 else f":{self.https_port}"
        return f"https://{host}{port}"
