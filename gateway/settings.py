"""Settings: one frozen object built from the environment and an optional TOML file.

This module is the only reader of the environment. Every value is checked when
the object is built; a bad or missing value raises `SettingsError`, which names
the key and the expected form, so the process stops at start-up instead of
failing later on a request.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from gateway.tenants.hostnames import InvalidHostName, normalise_host_name

ENV_PREFIX = "GATEWAY_"


class SettingsError(Exception):
    """A setting is missing or malformed; the message names the key and the expected form."""

    def __init__(self, key: str, expected: str, got: object = None) -> None:
        self.key = key
        self.expected = expected
        self.got = got
        shown = "" if got is None else f" (got {got!r})"
        super().__init__(f"setting {key}: expected {expected}{shown}")


def _parse_int(low: int, high: int) -> Callable[[str, object], int]:
    def parse(key: str, raw: object) -> int:
        try:
            value = int(str(raw).strip()) if not isinstance(raw, int) else raw
        except ValueError:
            raise SettingsError(key, f"an integer from {low} to {high}", raw) from None
        if isinstance(value, bool) or not low <= value <= high:
            raise SettingsError(key, f"an integer from {low} to {high}", raw)
        return value

    return parse


def _parse_float(low: float, high: float) -> Callable[[str, object], float]:
    def parse(key: str, raw: object) -> float:
        try:
            value = float(str(raw).strip())
        except ValueError:
            raise SettingsError(key, f"a number of seconds from {low} to {high}", raw) from None
        if not low <= value <= high:
            raise SettingsError(key, f"a number of seconds from {low} to {high}", raw)
        return value

    return parse


def _parse_domain(key: str, raw: object) -> str:
    try:
        name = normalise_host_name(str(raw).strip())
    except InvalidHostName:
        raise SettingsError(key, "a DNS name such as example.com or localhost", raw) from None
    if name.rsplit(".", 1)[-1].isdigit():
        raise SettingsError(key, "a DNS name such as example.com or localhost", raw)
    return name


def _parse_address(key: str, raw: object) -> str:
    text = str(raw).strip()
    try:
        ipaddress.ip_address(text)
    except ValueError:
        raise SettingsError(key, "an IP address such as 127.0.0.1 or ::1", raw) from None
    return text


def _parse_database_url(key: str, raw: object) -> str | None:
    text = str(raw).strip()
    if not text:
        return None
    if not re.match(r"^postgres(ql)?://", text):
        raise SettingsError(key, "a URL of the form postgresql://user:password@host:port/dbname")
    return text


def _parse_path(key: str, raw: object) -> Path:
    text = str(raw).strip()
    if not text:
        raise SettingsError(key, "a directory path", raw)
    return Path(text)


def _parse_kek(key: str, raw: object) -> bytes | None:
    text = str(raw).strip()
    if not text:
        return None
    try:
        value = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise SettingsError(key, "32 random bytes in base64 (openssl rand -base64 32)") from None
    if len(value) != 32:
        raise SettingsError(key, "32 random bytes in base64 (openssl rand -base64 32)")
    return value


def _parse_choice(*choices: str) -> Callable[[str, object], str]:
    def parse(key: str, raw: object) -> str:
        text = str(raw).strip().lower()
        if text not in choices:
            raise SettingsError(key, "one of " + ", ".join(choices), raw)
        return text

    return parse


def _parse_optional_url(key: str, raw: object) -> str | None:
    text = str(raw).strip()
    if not text:
        return None
    if not re.match(r"^https?://[^\s/]+", text):
        raise SettingsError(key, "an http(s) URL", raw)
    return text


def _parse_url(key: str, raw: object) -> str:
    url = _parse_optional_url(key, raw)
    if url is None:
        raise SettingsError(key, "an http(s) URL", raw)
    return url


def _parse_bool(key: str, raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise SettingsError(key, "true or false", raw)


def _parse_optional_path(key: str, raw: object) -> Path | None:
    text = str(raw).strip()
    return Path(text) if text else None


def _parse_optional_text(key: str, raw: object) -> str | None:
    text = str(raw).strip()
    return text or None


def _parse_addresses(key: str, raw: object) -> tuple[str, ...]:
    items = raw if isinstance(raw, list) else str(raw).split(",")
    return tuple(_parse_address(key, item) for item in items if str(item).strip())


def _parse_networks(key: str, raw: object) -> tuple[str, ...]:
    items = raw if isinstance(raw, list) else str(raw).split(",")
    networks: list[str] = []
    for item in items:
        text = str(item).strip()
        if not text:
            continue
        try:
            networks.append(str(ipaddress.ip_network(text, strict=False)))
        except ValueError:
            raise SettingsError(
                key, "comma-separated addresses or CIDR networks (10.0.0.0/8,192.0.2.7)", raw
            ) from None
    return tuple(networks)


def _parse_names(key: str, raw: object) -> tuple[str, ...]:
    items = raw if isinstance(raw, list) else str(raw).split(",")
    return tuple(str(item).strip().lower() for item in items if str(item).strip())


def _parse_domains(key: str, raw: object) -> tuple[str, ...]:
    return tuple(_parse_domain(key, name) for name in _parse_names(key, raw))


def _parse_challenge_kinds(key: str, raw: object) -> tuple[str, ...]:
    kinds = _parse_names(key, raw)
    if not kinds or any(kind not in ("http-01", "tls-alpn-01") for kind in kinds):
        raise SettingsError(key, "a comma-separated list of http-01 and tls-alpn-01", raw)
    return kinds


def _parse_resolver(key: str, raw: object) -> tuple[str, int] | None:
    text = str(raw).strip()
    if not text:
        return None
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise SettingsError(key, "an address and port such as 127.0.0.1:53", raw)
    return (_parse_address(key, host.strip("[]")), _parse_int(1, 65535)(key, port))


def _parse_log_level(key: str, raw: object) -> str:
    text = str(raw).strip().upper()
    if text not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise SettingsError(key, "one of DEBUG, INFO, WARNING, ERROR", raw)
    return text


# First path segments the gateway serves itself; an upstream may not take them over.
_RESERVED_PATH_SEGMENTS = frozenset(
    {
        "api",
        "portal",
        "checkout",
        "settings",
        "brand",
        ".well-known",
        "healthz",
        "readyz",
        "metrics",
    }
)


def _parse_upstreams(key: str, raw: object) -> tuple[tuple[str, str], ...]:
    expected = "comma-separated /prefix=http://host:port pairs (/reports=http://10.0.0.5:9000)"
    items = raw if isinstance(raw, list) else str(raw).split(",")
    routes: list[tuple[str, str]] = []
    for item in items:
        text = str(item).strip()
        if not text:
            continue
        prefix, separator, url = text.partition("=")
        prefix = prefix.strip().rstrip("/")
        url = url.strip().rstrip("/")
        if (
            not separator
            or not re.fullmatch(r"/[A-Za-z0-9._~/-]*[A-Za-z0-9._~-]", prefix)
            or not re.match(r"^https?://[^\s/]+", url)
            or any(prefix == known for known, _ in routes)
        ):
            raise SettingsError(key, expected, raw)
        if prefix.split("/")[1] in _RESERVED_PATH_SEGMENTS:
            raise SettingsError(key, "prefixes outside the gateway's own paths", prefix)
        routes.append((prefix, url))
    return tuple(routes)


def _parse_mail_address(key: str, raw: object) -> str:
    text = str(raw).strip()
    if not re.fullmatch(r"[^@\s<>\"]+@[^@\s<>\"]+", text):
        raise SettingsError(key, "an e-mail address such as billing@example.com", raw)
    return text


def _setting(default: Any, parse: Callable[[str, object], Any], doc: str, env: str = "") -> Any:
    return field(default=default, metadata={"parse": parse, "doc": doc, "env": env})


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything the process is configured with; build it with `load_settings`."""

    database_url: str | None = _setting(
        None,
        _parse_database_url,
        "PostgreSQL URL; empty starts an embedded server in the data directory",
        env="DATABASE_URL",
    )
    data_dir: Path = _setting(
        Path(".data"), _parse_path, "directory for the embedded PostgreSQL and local keys"
    )
    base_domain: str = _setting(
        "localhost", _parse_domain, "tenants are served at <slug>.<base domain>"
    )
    http_host: str = _setting("127.0.0.1", _parse_address, "address the HTTP listener binds")
    http_port: int = _setting(8080, _parse_int(1, 65535), "HTTP listener port")
    https_port: int = _setting(8443, _parse_int(1, 65535), "HTTPS listener port")
    redirect_http: bool = _setting(
        True,
        _parse_bool,
        "answer plain HTTP for known hosts with 308 to HTTPS (make run turns it off so the "
        "demo also opens over http://*.localhost without trusting the local CA)",
    )
    issuer: str = _setting(
        "internal",
        _parse_choice("internal", "acme"),
        "who issues certificates: internal (a local CA, offline) or acme",
    )
    internal_ca_names: tuple[str, ...] = _setting(
        (),
        _parse_domains,
        "comma-separated DNS suffixes the internal CA may also issue for, besides the base "
        "domain and localhost (development setups serving custom domains over HTTPS); its "
        "root is limited to these names, and changing them makes a new root",
    )
    acme_directory_url: str | None = _setting(
        None, _parse_optional_url, "ACME directory URL (with GATEWAY_ISSUER=acme)"
    )
    acme_ca_bundle: Path | None = _setting(
        None, _parse_optional_path, "CA bundle to trust the ACME server's HTTPS (empty: system)"
    )
    acme_contact: str | None = _setting(None, _parse_optional_text, "ACME account contact e-mail")
    acme_challenges: tuple[str, ...] = _setting(
        ("http-01", "tls-alpn-01"),
        _parse_challenge_kinds,
        "ACME challenge types to use, in order of preference",
    )
    dns_resolver: tuple[str, int] | None = _setting(
        None, _parse_resolver, "DNS server for domain checks as host:port (empty: system resolver)"
    )
    ingress_addresses: tuple[str, ...] = _setting(
        (), _parse_addresses, "comma-separated public addresses; apex domains may point A/AAAA here"
    )
    caa_identities: tuple[str, ...] = _setting(
        ("letsencrypt.org",), _parse_domains, "CA identities a CAA record must allow"
    )
    tls_context_cache_size: int = _setting(
        10_000, _parse_int(1, 10_000_000), "TLS contexts kept in memory per process (LRU)"
    )
    tls_handshake_timeout: float = _setting(
        10.0,
        _parse_float(0.5, 120),
        "seconds a client has to send its ClientHello and finish the TLS handshake",
    )
    tls_max_pending_handshakes: int = _setting(
        1024,
        _parse_int(1, 1_000_000),
        "connections per process between accept and a finished TLS handshake",
    )
    workers: int = _setting(
        0,
        _parse_int(0, 1024),
        "worker processes sharing the listening ports (SO_REUSEPORT), each on its own event "
        "loop; 0: one per CPU; 1: serve in the main process (`gateway serve --workers` overrides)",
    )
    head_timeout: float = _setting(
        10.0,
        _parse_float(0.1, 600),
        "seconds a client has to send a complete request head (request line and headers), "
        "counted from the connection or from the first byte of a keep-alive request; also the "
        "deadline for a PROXY protocol header",
    )
    body_timeout: float = _setting(
        30.0,
        _parse_float(0.1, 3600),
        "seconds a client has to send a whole request body once its head has arrived",
    )
    keepalive_timeout: float = _setting(
        15.0, _parse_float(0.1, 3600), "seconds an idle keep-alive connection stays open"
    )
    max_headers: int = _setting(
        100, _parse_int(1, 1000), "most header fields a request may carry (more: refused with 400)"
    )
    max_header_bytes: int = _setting(
        8190,
        _parse_int(256, 65536),
        "longest request line or header field in bytes (longer: refused with 400)",
    )
    max_connections: int = _setting(
        10_000,
        _parse_int(1, 1_000_000),
        "open HTTP and HTTPS connections per worker; connections beyond it are closed at once",
    )
    shutdown_timeout: float = _setting(
        10.0,
        _parse_float(0, 3600),
        "seconds from SIGTERM until every request still in flight (proxied ones included) is "
        "cut; requests whose head has arrived finish their bodies and responses meanwhile, and "
        "the process exits within this bound plus about a second",
    )
    drain_delay: float = _setting(
        0.0,
        _parse_float(0, 600),
        "seconds after SIGTERM during which /readyz answers 503 while the listeners still "
        "accept, so a load balancer's health check moves traffic away first; counted within "
        "GATEWAY_SHUTDOWN_TIMEOUT",
    )
    proxy_protocol: str = _setting(
        "off",
        _parse_choice("off", "v1", "v2", "any"),
        "PROXY protocol header versions required from GATEWAY_TRUSTED_PROXIES on both listeners "
        "(off, v1, v2 or any); other peers are served directly and closed if they send one",
    )
    trusted_proxies: tuple[str, ...] = _setting(
        (),
        _parse_networks,
        "comma-separated addresses or CIDR networks of the load balancers that send PROXY "
        "protocol headers",
    )
    worker_header: bool = _setting(
        False,
        _parse_bool,
        "add a Gateway-Worker response header with the serving process id (to check how "
        "connections spread over workers; leave off in production)",
    )
    vendor_cert_file: Path | None = _setting(
        None,
        _parse_optional_path,
        "PEM chain for the vendor hosts (a wildcard for *.<base domain>), used with "
        "GATEWAY_ISSUER=acme; empty: those names are refused on HTTPS",
    )
    vendor_key_file: Path | None = _setting(
        None, _parse_optional_path, "PEM private key of GATEWAY_VENDOR_CERT_FILE"
    )
    domain_recheck_seconds: int = _setting(
        3600, _parse_int(10, 7 * 86400), "how often active domains' DNS is checked again"
    )
    domain_claim_days: int = _setting(
        7,
        _parse_int(1, 90),
        "days a claimed custom domain has to prove ownership (TXT record) before the claim "
        "expires and is removed",
    )
    stripe_api_base: str = _setting(
        "https://api.stripe.com",
        _parse_url,
        "Stripe API base URL (tests point it at localstripe)",
    )
    stripe_js_url: str = _setting(
        "https://js.stripe.com/v3/", _parse_url, "Stripe.js script URL that payment pages load"
    )
    kek: bytes | None = _setting(
        None,
        _parse_kek,
        "key-encryption key for secrets at rest, 32 bytes base64; "
        "required with DATABASE_URL, generated in the data directory otherwise",
    )
    db_pool_min: int = _setting(1, _parse_int(0, 1000), "smallest database pool size")
    db_pool_max: int = _setting(10, _parse_int(1, 1000), "largest database pool size")
    db_command_timeout: float = _setting(
        10.0, _parse_float(0.1, 600), "seconds a database command may take"
    )
    max_body_bytes: int = _setting(
        1_048_576, _parse_int(1024, 64 * 1_048_576), "largest API request body in bytes"
    )
    max_icon_bytes: int = _setting(
        262_144, _parse_int(1024, 8 * 1_048_576), "largest brand icon in bytes"
    )
    log_level: str = _setting(
        "INFO",
        _parse_log_level,
        "DEBUG, INFO, WARNING or ERROR, for the gateway's own lines; libraries (the Stripe "
        "client logs each call at INFO) log from WARNING up unless it is DEBUG",
    )

    log_format: str = _setting(
        "json", _parse_choice("json", "text"), "log lines as JSON objects (json) or plain text"
    )
    ops_host: str = _setting(
        "127.0.0.1", _parse_address, "address the ops listener (/metrics, /healthz, /readyz) binds"
    )
    ops_port: int = _setting(9090, _parse_int(1, 65535), "ops listener port")
    metrics_refresh_seconds: float = _setting(
        30.0,
        _parse_float(1, 3600),
        "seconds between refreshes of the metrics read from PostgreSQL "
        "(certificate expiry, ACME orders)",
    )
    webhook_timeout: float = _setting(
        10.0,
        _parse_float(0.5, 120),
        "seconds one webhook delivery may take in all (connect, send, answer)",
    )
    webhook_allow_loopback: bool = _setting(
        False,
        _parse_bool,
        "also accept plain http webhook URLs on loopback addresses (127.0.0.0/8, ::1, "
        "localhost); for tests only, never in production (make run leaves it off)",
    )
    upstreams: tuple[tuple[str, str], ...] = _setting(
        (),
        _parse_upstreams,
        "reverse-proxy routes on tenant hosts: comma-separated /prefix=http://host:port "
        "(the path is forwarded unchanged)",
    )
    upstream_connect_timeout: float = _setting(
        5.0, _parse_float(0.1, 120), "seconds to connect to an upstream of GATEWAY_UPSTREAMS"
    )
    upstream_read_timeout: float = _setting(
        30.0,
        _parse_float(0.1, 3600),
        "seconds an upstream may stay silent while its response is awaited or streamed",
    )
    smtp_host: str | None = _setting(
        None,
        _parse_optional_text,
        "SMTP server that sends the customers' mail (invoice issued, receipt, payment "
        "failed); empty: no mail is sent, the events wait",
    )
    smtp_port: int = _setting(587, _parse_int(1, 65535), "SMTP server port")
    smtp_security: str = _setting(
        "starttls",
        _parse_choice("starttls", "tls", "none"),
        "starttls (upgrade a plain connection, port 587), tls (implicit TLS, port 465) or "
        "none (plain, for a local server only)",
    )
    smtp_username: str | None = _setting(
        None, _parse_optional_text, "SMTP user name (empty: no authentication)"
    )
    smtp_password: str | None = _setting(None, _parse_optional_text, "SMTP password")
    smtp_timeout: float = _setting(
        30.0, _parse_float(1, 300), "seconds one SMTP delivery may take in all"
    )
    mail_from: str = _setting(
        "billing@localhost",
        _parse_mail_address,
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


def env_name(name: str) -> str:
    """The environment variable that sets the field `name`."""
    for item in fields(Settings):
        if item.name == name:
            return str(item.metadata["env"] or ENV_PREFIX + name.upper())
    raise KeyError(name)


def describe_settings() -> list[tuple[str, str, str]]:
    """(environment name, default, description) for every setting, for --help and docs."""
    rows = []
    for item in fields(Settings):
        default = item.default
        if default is None:
            shown = ""
        elif isinstance(default, tuple):
            shown = ",".join(str(part) for part in default)
        else:
            shown = str(default)
        rows.append((env_name(item.name), shown, str(item.metadata["doc"])))
    return rows


def load_settings(
    environ: Mapping[str, str] | None = None, config_file: Path | None = None
) -> Settings:
    """Build settings from a TOML file (GATEWAY_CONFIG) overridden by the environment.

    TOML keys are the field names (`base_domain = "example.com"`); unknown keys
    are an error so a typo cannot pass silently.
    """
    environ = os.environ if environ is None else environ
    raw: dict[str, object] = {}
    path = config_file
    if path is None and environ.get(ENV_PREFIX + "CONFIG"):
        path = Path(environ[ENV_PREFIX + "CONFIG"])
    if path is not None:
        raw.update(_read_toml(path))
    for item in fields(Settings):
        name = env_name(item.name)
        if name in environ:
            raw[item.name] = environ[name]
    values: dict[str, Any] = {}
    for item in fields(Settings):
        if item.name in raw:
            values[item.name] = item.metadata["parse"](env_name(item.name), raw[item.name])
    settings = Settings(**values)
    if settings.db_pool_min > settings.db_pool_max:
        raise SettingsError(
            env_name("db_pool_min"), f"at most {env_name('db_pool_max')}", settings.db_pool_min
        )
    if settings.issuer == "acme" and settings.acme_directory_url is None:
        raise SettingsError(env_name("acme_directory_url"), "a URL when GATEWAY_ISSUER=acme")
    if (settings.vendor_cert_file is None) != (settings.vendor_key_file is None):
        raise SettingsError(
            env_name("vendor_key_file"),
            "GATEWAY_VENDOR_CERT_FILE and GATEWAY_VENDOR_KEY_FILE set together or not at all",
        )
    if settings.proxy_protocol != "off" and not settings.trusted_proxies:
        raise SettingsError(
            env_name("trusted_proxies"),
            "at least one address or network when GATEWAY_PROXY_PROTOCOL is not off",
        )
    if settings.http_port == settings.https_port:
        raise SettingsError(env_name("https_port"), "a port other than GATEWAY_HTTP_PORT")
    if settings.database_url is not None and settings.kek is None:
        raise SettingsError(
            env_name("kek"),
            "32 random bytes in base64 when DATABASE_URL is set (openssl rand -base64 32)",
        )
    return settings


def _read_toml(path: Path) -> dict[str, object]:
    key = ENV_PREFIX + "CONFIG"
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise SettingsError(key, "the path of a readable TOML file", str(path)) from None
    except tomllib.TOMLDecodeError as error:
        raise SettingsError(key, f"valid TOML ({error})", str(path)) from None
    known = {item.name for item in fields(Settings)}
    for name in data:
        if name not in known:
            raise SettingsError(f"{path}:{name}", f"one of {', '.join(sorted(known))}", name)
    return dict(data)
