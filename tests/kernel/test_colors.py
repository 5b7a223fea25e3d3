"""Text on any background colour stays readable (WCAG 2.x AA contrast)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernel.colors import BLACK, MINIMUM_TEXT_CONTRAST, WHITE, contrast_color, contrast_ratio


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


def test_a_colour_that_is_not_rrggbb_is_refused() -> None:
    with pytest.raises(ValueError, match="rrggbb"):
        contrast_color("red")
