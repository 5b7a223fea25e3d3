"""Building the settings from the environment and an optional TOML file, and describing them.

This is the only reader of the environment. Every value is checked when the
object is built; a bad or missing value raises `SettingsError`, which names the
key and the expected form, so the process stops at start-up instead of failing
later on a request.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

from gateway.settings.errors import SettingsError
from gateway.settings.model import Settings

ENV_PREFIX = "GATEWAY_"


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
    _check_together(settings)
    return settings


def _check_together(settings: Settings) -> None:
    """Raise `SettingsError` when values that are each valid do not fit together."""
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
