"""The demo tenants' brand icons, drawn with Pillow."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw


def brand_icon(color: tuple[int, int, int], size: int = 64) -> bytes:
    """A PNG icon: a white mountain peak on a rounded square of `color`."""
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((0, 0, size - 1, size - 1), radius=size // 5, fill=(*color, 255))
    base = size * 3 // 4
    white = (255, 255, 255, 255)
    # A big peak and a smaller one to its right, both standing on the same base line.
    for tip_x, tip_y in ((size * 0.42, size * 0.25), (size * 0.68, size * 0.45)):
        half = (base - tip_y) * 0.9
        draw.polygon([(tip_x, tip_y), (tip_x + half, base), (tip_x - half, base)], fill=white)
    output = io.BytesIO()
    image.save(output, format="PNG", optimize=True)
    return output.getvalue()
