"""Scale rows (issue 17): 1,000,000 stored domains, and a flood of unknown SNI names.

- Start-up: from starting `gateway serve` (one worker, pinned to the server
  CPU) until it answers HTTPS for a stored name with 200; the median of a
  few starts, at the run's largest size (100,000 by default) and at
  BENCH_SCALE_DOMAINS (1,000,000 by default, seeded with COPY by bench/seed.py).
- RSS of that worker once every hot name has been served, at both sizes.
- Unknown-SNI flood, at the large size: bench/flood.py's processes send
  ClientHellos for random names nobody stores while bench/handshakes.py
  measures new connections to stored names; paired against the same
  measurement without the flood. Refusals per second come from the flood.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from bench import seed
from bench.measure import Pace, handshake_rate, log, median, paired
from bench.processes import ROOT, cpu_seconds, rss_mb, running, start_gateway
from bench.report import Row
from gateway.database.pool import create_pool
from kernel.sealing import Sealer

SCALE_DOMAINS = int(os.environ.get("BENCH_SCALE_DOMAINS", "1000000"))
FLOOD_PROCESSES = 4
STARTS = 3
SERVE_DEADLINE = 180.0


@dataclass(frozen=True)
class Stored:
    """A database of `size` stored domains and its hot names."""

    size: int
    url: str
    hot: list[str]


def seed_scale_database(admin_url: str, sealer: Sealer, base_domain: str) -> Stored:
    """A database of SCALE_DOMAINS domains beside the run's others (COPY, bench/seed.py)."""

    async def prepare() -> list[str]:
        name = f"bench_{SCALE_DOMAINS}"
        admin = await asyncpg.connect(admin_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        pool = await create_pool(url, min_size=1, max_size=4)
        try:
            return await seed.seed_domains(pool, sealer, SCALE_DOMAINS, base_domain=base_domain)
        finally:
            await pool.close()

    url = admin_url.rsplit("/", 1)[0] + f"/bench_{SCALE_DOMAINS}"
    started = time.monotonic()
    hot = asyncio.run(prepare())
    log(f"database bench_{SCALE_DOMAINS}: seeded in {time.monotonic() - started:.1f} s")
    return Stored(SCALE_DOMAINS, url, hot)


def https_status(port: int, name: str) -> int:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=name) as tls,
    ):
        tls.sendall(f"GET /healthz HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n".encode())
        return int(tls.recv(64).split(b" ", 2)[1])


def wait_until_served(port: int, name: str, started: float) -> float:
    """Seconds from `started` until `name` is answered with 200 over HTTPS."""
    while True:
        try:
            if https_status(port, name) == 200:
                return time.monotonic() - started
        except (OSError, ValueError, IndexError):
            pass
        if time.monotonic() - started > SERVE_DEADLINE:
            raise RuntimeError(f"{name} not served within {SERVE_DEADLINE:.0f} s of the start")
        time.sleep(0.02)


def scale_scenarios(
    work: Path,
    pace: Pace,
    values: dict[str, float],
    notes: list[str],
    *,
    baseline: Stored,
    large: Stored,
    kek: bytes,
) -> None:
    """Fills `startup_*`, `scale_rss_*` and `flood_*` values (see `scale_rows`)."""
    for stored in (baseline, large):
        log(f"start-up and RSS of one worker, {stored.size:,} domains stored")
        startups = []
        for index in range(STARTS):
            started = time.monotonic()
            server = start_gateway(
                database_url=stored.url,
                kek=kek,
                data_dir=work / f"gateway-scale-{stored.size}",
                log_path=work / f"gateway-scale-{stored.size}.log",
                cpus=pace.server_cpus,
            )
            with running(server):
                port = server.ports["https"]
                startups.append(wait_until_served(port, stored.hot[0], started))
                log(f"  start {index + 1}: {startups[-1]:.2f} s")
                if index < STARTS - 1:
                    continue
                for name in stored.hot:
                    if https_status(port, name) != 200:
                        raise RuntimeError(f"{name} not served")
                values[f"scale_rss_{stored.size}"] = max(map(rss_mb, server.worker_pids()))
                log(f"  worker RSS {values[f'scale_rss_{stored.size}']:.0f} MB")
                if stored is large:
                    _flood_rows(work, pace, values, (server.worker_pids(), port), stored.hot)
        values[f"startup_{stored.size}"] = median(startups)
    values["scale_baseline_size"] = baseline.size
    values["scale_size"] = large.size
    notes.append(
        "Scale rows: one worker pinned to the server CPU; the flood (bench/flood.py, "
        f"{FLOOD_PROCESSES} processes) and the handshake client share the load CPU, so during "
        "the flood the client has less CPU too. The gateway worker was busy "
        f"{values['flood_server_busy_quiet']:.0%} of the time without the flood and "
        f"{values['flood_server_busy_flooded']:.0%} with it."
    )


