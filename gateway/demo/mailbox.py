"""The demo's mail server: aiosmtpd on loopback, writing what it receives to an mbox file.

`make run` has no mail server of its own to send customers' mail to, so unless the
operator configured one (GATEWAY_SMTP_HOST), `serve --demo` runs this one in its
own process and points the gateway at it; the mails land in
`<data dir>/demo-mail.mbox`, kept across runs (any mail client opens an mbox file,
and it is plain text).
"""

from __future__ import annotations

import asyncio
import logging
import mailbox
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from gateway.settings import Settings

logger = logging.getLogger(__name__)

MBOX_NAME = "demo-mail.mbox"


@dataclass
class DemoMailbox:
    """An SMTP server on 127.0.0.1:`port` appending each message to `path`; `close()` stops it."""

    server: asyncio.Server
    port: int
    path: Path

    def settings_for(self, settings: Settings) -> Settings:
        return replace(
            settings,
            smtp_host="127.0.0.1",
            smtp_port=self.port,
            smtp_security="none",
            smtp_username=None,
            smtp_password=None,
        )

    async def close(self) -> None:
        self.server.close()
        await self.server.wait_closed()


class _MboxWriter:
    """aiosmtpd handler: every accepted message goes to the end of the mbox file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content: bytes = envelope.original_content or b""
        await asyncio.to_thread(self._append, content)
        return "250 OK"

    def _append(self, content: bytes) -> None:
        box = mailbox.mbox(self.path)
        try:
            box.lock()
            box.add(content)
            box.flush()
        finally:
            box.unlock()
            box.close()


async def start_demo_mailbox(data_dir: Path, *, port: int = 0) -> DemoMailbox | None:
    """Serve SMTP on 127.0.0.1:`port` (0: any free port), or None if aiosmtpd is missing."""
    try:
        from aiosmtpd.smtp import SMTP
    except ImportError:
        logger.warning("aiosmtpd is not installed: the demo sends no customer mail")
        return None
    path = data_dir / MBOX_NAME
    handler = _MboxWriter(path)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="demo-mail.localhost", loop=loop), "127.0.0.1", port
    )
    bound = server.sockets[0].getsockname()[1]
    return DemoMailbox(server=server, port=bound, path=path)
