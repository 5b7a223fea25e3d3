"""A tenant's brand: its colour, readable text on that colour, and the icon formats we serve."""

from __future__ import annotations

import re

from gateway.tenants.errors import InvalidTenantInput

WHITE = "#ffffff"
BLACK = "#000000"
# WCAG 2.x success criterion 1.4.3: normal text needs a contrast ratio of at least 4.5:1.
MINIMUM_TEXT_CONTRAST = 4.5

_HEX_COLOR = re.compile(r"#[0-9a-fA-F]{6}")

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_ICO_HEADER = b"\x00\x00\x01\x00"  # reserved 0, type 1 (icon)


def parse_brand_color(value: object) -> str:
    """`#RRGGBB` (any case) as lower case; InvalidTenantInput on anything else."""
    if not isinstance(value, str) or not _HEX_COLOR.fullmatch(value):
        raise InvalidTenantInput(
            {"brand_color": "must be a colour written as # and six hex digits, like #4f46e5"},
            {"brand_color": "invalid_color"},
        )
    return value.lower()


def _channels(color: str) -> tuple[int, int, int]:
    parsed = parse_brand_color(color)
    return int(parsed[1:3], 16), int(parsed[3:5], 16), int(parsed[5:7], 16)


def relative_luminance(color: str) -> float:
    """WCAG 2.x relative luminance of an sRGB `#rrggbb` colour, from 0 (black) to 1 (white)."""

    def linear(channel: int) -> float:
        value = channel / 255
        return value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4

    red, green, blue = (linear(channel) for channel in _channels(color))
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def contrast_ratio(a: str, b: str) -> float:
    """WCAG 2.x contrast ratio of two `#rrggbb` colours, from 1 (same) to 21 (black on white)."""
    first, second = relative_luminance(a), relative_luminance(b)
    lighter, darker = max(first, second), min(first, second)
    return (lighter + 0.05) / (darker + 0.05)


def contrast_color(brand: str) -> str:
    """White or black, whichever reads better on `brand`; always at least 4.5:1.

    With luminance L, white gives 1.05 / (L + 0.05) and black (L + 0.05) / 0.05;
    their product is 21, so the larger is at least sqrt(21), about 4.58, for
    every colour. No in-between shade is ever needed.
    """
    if contrast_ratio(brand, WHITE) >= contrast_ratio(brand, BLACK):
        return WHITE
    return BLACK


def sniff_icon_type(data: bytes, *, max_bytes: int) -> str:
    """The media type of an icon from its first bytes: PNG, ICO or WebP.

    The declared type of an upload is ignored: browsers trust what we send in
    Content-Type, so it must come from the bytes. SVG is refused because it can
    carry scripts.
    """
    if not data:
        raise InvalidTenantInput({"icon": "the icon is empty"})
    if len(data) > max_bytes:
        raise InvalidTenantInput(
            {"icon": f"the icon is larger than the limit of {max_bytes} bytes"}
        )
    if data.startswith(_PNG_SIGNATURE):
        return "image/png"
    if data.startswith(_ICO_HEADER) and len(data) >= 6 and data[4:6] != b"\x00\x00":
        return "image/x-icon"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    raise InvalidTenantInput({"icon": "the icon must be a PNG, ICO or WebP image"})
