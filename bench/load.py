"""Keep-alive load with wrk: requests per second and latency percentiles of one bounded run.

wrk takes its Host header and its TLS SNI from the URL, and tenant hosts such
as `bench.localhost` need not resolve on this machine: a small Lua script
replaces wrk's resolver so every connection goes to 127.0.0.1 while the URL's
host name is still sent as Host and SNI.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.processes import pinned

RESOLVE_TO_LOOPBACK = """
function wrk.resolve(host, service)
  wrk.addrs = wrk.lookup("127.0.0.1", service)
end
"""
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


@dataclass(frozen=True)
class WrkResult:
    requests_per_second: float
    percentiles_ms: dict[int, float]
    requests: int
    bad_responses: int
    socket_errors: int

    @property
    def p99_ms(self) -> float:
        return self.percentiles_ms.get(99, float("inf"))


def wrk_binary() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise RuntimeError("wrk is not installed (Debian package wrk; `make bench` installs it)")
    return path


def run_wrk(
    url: str,
    *,
    connections: int,
    seconds: float,
    threads: int = 2,
    cpus: Sequence[int] | None = None,
) -> WrkResult:
    """One wrk run against `url` (keep-alive), all connections to 127.0.0.1."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(RESOLVE_TO_LOOPBACK)
    try:
        completed = subprocess.run(
            [
                wrk_binary(),
                f"-t{threads}",
                f"-c{connections}",
                f"-d{max(1, round(seconds))}s",
                "--timeout",
                "10s",
                "--latency",
                "-s",
                script.name,
                url,
            ],
            check=True,
            capture_output=True,
            text=True,
            preexec_fn=pinned(cpus),
        )
    finally:
        Path(script.name).unlink()
    return parse_wrk(completed.stdout)


def parse_wrk(output: str) -> WrkResult:
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in", output)
    if rate is None or total is None:
        raise RuntimeError(f"unexpected wrk output:\n{output}")
    percentiles = {
        int(match[1]): float(match[2]) * _UNITS[match[3]]
        for match in re.finditer(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.M)
    }
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    return WrkResult(
        requests_per_second=float(rate[1]),
        percentiles_ms=percentiles,
        requests=int(total[1]),
        bad_responses=int(bad[1]) if bad else 0,
        socket_errors=sum(int(value) for value in errors.groups()) if errors else 0,
    )