def _flood_rows(
    work: Path,
    pace: Pace,
    values: dict[str, float],
    server: tuple[list[int], int],
    hot: list[str],
) -> None:
    pids, port = server
    names_file = work / "scale-hot.txt"
    names_file.write_text("\n".join(hot))
    refusals: list[float] = []
    busy = {"quiet": 0.0, "flooded": 0.0}

    def quiet() -> float:
        before = cpu_seconds(pids)
        rate = handshake_rate(port, names_file, pace.seconds, pace.load_cpus)
        busy["quiet"] += cpu_seconds(pids) - before
        return rate

    def flooded() -> float:
        flood = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.flood",
                "--port",
                str(port),
                "--seconds",
                str(pace.seconds + 2),
                "--processes",
                str(FLOOD_PROCESSES),
                "--cpus",
                ",".join(map(str, pace.load_cpus)),
            ],
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        time.sleep(1.0)  # the flood is under way before the measurement starts
        before = cpu_seconds(pids)
        rate = handshake_rate(port, names_file, pace.seconds, pace.load_cpus)
        busy["flooded"] += cpu_seconds(pids) - before
        output, _ = flood.communicate(timeout=pace.seconds + 60)
        result = json.loads(output)
        refusals.append(result["refused_per_second"])
        log(f"  flood: {result['refused_per_second']:,.0f} refusals/s, {result['other']} other")
        return rate

    log(f"known-name handshakes during an unknown-SNI flood ({FLOOD_PROCESSES} processes) vs none")
    quiet()
    found = paired(pace, flooded, quiet)
    values["flood_handshakes"], values["quiet_handshakes"], values["ratio_flood"] = found
    values["flood_refusals"] = median(refusals)
    # The handshake client and the flood share the load CPU: the server's own CPU use says
    # whether the server or the clients set the pace (1.0 = the server CPU was saturated).
    for key, seconds in busy.items():
        values[f"flood_server_busy_{key}"] = seconds / (pace.seconds * pace.runs)


def scale_rows(values: dict[str, float]) -> list[Row]:
    """The rows of the scale scenarios, when they ran."""
    if "scale_size" not in values:
        return []
    size, base = int(values["scale_size"]), int(values["scale_baseline_size"])
    return [
        Row.bounded(
            f"{size:,} domains stored: one worker's start until HTTPS serves a stored name (s)",
            values[f"startup_{size}"],
            10.0,
        ),
        Row.grown(
            f"RSS of one worker, {size:,} domains stored vs {base:,} (MB)",
            values[f"scale_rss_{size}"],
            values[f"scale_rss_{base}"],
            at_most=600.0,
        ),
        Row(
            f"unknown-SNI flood ({FLOOD_PROCESSES} processes), {size:,} stored: refusals/s",
            f"{values['flood_refusals']:,.0f}",
            "-",
            "-",
            "(measured)",
            True,
        ),
        Row.compared(
            "known-name new TLS connections/s during the flood vs without",
            values["flood_handshakes"],
            values["quiet_handshakes"],
            at_least=0.7,
            ratio=values["ratio_flood"],
        ),
    ]
