"""Colours written as `#rrggbb`: WCAG contrast, and the text colour that reads on a background."""

from __future__ import annotations

import re

WHITE = "#ffffff"
BLACK = "#000000"
# WCAG 2.x success criterion 1.4.3: normal text needs a contrast ratio of at least 4.5:1.
MINIMUM_TEXT_CONTRAST = 4.5

_HEX_COLOR = re.compile(r"#[0-9a-fA-F]{6}")


def _channels(color: str) -> tuple[int, int, int]:
    if not _HEX_COLOR.fullmatch(color):
        raise ValueError(f"not a #rrggbb colour: {color!r}")
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


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


def contrast_color(background: str) -> str:
    """White or black, whichever reads better on `background`; always at least 4.5:1.

    With luminance L, white gives 1.05 / (L + 0.05) and black (L + 0.05) / 0.05;
    their product is 21, so the larger is at least sqrt(21), about 4.58, for
    every colour. No in-between shade is ever needed.
    """
    if contrast_ratio(background, WHITE) >= contrast_ratio(background, BLACK):
        return WHITE
    return BLACK
