"""Settings-page test helpers: a browser-like session on app.localhost via the test client."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

APP_HOST = "app.localhost:8080"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(page: str) -> str:
    """The CSRF token of the first form on `page`."""
    found = _CSRF.search(page)
    assert found is not None, page[:2000]
    return found.group(1)


@dataclass
class Desk:
    """A signed-in settings page session driven through the aiohttp test client."""

    client: Any
    headers: dict[str, str]

    async def get(self, path: str, **options: Any) -> tuple[int, str]:
        response = await self.client.get(
            path, headers=self.headers, allow_redirects=False, **options
        )
        return response.status, await response.text()

    async def submit(
        self, page_path: str, action: str, fields: dict[str, Any], *, token: bool = True
    ) -> Any:
        """Open `page_path`, then POST `fields` to `action` with the page's CSRF token."""
        status, page = await self.get(page_path)
        assert status == 200, page[:2000]
        data = dict(fields)
        if token:
            data["csrf_token"] = csrf_token(page)
        return await self.client.post(
            action, data=data, headers=self.headers, allow_redirects=False
        )


async def sign_in(client: Any, key: str, *, language: str = "en") -> Any:
    """Open the sign-in form and send `key`; the response of the POST (cookies kept)."""
    headers = {"Host": APP_HOST, "Accept-Language": language}
    form = await client.get("/settings/sign-in", headers=headers)
    assert form.status == 200
    token = csrf_token(await form.text())
    return await client.post(
        "/settings/sign-in",
        data={"api_key": key, "csrf_token": token},
        headers=headers,
        allow_redirects=False,
    )


async def signed_in_desk(client: Any, key: str, *, language: str = "en") -> Desk:
    response = await sign_in(client, key, language=language)
    assert response.status == 303, await response.text()
    return Desk(client, {"Host": APP_HOST, "Accept-Language": language})
