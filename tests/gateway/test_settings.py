"""Settings: defaults, environment and TOML overrides, and loud failures that name the key."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from gateway.settings import SettingsError, describe_settings, load_settings

KEK = base64.b64encode(os.urandom(32)).decode()


def test_defaults_serve_localhost_on_port_8080_with_an_embedded_database() -> None:
    settings = load_settings(environ={})

    assert settings.base_domain == "localhost"
    assert settings.http_host == "127.0.0.1"
    assert settings.http_port == 8080
    assert settings.database_url is None
    assert settings.api_host == "api.localhost"
    assert settings.public_url("alpeak.localhost") == "http://alpeak.localhost:8080"


def test_environment_variables_override_the_defaults() -> None:
    settings = load_settings(
        environ={
            "GATEWAY_BASE_DOMAIN": "Billing.Example.COM.",
            "GATEWAY_HTTP_PORT": "80",
            "GATEWAY_HTTP_HOST": "192.0.2.10",
            "GATEWAY_LOG_LEVEL": "debug",
            "DATABASE_URL": "postgresql://gw:secret@db:5432/gateway",
            "GATEWAY_KEK": KEK,
        }
    )

    assert settings.base_domain == "billing.example.com"
    assert settings.http_port == 80
    assert settings.http_host == "192.0.2.10"
    assert settings.log_level == "DEBUG"
    assert settings.database_url == "postgresql://gw:secret@db:5432/gateway"
    assert settings.kek == base64.b64decode(KEK)
    assert settings.public_url("api.billing.example.com") == "http://api.billing.example.com"


def test_toml_file_sets_values_and_the_environment_wins_over_it(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text('base_domain = "example.org"\nhttp_port = 9000\ndb_pool_max = 20\n')

    from_file = load_settings(environ={"GATEWAY_CONFIG": str(config)})
    overridden = load_settings(environ={"GATEWAY_CONFIG": str(config), "GATEWAY_HTTP_PORT": "81"})

    assert (from_file.base_domain, from_file.http_port, from_file.db_pool_max) == (
        "example.org",
        9000,
        20,
    )
    assert overridden.http_port == 81
    assert overridden.base_domain == "example.org"


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("GATEWAY_HTTP_PORT", "eighty", "an integer from 1 to 65535"),
        ("GATEWAY_HTTP_PORT", "70000", "an integer from 1 to 65535"),
        ("GATEWAY_HTTP_HOST", "localhost", "an IP address"),
        ("GATEWAY_BASE_DOMAIN", "-bad-.example", "a DNS name"),
        ("GATEWAY_LOG_LEVEL", "loud", "one of DEBUG, INFO, WARNING, ERROR"),
        ("GATEWAY_DB_COMMAND_TIMEOUT", "soon", "a number of seconds"),
        ("GATEWAY_KEK", "not base64!", "32 random bytes in base64"),
        ("GATEWAY_KEK", base64.b64encode(b"short").decode(), "32 random bytes in base64"),
        ("DATABASE_URL", "mysql://db/gateway", "postgresql://"),
    ],
)
def test_a_bad_value_is_refused_naming_its_key_and_the_expected_form(
    key: str, value: str, expected: str
) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(environ={key: value})

    assert raised.value.key == key
    assert key in str(raised.value)
    assert expected in str(raised.value)


def test_pool_minimum_above_maximum_is_refused() -> None:
    with pytest.raises(SettingsError, match="GATEWAY_DB_POOL_MIN"):
        load_settings(environ={"GATEWAY_DB_POOL_MIN": "20", "GATEWAY_DB_POOL_MAX": "5"})


def test_an_unknown_toml_key_is_refused_so_a_typo_cannot_pass_silently(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text('base_domian = "example.org"\n')

    with pytest.raises(SettingsError) as raised:
        load_settings(environ={}, config_file=config)

    assert "base_domian" in str(raised.value)
    assert "base_domain" in str(raised.value)


def test_a_missing_or_malformed_toml_file_is_refused(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("base_domain = \n")

    with pytest.raises(SettingsError, match="GATEWAY_CONFIG"):
        load_settings(environ={"GATEWAY_CONFIG": str(tmp_path / "absent.toml")})
    with pytest.raises(SettingsError, match="valid TOML"):
        load_settings(environ={"GATEWAY_CONFIG": str(broken)})


def test_database_url_without_a_key_encryption_key_is_refused() -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(environ={"DATABASE_URL": "postgresql://gw@db/gateway"})

    assert raised.value.key == "GATEWAY_KEK"
    assert "DATABASE_URL" in str(raised.value)


def test_the_readme_settings_table_is_the_help_table() -> None:
    """Operators read the README and `gateway --help`: both list every setting alike."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    table = readme.split("| Environment variable | Default | Meaning |\n|---|---|---|\n")[1]
    documented = table.split("\n\n")[0].splitlines()
    expected = [
        f"| `{name}` | {f'`{default}`' if default else '(none)'} | {doc} |"
        for name, default, doc in describe_settings()
    ]
    assert documented == expected


def test_every_setting_is_described_for_help_and_docs() -> None:
    rows = {name: (default, doc) for name, default, doc in describe_settings()}

    assert rows["GATEWAY_HTTP_PORT"][0] == "8080"
    assert rows["GATEWAY_BASE_DOMAIN"][0] == "localhost"
    assert "DATABASE_URL" in rows
    assert all(doc for _, doc in rows.values())


def test_internal_ca_names_widen_the_base_domain_and_localhost() -> None:
    settings = load_settings(
        environ={
            "GATEWAY_BASE_DOMAIN": "gateway.test",
            "GATEWAY_INTERNAL_CA_NAMES": "Shop.Example., dev.test",
        }
    )
    assert settings.internal_ca_names == ("shop.example", "dev.test")
    assert settings.internal_ca_permitted_names == (
        "dev.test",
        "gateway.test",
        "localhost",
        "shop.example",
    )
    assert load_settings(environ={}).internal_ca_permitted_names == ("localhost",)
    with pytest.raises(SettingsError, match="GATEWAY_INTERNAL_CA_NAMES"):
        load_settings(environ={"GATEWAY_INTERNAL_CA_NAMES": "shop_example.com"})
