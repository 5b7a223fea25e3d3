"""docs/screenshots.py: the README's pictures come from a real demo; the script must work."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from tests.fixtures.browser import chromium_path

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).resolve().parents[2] / "docs" / "screenshots.py"


def size(path: Path) -> tuple[int, int]:
    with Image.open(path) as image:
        return image.size


def test_the_script_photographs_portal_checkout_and_settings_from_the_demo(tmp_path: Path) -> None:
    chromium_path()
    finished = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert finished.returncode == 0, finished.stderr[-2000:]
    widths = {path.name: size(path)[0] for path in tmp_path.glob("*.png")}
    assert widths == {
        "portal-overview.png": 1280,
        "portal-invoice.png": 1280,
        "portal-overview-phone-de.png": 360,
        "checkout.png": 1280,
        "settings.png": 1280,
    }
    # Full pages, not blank frames: the overview is taller than the window.
    assert size(tmp_path / "portal-overview.png")[1] > 900
    assert sorted(finished.stdout.split()) == sorted(str(p) for p in tmp_path.glob("*.png"))
