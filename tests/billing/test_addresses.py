"""Addresses written as each country writes them, and postal codes checked per country."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from billing.addresses import PostalAddress, address_lines, check_postal_code
from billing.countries import COUNTRY_CODES
from billing.customers import create_customer, get_customer, update_billing_info
from billing.errors import InvalidInput, RuleViolation
from gateway.tenants.models import Tenant

BRISTOL = PostalAddress(line1="1 Temple Way", city="Bristol", postal_code="BS1 4DJ", country="GB")
PARIS = PostalAddress(line1="1 Rue de Rivoli", city="Paris", postal_code="75001", country="FR")
SPRINGFIELD = PostalAddress(
    line1="1 Main St", line2="Suite 2", city="Springfield", postal_code="62701", state="Illinois",
    country="US",
)  # fmt: skip


def test_a_uk_address_puts_the_postcode_under_the_town() -> None:
    assert address_lines(BRISTOL, language="en") == [
        "1 Temple Way",
        "Bristol",
        "BS1 4DJ",
        "United Kingdom",
    ]


def test_a_french_address_puts_the_postal_code_before_the_town() -> None:
    assert address_lines(PARIS, language="fr") == ["1 Rue de Rivoli", "75001 Paris", "France"]


def test_a_us_address_reads_city_state_code_and_zip_on_one_line() -> None:
    assert address_lines(SPRINGFIELD, language="en") == [
        "1 Main St",
        "Suite 2",
        "Springfield, IL 62701",
        "United States",
    ]


def test_the_country_is_named_in_the_readers_language_and_empty_parts_leave_no_commas() -> None:
    address = PostalAddress(line1="1 Main St", city="Springfield", country="US")
    assert address_lines(address, language="de") == [
        "1 Main St",
        "Springfield",
        "Vereinigte Staaten",
    ]
    assert address_lines(PostalAddress(city="Lyon", postal_code="69002"), language="en") == [
        "69002 Lyon"
    ]
    assert address_lines(PostalAddress(), language="en") == []
    # A part the country's format has no place for is kept on a line of its own.
    county = PostalAddress(city="Bristol", postal_code="BS1 4DJ", state="Avon", country="GB")
    assert address_lines(county, language="en") == ["Bristol", "BS1 4DJ", "Avon", "United Kingdom"]


@pytest.mark.parametrize(
    ("country", "typed", "stored"),
    [("GB", "bs1  4dj", "BS1 4DJ"), ("FR", "75001", "75001"), ("DE", "80802", "80802"),
     ("NL", "1012 ab", "1012 AB"), ("PL", "00-950", "00-950"), ("SE", "114 55", "114 55"),
     ("US", "62701", "62701"), ("CA", "k1a 0b1", "K1A 0B1"), ("HK", "anything", "ANYTHING")],
)  # fmt: skip
def test_a_postal_code_of_the_country_is_kept_as_post_offices_write_it(
    country: str, typed: str, stored: str
) -> None:
    assert check_postal_code(typed, country) == stored


@pytest.mark.parametrize(
    ("country", "state", "typed"),
    [("GB", None, "75001"), ("FR", None, "7500"), ("FR", None, "BS1 4DJ"), ("DE", None, "8080"),
     ("NL", None, "1012"), ("US", None, "6270"), ("US", "CA", "10001"), ("PL", None, "00950")],
)  # fmt: skip
def test_a_postal_code_of_another_shape_is_refused_with_an_example(
    country: str, state: str | None, typed: str
) -> None:
    with pytest.raises(RuleViolation) as refused:
        check_postal_code(typed, country, state)
    assert refused.value.code == "invalid_postal_code"
    assert "such as" in refused.value.message


def test_the_address_data_is_read_from_the_package_and_nothing_is_fetched(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the address data tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    for country in sorted(COUNTRY_CODES):
        address = PostalAddress(line1="1 Road", city="Town", country=country)
        lines = address_lines(address, language="fr")
        assert any("1 Road" in line for line in lines)
        assert any("Town" in line for line in lines)
        check_postal_code("", country)


async def test_a_wrong_postal_code_stores_nothing_and_names_the_field(
    pool: Any, tenant: Tenant
) -> None:
    with pytest.raises(InvalidInput) as refused:
        await create_customer(
            pool,
            tenant_id=tenant.id,
            default_currency="EUR",
            data={"name": "Ada", "address": {"postal_code": "75001", "country": "GB"}},
        )
    assert refused.value.codes == {"address.postal_code": "invalid_postal_code"}
    assert await pool.fetchval("SELECT count(*) FROM customers") == 0


async def test_a_changed_country_must_fit_the_stored_postal_code(pool: Any, tenant: Tenant) -> None:
    customer = await create_customer(
        pool,
        tenant_id=tenant.id,
        default_currency="EUR",
        data={"name": "Ada", "address": {"postal_code": "bs1 4dj", "country": "GB"}},
    )
    assert customer.postal_code == "BS1 4DJ"
    with pytest.raises(InvalidInput) as refused:
        await update_billing_info(
            pool,
            tenant_id=tenant.id,
            customer_id=customer.id,
            changes={"address": {"country": "FR"}},
        )
    assert refused.value.codes == {"address.postal_code": "invalid_postal_code"}
    kept = await get_customer(pool, tenant_id=tenant.id, customer_id=customer.id)
    assert (kept.country, kept.postal_code) == ("GB", "BS1 4DJ")
