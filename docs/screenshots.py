"""Take the README's screenshots from the demo: `make screenshots` (`python docs/screenshots.py`).

Starts `gateway serve --demo` on free loopback ports with a throw-away data directory
(its own embedded PostgreSQL, localstripe and mailbox), opens the pages the demo
prints in Debian's Chromium (driven by Playwright, never downloaded) and writes
PNG files to docs/screenshots/ (or --out). Nothing outside the temporary directory
is touched, and the demo stops when the pictures are taken.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, async_playwright

DOCS = Path(__file__).resolve().parent
GATEWAY = Path(sys.executable).with_name("gateway")
START_TIMEOUT = 120.0  # seconds: the first start initialises a PostgreSQL cluster
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 360, "height": 740}
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-dev-shm-usage",
    "--no-proxy-server",
    # The demo's tenant hosts (alpeak.localhost, app.localhost) reach the demo on loopback.
    "--host-resolver-rules=MAP *.localhost 127.0.0.1",
]


@dataclass(frozen=True)
class Demo:
    """What the demo printed: the pages to open and the API key that opens the settings."""

    portals: dict[str, str]  # customer name -> portal URL over HTTP
    checkout: str
    settings: str
    api_key: str


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def read_demo(lines: list[str]) -> Demo | None:
    """The demo's URLs from the lines `gateway serve --demo` printed, once all are there."""
    text = "\n".join(lines)
    portals = dict(re.findall(r"^Portal of (.+?) \(\w+\): (http://\S+)$", text, re.M))
    checkout = re.search(r"^Demo checkout[^:]*: (http://\S+)$", text, re.M)
    settings = re.search(r"^Settings page[^:]*: (http://\S+)$", text, re.M)
    key = re.search(r"^Demo API key of \w+: (\S+)$", text, re.M)
    if not (portals and checkout and settings and key):
        return None
    return Demo(portals, checkout[1], settings[1], key[1])


@contextlib.contextmanager
def running_demo(data_dir: Path) -> Iterator[subprocess.Popen[str]]:
    environment = {
        **os.environ,
        "GATEWAY_DATA_DIR": str(data_dir),
        "GATEWAY_HTTP_HOST": "127.0.0.1",
        "GATEWAY_HTTP_PORT": str(free_port()),
        "GATEWAY_HTTPS_PORT": str(free_port()),
        "GATEWAY_OPS_PORT": str(free_port()),
        "GATEWAY_REDIRECT_HTTP": "false",
        "GATEWAY_WORKERS": "1",
    }
    process = subprocess.Popen(  # noqa: S603 (our own gateway command)
        [str(GATEWAY), "serve", "--demo"],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def wait_for_demo(process: subprocess.Popen[str]) -> Demo:
    assert process.stdout is not None
    lines: list[str] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + START_TIMEOUT
    while (demo := read_demo(lines)) is None:
        remaining = deadline - loop.time()
        line = await asyncio.wait_for(
            loop.run_in_executor(None, process.stdout.readline), remaining
        )
        if not line:
            raise SystemExit(f"the demo stopped before printing its URLs (exit {process.wait()})")
        lines.append(line.rstrip("\n"))
    return demo


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    executable = shutil.which("chromium")
    if executable is None:
        raise SystemExit("Chromium is missing: `make deps` installs Debian's chromium package")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


async def shoot(
    browser: Browser, url: str, path: Path, *, viewport: dict[str, int], locale: str = "en-GB"
) -> Any:
    """Open `url` in a fresh context and save a full-page screenshot; returns the page."""
    context = await browser.new_context(viewport=viewport, locale=locale)  # type: ignore[arg-type]
    page = await context.new_page()
    await page.goto(url, wait_until="networkidle")
    await page.screenshot(path=str(path), full_page=True)
    return page


async def take(demo: Demo, out: Path) -> list[Path]:
    await asyncio.to_thread(out.mkdir, parents=True, exist_ok=True)
    first = next(iter(demo.portals.values()))
    german = next((url for name, url in demo.portals.items() if "GmbH" in name), first)
    taken = []
    async with chromium() as browser:
        overview = out / "portal-overview.png"
        page = await shoot(browser, first, overview, viewport=DESKTOP)
        taken.append(overview)
        invoice_link = page.locator("a[href*='/invoices/']").first
        await invoice_link.click()
        await page.wait_for_load_state("networkidle")
        invoice = out / "portal-invoice.png"
        await page.screenshot(path=str(invoice), full_page=True)
        taken.append(invoice)
        phone = out / "portal-overview-phone-de.png"
        await shoot(browser, german, phone, viewport=PHONE, locale="de-DE")
        taken.append(phone)
        checkout = out / "checkout.png"
        await shoot(browser, demo.checkout, checkout, viewport=DESKTOP)
        taken.append(checkout)
        page = await shoot(browser, demo.settings, out / "settings.png", viewport=DESKTOP)
        await page.get_by_label("API key").fill(demo.api_key)
        await page.get_by_label("API key").press("Enter")
        await page.get_by_role("heading", name="Custom domains").wait_for()
        await page.get_by_role("link", name="Brand", exact=True).click()
        await page.wait_for_load_state("networkidle")
        await page.screenshot(path=str(out / "settings.png"), full_page=True)
        taken.append(out / "settings.png")
    return taken


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--out",
        type=Path,
        default=DOCS / "screenshots",
        help="where the PNG files go (default: docs/screenshots)",
    )
    arguments = parser.parse_args(argv)
    with (
        tempfile.TemporaryDirectory(prefix="gateway-screenshots-") as data_dir,
        running_demo(Path(data_dir)) as process,
    ):
        demo = await wait_for_demo(process)
        for path in await take(demo, arguments.out):
            print(path)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
