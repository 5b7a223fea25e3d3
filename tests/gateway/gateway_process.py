"""Real `gateway serve` processes on free 127.0.0.1 ports, for tests that send them signals.

A test that stops a gateway the way ops do (SIGTERM) or runs several of them
behind a load balancer needs separate processes: `gateway_environment` makes
the environment of one on free ports and `gateway_process` runs it until the
block ends (or the test has stopped it), failing if it does not start.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from tests.fixtures.pebble import free_port

START_TIMEOUT = 120.0
STOP_TIMEOUT = 60.0


@dataclass(frozen=True)
class Ports:
    """Where one gateway process listens."""

    http: int
    https: int
    ops: int


@dataclass(frozen=True)
class GatewayProcess:
    """One `gateway serve --workers 1` process and its ports."""

    process: asyncio.subprocess.Process
    http_port: int
    https_port: int
    ops_port: int

    async def stop(self) -> float:
        """SIGTERM, then the seconds until the process exited (fails after STOP_TIMEOUT)."""
        loop = asyncio.get_running_loop()
        began = loop.time()
        self.process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(STOP_TIMEOUT):
            await self.process.wait()
        return loop.time() - began


def inherited_environment() -> dict[str, str]:
    """This process's environment without the gateway's own settings, for a child gateway."""
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("GATEWAY_") and name != "DATABASE_URL"
    }


def gateway_environment(
    database_url: str, kek: str, data_dir: Path, **settings: str
) -> tuple[dict[str, str], Ports]:
    """The environment of one gateway on free ports, with GATEWAY_<NAME> `settings` added."""
    ports = Ports(http=free_port(), https=free_port(), ops=free_port())
    environment = inherited_environment()
    environment.update(
        DATABASE_URL=database_url,
        # Processes of one test share the key-encryption key: any opens what another sealed.
        GATEWAY_KEK=kek,
        GATEWAY_DATA_DIR=str(data_dir),
        GATEWAY_HTTP_PORT=str(ports.http),
        GATEWAY_HTTPS_PORT=str(ports.https),
        GATEWAY_OPS_PORT=str(ports.ops),
        GATEWAY_REDIRECT_HTTP="false",
        GATEWAY_SHUTDOWN_TIMEOUT="5",
    )
    environment.update({f"GATEWAY_{name.upper()}": value for name, value in settings.items()})
    return environment, ports


@contextlib.asynccontextmanager
async def gateway_process(
    environment: dict[str, str], ports: Ports, *, stderr: Path | None = None
) -> AsyncIterator[GatewayProcess]:
    """`python -m gateway serve --workers 1` until the block ends; its log goes to `stderr`."""
    with contextlib.ExitStack() as files:
        log = files.enter_context(stderr.open("ab")) if stderr is not None else None
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "gateway",
            "serve",
            "--workers",
            "1",
            env=environment,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=log,
        )
        assert process.stdout is not None
        try:
            async with asyncio.timeout(START_TIMEOUT):
                line = (await process.stdout.readline()).decode()
            expected = f"gateway listening on http://127.0.0.1:{ports.http}, https://"
            assert line.startswith(expected), line
            yield GatewayProcess(process, ports.http, ports.https, ports.ops)
        finally:
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)
                async with asyncio.timeout(STOP_TIMEOUT):
                    await process.wait()
