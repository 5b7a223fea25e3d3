"""Caddy side by side (issue 17): two gateway workers against Caddy on both cores, same run.

Three rows, each a pair of runs alternating gateway and Caddy, all servers
running throughout and nothing pinned (two workers and Caddy's GOMAXPROCS=2
need both CPUs, which the load generators share):

- HTTPS keep-alive on the small page (wrk, 64 connections): the gateway's
  `/brand/icon` against Caddy's static `respond` of a body of the same size;
- new TLS connections (bench/handshakes.py, `GET /healthz`, one request per
  connection) with the tenant's name as SNI on both;
- a reverse-proxy route (`GATEWAY_UPSTREAMS`) against Caddy's `reverse_proxy`,
  HTTPS keep-alive, both forwarding to one bench/upstream.py process.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from pathlib import Path

from bench.caddy import CaddySite, caddy_version, start_caddy
from bench.load import run_wrk
from bench.measure import Pace, handshake_rate, keep_alive_rate, log, paired
from bench.processes import ROOT, Server, _wait_for, free_port, running, start_gateway
from bench.report import Row
from bench.scenarios_scale import wait_until_served

PROXY_PREFIX = "/upstream"
CONNECTIONS = 64


def start_upstream(directory: Path) -> Server:
    """bench/upstream.py on a free port, its own process, not pinned."""
    port = free_port()
    log_path = directory / "upstream.log"
    log_file = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.upstream", "--port", str(port)],
        stdin=subprocess.DEVNULL,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )
    log_file.close()
    _wait_for(process, log_path, "ready")
    return Server(process, log_path, {"port": port})


def caddy_scenarios(
    work: Path,
    pace: Pace,
    values: dict[str, float],
    notes: list[str],
    *,
    database_url: str,
    host: str,
    icon: bytes,
    kek: bytes,
) -> None:
    """Fills `caddy_*` values (see `caddy_rows`); needs work/baseline-{cert,key}.pem for `host`."""
    directory = work / "caddy"
    directory.mkdir(exist_ok=True)
    names_file = directory / "names.txt"
    names_file.write_text(host)
    with contextlib.ExitStack() as servers:
        upstream = servers.enter_context(running(start_upstream(directory)))
        site = CaddySite(
            cert_file=work / "baseline-cert.pem",
            key_file=work / "baseline-key.pem",
            body=icon,
            content_type="image/png",
            upstream_port=upstream.ports["port"],
        )
        caddy = servers.enter_context(running(start_caddy(site, directory=directory)))
        gateway = servers.enter_context(
            running(
                start_gateway(
                    database_url=database_url,
                    kek=kek,
                    data_dir=work / "gateway-caddy",
                    log_path=work / "gateway-caddy.log",
                    workers=2,
                    extra={
                        "GATEWAY_UPSTREAMS": f"{PROXY_PREFIX}=http://127.0.0.1:{upstream.ports['port']}"
                    },
                )
            )
        )
        # Both workers have loaded the host index once the name is served on a few connections.
        for _ in range(4):
            wait_until_served(gateway.ports["https"], host, time.monotonic())
        ours = f"https://{host}:{gateway.ports['https']}"
        theirs = {
            "static": f"https://{host}:{caddy.ports['static']}",
            "proxy": f"https://{host}:{caddy.ports['proxy']}",
        }
        _keep_alive_rows(pace, values, ours, theirs)
        log("new TLS connections, 2 gateway workers vs Caddy (GOMAXPROCS=2), nothing pinned")
        handshake_rate(gateway.ports["https"], names_file, 2.0, None)
        handshake_rate(caddy.ports["static"], names_file, 2.0, None)
        _record(
            values,
            "caddy_handshakes",
            paired(
                pace,
                lambda: handshake_rate(gateway.ports["https"], names_file, pace.seconds, None),
                lambda: handshake_rate(caddy.ports["static"], names_file, pace.seconds, None),
            ),
        )
    notes.append(
        f"Caddy rows: Caddy {caddy_version()} (Debian) with GOMAXPROCS=2 against "
        "`gateway serve --workers 2`; servers, wrk and the handshake client share both CPUs "
        "(nothing pinned). Caddy's static `respond` returns as many bytes as the icon (a JSON "
        "config holds text only); both proxies forward to one bench/upstream.py process."
    )


def _keep_alive_rows(
    pace: Pace, values: dict[str, float], ours: str, theirs: dict[str, str]
) -> None:
    small_ours, small_theirs = f"{ours}/brand/icon", f"{theirs['static']}/brand/icon"
    proxy_ours, proxy_theirs = f"{ours}{PROXY_PREFIX}", f"{theirs['proxy']}{PROXY_PREFIX}"
    for url in (small_ours, small_theirs, proxy_ours, proxy_theirs):
        run_wrk(url, connections=CONNECTIONS, seconds=min(2.0, pace.seconds))
    log("small page, HTTPS keep-alive, 64 connections: 2 gateway workers vs Caddy")
    _record(
        values,
        "caddy_https",
        paired(
            pace,
            keep_alive_rate(pace, small_ours, CONNECTIONS, None),
            keep_alive_rate(pace, small_theirs, CONNECTIONS, None),
        ),
    )
    log("reverse-proxy route, HTTPS keep-alive, 64 connections: 2 gateway workers vs Caddy")
    _record(
        values,
        "caddy_proxy",
        paired(
            pace,
            keep_alive_rate(pace, proxy_ours, CONNECTIONS, None),
            keep_alive_rate(pace, proxy_theirs, CONNECTIONS, None),
        ),
    )


def _record(values: dict[str, float], name: str, found: tuple[float, float, float]) -> None:
    values[f"{name}_gateway"], values[f"{name}_caddy"], values[f"ratio_{name}"] = found


def caddy_rows(values: dict[str, float]) -> list[Row]:
    """The rows of the Caddy scenarios, when they ran."""
    if "ratio_caddy_https" not in values:
        return []
    rows = (
        ("caddy_handshakes", "2 workers vs Caddy: new TLS connections/s", 1.0),
        ("caddy_https", "2 workers vs Caddy: small page, HTTPS keep-alive, 64 conn. (req/s)", 0.4),
        ("caddy_proxy", "2 workers vs Caddy: reverse-proxy route, HTTPS keep-alive (req/s)", 0.4),
    )
    return [
        Row.compared(
            scenario,
            values[f"{name}_gateway"],
            values[f"{name}_caddy"],
            at_least=goal,
            ratio=values[f"ratio_{name}"],
        )
        for name, scenario, goal in rows
    ]
