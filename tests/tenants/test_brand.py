"""Brand colours stay readable whatever a tenant picks; only safe icon formats are accepted."""

from __future__ import annotations

import pytest

from gateway.tenants.brand import parse_brand_color, sniff_icon_type
from gateway.tenants.errors import InvalidTenantInput

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
ICO = b"\x00\x00\x01\x00\x01\x00" + b"\x00" * 32
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 32


def test_brand_colours_are_stored_in_lower_case() -> None:
    assert parse_brand_color("#AbCdEf") == "#abcdef"


@pytest.mark.parametrize("value", ["4f46e5", "#4f46e", "#4f46e5a", "#ggg000", "red", "", None, 5])
def test_a_malformed_brand_colour_is_a_field_error(value: object) -> None:
    with pytest.raises(InvalidTenantInput) as raised:
        parse_brand_color(value)
    assert "brand_color" in raised.value.errors


@pytest.mark.parametrize(
    ("data", "media_type"),
    [(PNG, "image/png"), (ICO, "image/x-icon"), (WEBP, "image/webp")],
)
def test_icon_type_comes_from_the_bytes(data: bytes, media_type: str) -> None:
    assert sniff_icon_type(data, max_bytes=1024) == media_type


@pytest.mark.parametrize(
    "data",
    [
        b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>",
        b"GIF89a" + b"\x00" * 16,
        b"\xff\xd8\xff\xe0" + b"\x00" * 16,  # JPEG
        b"RIFF\x24\x00\x00\x00WAVEfmt ",  # RIFF, but audio
        b"\x00\x00\x01\x00\x00\x00",  # ICO header with no images
        b"<html>",
    ],
)
def test_other_files_are_refused_as_icons(data: bytes) -> None:
    with pytest.raises(InvalidTenantInput, match="PNG, ICO or WebP") as raised:
        sniff_icon_type(data, max_bytes=1024)
    assert "icon" in raised.value.errors


def test_an_empty_icon_is_refused() -> None:
    with pytest.raises(InvalidTenantInput, match="empty"):
        sniff_icon_type(b"", max_bytes=1024)


def test_an_icon_over_the_limit_is_refused_naming_the_limit() -> None:
    sniff_icon_type(PNG + b"\x00" * (1024 - len(PNG)), max_bytes=1024)
    with pytest.raises(InvalidTenantInput, match="1024 bytes"):
        sniff_icon_type(PNG + b"\x00" * (1025 - len(PNG)), max_bytes=1024)
