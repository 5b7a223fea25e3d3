"""The reverse-proxy rows' upstream: a minimal HTTP/1.1 server answering each request with one body.

Plain asyncio on uvloop, no framework: it parses only what a proxy sends
(request heads, keep-alive, optional Content-Length bodies, which it skips),
so the upstream costs far less than either proxy in front of it and the
rows compare the proxies, not the upstream. Runs as its own process:
`python -m bench.upstream --port P [--body-file B]`; prints `ready` once
listening.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from pathlib import Path
from typing import cast

import uvloop

DEFAULT_BODY = b"upstream ok\n"
MAX_HEAD_BYTES = 65536


def response_bytes(body: bytes, content_type: str) -> bytes:
    head = f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode("ascii") + body


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return 0


class FixedResponder(asyncio.Protocol):
    """One connection: answers each complete request with the fixed response, in order."""

    def __init__(self, response: bytes) -> None:
        self.response = response
        self.buffer = b""
        self.skip = 0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCP transport is not an asyncio.Transport subclass, but has its methods.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        self.buffer += data
        answers = 0
        while True:
            if self.skip:
                taken = min(self.skip, len(self.buffer))
                self.buffer, self.skip = self.buffer[taken:], self.skip - taken
                if self.skip:
                    break
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > MAX_HEAD_BYTES:
                    self.transport.close()
                    return
                break
            head, self.buffer = self.buffer[:end], self.buffer[end + 4 :]
            self.skip = _content_length(head)
            answers += 1
        if answers:
            self.transport.write(self.response * answers)


async def serve(port: int, response: bytes) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: FixedResponder(response), "127.0.0.1", port, backlog=1024
    )
    print("ready", flush=True)
    stop = asyncio.Event()
    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, stop.set)
    await stop.wait()
    server.close()
    await server.wait_closed()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--body-file", type=Path)
    parser.add_argument("--content-type", default="text/plain")
    arguments = parser.parse_args()
    body = arguments.body_file.read_bytes() if arguments.body_file else DEFAULT_BODY
    uvloop.run(serve(arguments.port, response_bytes(body, arguments.content_type)))


if __name__ == "__main__":
    main()
