"""Processes under test: the gateway (`gateway serve`) and the baseline, pinned, seen via /proc.

Each is a separate process on loopback with its output in a log file. CPU
pinning (`os.sched_setaffinity` before exec) is inherited by every thread and
child, so a gateway pinned to CPU 0 renders its PDFs there too.
"""

from __future__ import annotations

import base64
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

START_TIMEOUT = 90.0
ROOT = Path(__file__).resolve().parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port(*, following: int = 0) -> int:
    """A free loopback port; with `following`, the next `following` ports are free too."""
    for _ in range(100):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if all(_is_free(port + offset) for offset in range(1, following + 1)):
            return port
    raise RuntimeError("no free loopback port range found")


def _is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def pinned(cpus: Sequence[int] | None) -> Callable[[], None] | None:
    """A preexec_fn pinning the child (and all it starts) to `cpus`; None: no pinning."""
    if not cpus:
        return None
    chosen = set(cpus)

    def pin() -> None:
        os.sched_setaffinity(0, chosen)

    return pin


@dataclass
class Server:
    """A started server process, its ports and its log."""

    process: subprocess.Popen[bytes]
    log_path: Path
    ports: dict[str, int] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.process.pid

    def worker_pids(self) -> list[int]:
        """The process itself, or its worker processes when it supervises some."""
        children: list[int] = []
        for task in Path(f"/proc/{self.pid}/task").iterdir():
            text = (task / "children").read_text().split()
            children.extend(int(pid) for pid in text)
        workers = [pid for pid in children if _is_python(pid)]
        return workers or [self.pid]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def _is_python(pid: int) -> bool:
    with contextlib.suppress(OSError):
        return b"python" in Path(f"/proc/{pid}/cmdline").read_bytes()
    return False


def rss_mb(pid: int) -> float:
    """Resident memory of `pid` in MB (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def cpu_seconds(pids: Sequence[int]) -> float:
    """User plus system CPU time used so far by `pids` (threads included)."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


def _wait_for(process: subprocess.Popen[bytes], log_path: Path, ready: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"exited at start:\n{log_path.read_text(errors='replace')[-3000:]}")
        if ready in log_path.read_text(errors="replace"):
            return
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"not ready in {START_TIMEOUT} s:\n{log_path.read_text()[-3000:]}")


def start_gateway(
    *,
    database_url: str,
    kek: bytes,
    data_dir: Path,
    log_path: Path,
    workers: int = 1,
    cpus: Sequence[int] | None = None,
    extra: Mapping[str, str] | None = None,
    ports: Mapping[str, int] | None = None,
) -> Server:
    """`gateway serve --workers N` on free loopback ports (plain HTTP not redirected)."""
    # Worker I serves its ops site on the ops port + I.
    chosen = {
        "http": free_port(),
        "https": free_port(),
        "ops": free_port(following=workers),
        **(ports or {}),
    }
    environment = {
        **os.environ,
        "DATABASE_URL": database_url,
        "GATEWAY_KEK": base64.b64encode(kek).decode(),
        "GATEWAY_DATA_DIR": str(data_dir),
        "GATEWAY_HTTP_PORT": str(chosen["http"]),
        "GATEWAY_HTTPS_PORT": str(chosen["https"]),
        "GATEWAY_OPS_PORT": str(chosen["ops"]),
        # As `make run`: the keep-alive rows measure pages, not a 308 to HTTPS.
        "GATEWAY_REDIRECT_HTTP": "false",
        # bench.seed.DOMAIN_SUFFIX: the internal CA root must permit the seeded domains.
        "GATEWAY_INTERNAL_CA_NAMES": "bench.test",
        **(extra or {}),
    }
    log = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", "serve", "--workers", str(workers)],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=environment,
        cwd=ROOT,
        preexec_fn=pinned(cpus),
    )
    log.close()
    _wait_for(process, log_path, "gateway listening on")
    return Server(process, log_path, chosen)


def start_baseline(
    *,
    log_path: Path,
    body_file: Path,
    content_type: str,
    cpus: Sequence[int] | None = None,
    cert_file: Path | None = None,
    key_file: Path | None = None,
) -> Server:
    """The plain aiohttp baseline (HTTPS when given a certificate) on a free port."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "bench.baseline",
        "--port",
        str(port),
        "--body-file",
        str(body_file),
        "--content-type",
        content_type,
    ]
    if cert_file is not None and key_file is not None:
        command += ["--cert-file", str(cert_file), "--key-file", str(key_file)]
    log = log_path.open("wb")
    process = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
        preexec_fn=pinned(cpus),
    )
    log.close()
    _wait_for(process, log_path, "ready")
    return Server(process, log_path, {"port": port})


@contextlib.contextmanager
def running(server: Server) -> Iterator[Server]:
    try:
        yield server
    finally:
        server.stop()
