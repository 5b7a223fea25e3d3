"""Brand colours stay readable whatever a tenant picks; only safe icon formats are accepted."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.tenants.brand import (
    BLACK,
    MINIMUM_TEXT_CONTRAST,
    WHITE,
    contrast_color,
    contrast_ratio,
    parse_brand_color,
    sniff_icon_type,
)
from gateway.tenants.errors import InvalidTenantInput

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
ICO = b"\x00\x00\x01\x00\x01\x00" + b"\x00" * 32
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 32


@settings(max_examples=2000)
@given(rgb=st.integers(min_value=0, max_value=0xFFFFFF))
def test_text_on_any_brand_colour_meets_wcag_aa_contrast(rgb: int) -> None:
    brand = f"#{rgb:06x}"
    assert contrast_ratio(contrast_color(brand), brand) >= MINIMUM_TEXT_CONTRAST


@pytest.mark.parametrize(
    # The greys where white and black are closest to a tie are the hardest case.
    "brand",
    ["#757575", "#767676", "#777777", "#787878", "#0000ff", "#ff0000", "#00ff00", "#ffff00"],
)
def test_text_on_mid_tones_meets_wcag_aa_contrast(brand: str) -> None:
    assert contrast_ratio(contrast_color(brand), brand) >= MINIMUM_TEXT_CONTRAST


def test_dark_brands_get_white_text_and_light_brands_black_text() -> None:
    assert contrast_color("#1e3a8a") == WHITE
    assert contrast_color("#fde68a") == BLACK


def test_contrast_ratio_matches_the_wcag_extremes() -> None:
    assert contrast_ratio(BLACK, WHITE) == pytest.approx(21.0)
    assert contrast_ratio("#4f46e5", "#4f46e5") == pytest.approx(1.0)


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
