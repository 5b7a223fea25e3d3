"""A tenant's brand: its colour (contrast rules in kernel.colors) and the icon formats we serve."""

from __future__ import annotations

import re

from gateway.tenants.errors import InvalidTenantInput

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
