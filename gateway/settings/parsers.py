"""Value parsers of the settings: text (or a TOML value) in, a checked value out.

Each parser takes the setting's key (for the error message) and the raw value,
and raises `SettingsError` naming the key and the expected form when it does
not fit.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Callable
from pathlib import Path

from gateway.settings.errors import SettingsError
from gateway.tenants.hostnames import InvalidHostName, normalise_host_name


def parse_int(low: int, high: int) -> Callable[[str, object], int]:
    def parse(key: str, raw: object) -> int:
        try:
            value = int(str(raw).strip()) if not isinstance(raw, int) else raw
        except ValueError:
            raise SettingsError(key, f"an integer from {low} to {high}", raw) from None
        if isinstance(value, bool) or not low <= value <= high:
            raise SettingsError(key, f"an integer from {low} to {high}", raw)
        return value

    return parse


def parse_float(low: float, high: float) -> Callable[[str, object], float]:
    def parse(key: str, raw: object) -> float:
        try:
            value = float(str(raw).strip())
        except ValueError:
            raise SettingsError(key, f"a number of seconds from {low} to {high}", raw) from None
        if not low <= value <= high:
            raise SettingsError(key, f"a number of seconds from {low} to {high}", raw)
        return value

    return parse


def parse_domain(key: str, raw: object) -> str:
    try:
        name = normalise_host_name(str(raw).strip())
    except InvalidHostName:
        raise SettingsError(key, "a DNS name such as example.com or localhost", raw) from None
    if name.rsplit(".", 1)[-1].isdigit():
        raise SettingsError(key, "a DNS name such as example.com or localhost", raw)
    return name


def parse_address(key: str, raw: object) -> str:
    text = str(raw).strip()
    try:
        ipaddress.ip_address(text)
    except ValueError:
        raise SettingsError(key, "an IP address such as 127.0.0.1 or ::1", raw) from None
    return text


def parse_database_url(key: str, raw: object) -> str | None:
    text = str(raw).strip()
    if not text:
        return None
    if not re.match(r"^postgres(ql)?://", text):
        raise SettingsError(key, "a URL of the form postgresql://user:password@host:port/dbname")
    return text


def parse_path(key: str, raw: object) -> Path:
    text = str(raw).strip()
    if not text:
        raise SettingsError(key, "a directory path", raw)
    return Path(text)


def parse_kek(key: str, raw: object) -> bytes | None:
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


def parse_choice(*choices: str) -> Callable[[str, object], str]:
    def parse(key: str, raw: object) -> str:
        text = str(raw).strip().lower()
        if text not in choices:
            raise SettingsError(key, "one of " + ", ".join(choices), raw)
        return text

    return parse


def parse_optional_url(key: str, raw: object) -> str | None:
    text = str(raw).strip()
    if not text:
        return None
    if not re.match(r"^https?://[^\s/]+", text):
        raise SettingsError(key, "an http(s) URL", raw)
    return text


def parse_url(key: str, raw: object) -> str:
    url = parse_optional_url(key, raw)
    if url is None:
        raise SettingsError(key, "an http(s) URL", raw)
    return url


def parse_bool(key: str, raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise SettingsError(key, "true or false", raw)


def parse_optional_path(key: str, raw: object) -> Path | None:
    text = str(raw).strip()
    return Path(text) if text else None


def parse_optional_text(key: str, raw: object) -> str | None:
    text = str(raw).strip()
    return text or None


def parse_addresses(key: str, raw: object) -> tuple[str, ...]:
    items = raw if isinstance(raw, list) else str(raw).split(",")
    return tuple(parse_address(key, item) for item in items if str(item).strip())


def parse_networks(key: str, raw: object) -> tuple[str, ...]:
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


def parse_names(key: str, raw: object) -> tuple[str, ...]:
    items = raw if isinstance(raw, list) else str(raw).split(",")
    return tuple(str(item).strip().lower() for item in items if str(item).strip())


def parse_domains(key: str, raw: object) -> tuple[str, ...]:
    return tuple(parse_domain(key, name) for name in parse_names(key, raw))


def parse_challenge_kinds(key: str, raw: object) -> tuple[str, ...]:
    kinds = parse_names(key, raw)
    if not kinds or any(kind not in ("http-01", "tls-alpn-01") for kind in kinds):
        raise SettingsError(key, "a comma-separated list of http-01 and tls-alpn-01", raw)
    return kinds


def parse_resolver(key: str, raw: object) -> tuple[str, int] | None:
    text = str(raw).strip()
    if not text:
        return None
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise SettingsError(key, "an address and port such as 127.0.0.1:53", raw)
    return (parse_address(key, host.strip("[]")), parse_int(1, 65535)(key, port))


def parse_log_level(key: str, raw: object) -> str:
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


def parse_upstreams(key: str, raw: object) -> tuple[tuple[str, str], ...]:
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


def parse_mail_address(key: str, raw: object) -> str:
    text = str(raw).strip()
    if not re.fullmatch(r"[^@\s<>\"]+@[^@\s<>\"]+", text):
        raise SettingsError(key, "an e-mail address such as billing@example.com", raw)
    return text
