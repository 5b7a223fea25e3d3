"""`make bench`: every row of the benchmark table, gateway against its baseline in the same run.

Starts an embedded PostgreSQL in a temporary directory, seeds it (bench/seed.py),
runs the gateway (`gateway serve`) and the plain aiohttp baseline as separate
processes on loopback, drives them with wrk and bench/handshakes.py, prints one
table and writes bench/results.md. Each figure is the median of RUNS bounded
runs of BENCH_SECONDS seconds (default 5). The server under test is pinned to
the first CPU, the load generators to the others (see results.md).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import os
import shutil
import socket
import ssl
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402

from bench import (  # noqa: E402
    measure,
    portal_rows,
    seed,
)
from bench.load import WrkResult, run_wrk  # noqa: E402
from bench.measure import Pace, log, median  # noqa: E402
from bench.processes import (  # noqa: E402
    Server,
    cpu_seconds,
    rss_mb,
    running,
    start_baseline,
    start_gateway,
)
from bench.renewals import renewal_rows, renewal_scenario  # noqa: E402
from bench.report import Row, machine_lines, render_markdown, render_table  # noqa: E402
from bench.scenarios_caddy import caddy_rows, caddy_scenarios  # noqa: E402
from bench.scenarios_scale import Stored, scale_rows, scale_scenarios, seed_scale_database  # noqa: E402
from certs.internal_ca import InternalCA  # noqa: E402
from gateway.database.embedded import EmbeddedPostgres  # noqa: E402
from gateway.database.pool import create_pool  # noqa: E402
from gateway.tenants.api_keys import create_api_key  # noqa: E402
from kernel.sealing import Sealer  # noqa: E402

SECONDS = float(os.environ.get("BENCH_SECONDS", "5"))
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
SIZES = tuple(int(size) for size in os.environ.get("BENCH_SIZES", "1,10000,100000").split(","))
# BENCH_ONLY=caddy,scale runs only those scenario groups and prints their rows (results.md is
# written by full runs only). Groups: small, handshakes, pages, workers, cname, caddy, scale.
ONLY = {name for name in os.environ.get("BENCH_ONLY", "").split(",") if name}
BASE_DOMAIN = "localhost"
PDF_LOAD = 20
RESULTS = ROOT / "bench" / "results.md"

_CPUS = sorted(os.sched_getaffinity(0))
SERVER_CPUS = _CPUS[:1]
LOAD_CPUS = _CPUS[1:] or _CPUS


# --- database ---------------------------------------------------------------------------------


@dataclass
class Databases:
    server: EmbeddedPostgres
    admin_url: str
    urls: dict[int, str]
    hot: dict[int, list[str]]
    portal: seed.PortalSeed
    api_key: str
    version: str


def with_database(url: str, name: str) -> str:
    return url.rsplit("/", 1)[0] + "/" + name


async def _prepare(admin_url: str, sealer: Sealer, sizes: Sequence[int]) -> tuple[Any, ...]:
    admin = await asyncpg.connect(admin_url)
    version = await admin.fetchval("SHOW server_version")
    urls: dict[int, str] = {}
    hot: dict[int, list[str]] = {}
    portal: seed.PortalSeed | None = None
    api_key = ""
    for size in sizes:
        name = f"bench_{size}"
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await admin.execute(f'CREATE DATABASE "{name}"')
        urls[size] = with_database(admin_url, name)
        pool = await create_pool(urls[size], min_size=1, max_size=4)
        try:
            started = time.monotonic()
            if size == SIZES[0]:
                portal = await seed.seed_portal(pool, sealer, BASE_DOMAIN)
                _, api_key = await create_api_key(pool, tenant_id=portal.tenant_id)
            hot[size] = await seed.seed_domains(pool, sealer, size, base_domain=BASE_DOMAIN)
            log(f"database {name}: {size} domains seeded in {time.monotonic() - started:.1f} s")
        finally:
            await pool.close()
    await admin.close()
    assert portal is not None
    return urls, hot, portal, api_key, version


def prepare_databases(directory: Path, sealer: Sealer, sizes: Sequence[int] = SIZES) -> Databases:
    # Its own temporary directory (as the tests do): as root, the server runs as another user.
    server = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="gateway-bench-pg-")))
    admin_url = server.start()
    try:
        urls, hot, portal, api_key, version = asyncio.run(_prepare(admin_url, sealer, sizes))
    except BaseException:
        server.stop()
        shutil.rmtree(server.directory, ignore_errors=True)
        raise
    return Databases(server, admin_url, urls, hot, portal, api_key, version)


def reset_pdfs(url: str, portal: seed.PortalSeed) -> None:
    async def reset() -> None:
        connection = await asyncpg.connect(url)
        try:
            await connection.execute(
                "UPDATE invoices SET pdf = NULL WHERE tenant_id = $1 AND customer_id = $2",
                portal.tenant_id,
                portal.load_customer_id,
            )
        finally:
            await connection.close()

    asyncio.run(reset())


# --- clients ----------------------------------------------------------------------------------


def http_get(port: int, host: str, path: str, timeout: float = 60.0) -> tuple[int, bytes, float]:
    """One GET on a new plain connection; status, body and seconds taken."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        started = time.perf_counter()
        connection.request("GET", path, headers={"Host": f"{host}:{port}"})
        response = connection.getresponse()
        body = response.read()
        return response.status, body, time.perf_counter() - started
    finally:
        connection.close()


def api_call(port: int, key: str, method: str, path: str, body: Any = None) -> Any:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request(
            method,
            "/api/v1" + path,
            body=None if body is None else json.dumps(body),
            headers={
                "Host": f"api.{BASE_DOMAIN}:{port}",
                "Authorization": f"Bearer {key}",
                "Content-Type": "application/json",
            },
        )
        response = connection.getresponse()
        payload = response.read()
        if response.status >= 400:
            raise RuntimeError(f"{method} {path}: {response.status} {payload[:300]!r}")
        return json.loads(payload)
    finally:
        connection.close()


def https_status(port: int, context: ssl.SSLContext, name: str, path: str) -> int:
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=name) as tls,
    ):
        tls.sendall(f"GET {path} HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n".encode())
        return int(tls.recv(64).split(b" ", 2)[1])


def handshakes(port: int, names_file: Path, seconds: float, *, warm: bool = False) -> float:
    """New TLS connections per second from bench/handshakes.py (a separate process)."""
    rate = measure.handshake_rate(port, names_file, seconds, LOAD_CPUS)
    if not warm:
        log(f"  {rate:,.0f} connections/s")
    return rate


def warm_names(port: int, names: list[str]) -> None:
    """Open one connection per name, so every hot context is loaded before measuring."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    for name in names:
        status = https_status(port, context, name, "/healthz")
        if status != 200:
            raise RuntimeError(f"warm-up of {name}: HTTP {status}")


def wrk_run(url: str, connections: int, cpus: Sequence[int] | None) -> WrkResult:
    result = run_wrk(url, connections=connections, seconds=SECONDS, cpus=cpus)
    if result.bad_responses or result.requests == 0:
        raise RuntimeError(f"{url}: {result.bad_responses} bad responses")
    return result


def warm(url: str, connections: int, cpus: Sequence[int] | None) -> None:
    run_wrk(url, connections=connections, seconds=min(2.0, SECONDS), cpus=cpus)


def paired(
    measure_gateway: Callable[[], float], measure_baseline: Callable[[], float]
) -> tuple[float, float, float]:
    """RUNS pairs back to back, alternating which goes first (bench.measure.paired): the
    median gateway and baseline figures, and the median of the per-pair ratios."""
    return measure.paired(pace(), measure_gateway, measure_baseline)


def rate_of(url: str, connections: int, cpus: Sequence[int] | None) -> Callable[[], float]:
    def measure() -> float:
        return wrk_run(url, connections, cpus).requests_per_second

    return measure


def rate_and_cpu(
    url: str, cpus: Sequence[int] | None, server: Any, cpu_per_request: list[float]
) -> Callable[[], float]:
    """Like rate_of (64 connections); also appends the server's CPU microseconds per request,
    which moves much less than requests/s when other work shares the machine."""

    def measure() -> float:
        pids = server.worker_pids()
        before = cpu_seconds(pids)
        result = wrk_run(url, 64, cpus)
        cpu_per_request.append((cpu_seconds(pids) - before) / result.requests * 1e6)
        return result.requests_per_second

    return measure


# --- scenarios --------------------------------------------------------------------------------


@dataclass
class Figures:
    values: dict[str, float]
    notes: list[str]

    def record(self, name: str, gateway_key: str, baseline_key: str, found: Any) -> None:
        gateway, baseline, ratio = found
        self.values[gateway_key] = gateway
        self.values[baseline_key] = baseline
        self.values[f"ratio_{name}"] = ratio


def small_page_scenarios(
    work: Path, figures: Figures, icon: bytes, db: Databases, kek: bytes
) -> None:
    """The small page against plain aiohttp, HTTP then HTTPS; all three servers run throughout."""
    body = work / "icon.png"
    body.write_bytes(icon)
    cert_file, key_file = work / "baseline-cert.pem", work / "baseline-key.pem"
    host = db.portal.tenant_host
    with contextlib.ExitStack() as servers:
        plain = servers.enter_context(
            running(
                start_baseline(
                    log_path=work / "baseline-http.log",
                    body_file=body,
                    content_type="image/png",
                    cpus=SERVER_CPUS,
                )
            )
        )
        secure = servers.enter_context(
            running(
                start_baseline(
                    log_path=work / "baseline-https.log",
                    body_file=body,
                    content_type="image/png",
                    cpus=SERVER_CPUS,
                    cert_file=cert_file,
                    key_file=key_file,
                )
            )
        )
        gateway = servers.enter_context(
            running(
                start_gateway(
                    database_url=db.urls[SIZES[0]],
                    kek=kek,
                    data_dir=work / "gateway-small-page",
                    log_path=work / "gateway-small-page.log",
                    cpus=SERVER_CPUS,
                )
            )
        )
        status, _, _ = http_get(gateway.ports["http"], host, "/brand/icon")
        assert status == 200, status
        for scheme, baseline, port_name in (("http", plain, "http"), ("https", secure, "https")):
            log(
                f"small page (/brand/icon), {scheme.upper()} keep-alive, 64 connections: "
                "gateway vs plain aiohttp"
            )
            ours = f"{scheme}://{host}:{gateway.ports[port_name]}/brand/icon"
            theirs = f"{scheme}://{host}:{baseline.ports['port']}/brand/icon"
            warm(ours, 64, LOAD_CPUS)
            warm(theirs, 64, LOAD_CPUS)
            our_cpu: list[float] = []
            their_cpu: list[float] = []
            figures.record(
                scheme,
                f"gateway_{scheme}_rps",
                f"baseline_{scheme}_rps",
                paired(
                    rate_and_cpu(ours, LOAD_CPUS, gateway, our_cpu),
                    rate_and_cpu(theirs, LOAD_CPUS, baseline, their_cpu),
                ),
            )
            figures.values[f"gateway_{scheme}_cpu_us"] = median(our_cpu)
            figures.values[f"baseline_{scheme}_cpu_us"] = median(their_cpu)
            figures.notes.append(
                f"Small page over {scheme.upper()}, server CPU per request (median of runs): "
                f"gateway {median(our_cpu):.0f} us, plain aiohttp {median(their_cpu):.0f} us."
            )


def handshake_scenarios(work: Path, figures: Figures, db: Databases, kek: bytes) -> None:
    health = work / "health.json"
    health.write_bytes(b'{"status": "ok"}')
    cert_file, key_file = work / "baseline-cert.pem", work / "baseline-key.pem"
    names_file = work / f"hot-{SIZES[-1]}.txt"
    names_file.write_text("\n".join(db.hot[SIZES[-1]]))
    baseline = start_baseline(
        log_path=work / "baseline-handshakes.log",
        body_file=health,
        content_type="application/json",
        cpus=SERVER_CPUS,
        cert_file=cert_file,
        key_file=key_file,
    )
    baseline_busy: list[float] = []
    try:
        base_port = baseline.ports["port"]
        handshakes(base_port, names_file, 2.0, warm=True)
        for size in SIZES:
            hot = db.hot[size]
            hot_file = work / f"hot-{size}.txt"
            hot_file.write_text("\n".join(hot))
            log(
                f"new TLS connections, random SNI over {len(hot)} hot names, {size} stored: "
                "gateway vs one certificate"
            )
            with running(
                start_gateway(
                    database_url=db.urls[size],
                    kek=kek,
                    data_dir=work / f"gateway-{size}",
                    log_path=work / f"gateway-handshakes-{size}.log",
                    cpus=SERVER_CPUS,
                )
            ) as server:
                port = server.ports["https"]
                warm_names(port, hot)
                handshakes(port, hot_file, 2.0, warm=True)
                busy = _paired_handshakes(
                    figures,
                    size,
                    gateway=(server.pid, port, hot_file),
                    baseline=(baseline.pid, base_port, names_file),
                )
                figures.values[f"rss_{size}"] = rss_mb(server.pid)
                baseline_busy.append(busy["baseline"] / (SECONDS * RUNS))
                figures.notes.append(
                    f"Gateway handshake server ({size} domains) used "
                    f"{busy['gateway'] / (SECONDS * RUNS):.0%} of its CPU."
                )
                log(f"  worker RSS {figures.values[f'rss_{size}']:.0f} MB")
    finally:
        baseline.stop()
    figures.values["baseline_handshakes"] = median(
        [figures.values[f"baseline_handshakes_{size}"] for size in SIZES]
    )
    figures.notes.append(
        "Baseline handshake server used "
        + ", ".join(f"{share:.0%}" for share in baseline_busy)
        + " of its CPU during the runs paired with each size "
        "(100% means the server, not the client, was the limit)."
    )


def _paired_handshakes(
    figures: Figures,
    size: int,
    *,
    gateway: tuple[int, int, Path],
    baseline: tuple[int, int, Path],
) -> dict[str, float]:
    """Paired handshake runs; returns the CPU seconds each server used during them."""
    busy = {"gateway": 0.0, "baseline": 0.0}

    def timed(key: str, target: tuple[int, int, Path]) -> Callable[[], float]:
        pid, port, names = target

        def run() -> float:
            before = cpu_seconds([pid])
            rate = handshakes(port, names, SECONDS)
            busy[key] += cpu_seconds([pid]) - before
            return rate

        return run

    figures.record(
        f"handshakes_{size}",
        f"handshakes_{size}",
        f"baseline_handshakes_{size}",
        paired(timed("gateway", gateway), timed("baseline", baseline)),
    )
    return busy


def gateway_scenarios(work: Path, figures: Figures, db: Databases, kek: bytes) -> None:
    portal = db.portal
    host = portal.tenant_host
    server = start_gateway(
        database_url=db.urls[SIZES[0]],
        kek=kek,
        data_dir=work / "gateway-pages",
        log_path=work / "gateway-pages.log",
        cpus=SERVER_CPUS,
    )
    try:
        http_port = server.ports["http"]
        portal_path = f"/portal/{portal.customer_id}"
        portal_url = f"http://{host}:{http_port}{portal_path}"
        portal_overview_scenario(figures, db, server)

        log("invoice PDF, first render and cached download")
        pdf = f"{portal_path}/invoices/{{}}/pdf"
        status, _, cold = http_get(http_port, host, pdf.format(portal.invoice_ids[0]))
        assert status == 200, status
        figures.notes.append(
            f"The process's very first PDF took {cold * 1000:.0f} ms "
            "(the render process starts and WeasyPrint loads its fonts once); "
            "the row shows later ones."
        )
        firsts = []
        for invoice_id in portal.invoice_ids[1 : 1 + max(RUNS, 5)]:
            status, _, took = http_get(http_port, host, pdf.format(invoice_id))
            assert status == 200, status
            firsts.append(took * 1000)
        cached = []
        for _ in range(30):
            status, _, took = http_get(http_port, host, pdf.format(portal.invoice_ids[1]))
            cached.append(took * 1000)
        figures.values["pdf_first_ms"] = median(firsts)
        figures.values["pdf_cached_ms"] = median(cached)
        log(f"  first {median(firsts):.0f} ms, cached {median(cached):.1f} ms")

        log(f"portal overview p99 while {PDF_LOAD} PDFs render vs idle")
        renders = []

        def loaded_p99() -> float:
            reset_pdfs(db.urls[SIZES[0]], portal)
            with PdfLoad(http_port, host, portal) as rendered:
                result = wrk_run(portal_url, 32, LOAD_CPUS)
            renders.append(rendered())
            return result.p99_ms

        def idle_p99() -> float:
            return wrk_run(portal_url, 32, LOAD_CPUS).p99_ms

        figures.record(
            "portal_loaded", "portal_p99_loaded", "portal_p99_idle", paired(loaded_p99, idle_p99)
        )
        figures.notes.append(
            f"While the portal was loaded, {median(renders):.0f} PDFs rendered per run "
            f"({PDF_LOAD} always in flight)."
        )
    finally:
        server.stop()


def portal_overview_scenario(figures: Figures, db: Databases, server: Server) -> None:
    """The overview at 32 connections against the small page, its p99, and a cache miss's CPU."""
    portal, http_port = db.portal, server.ports["http"]
    host = portal.tenant_host
    icon_url = f"http://{host}:{http_port}/brand/icon"
    portal_path = f"/portal/{portal.customer_id}"
    portal_url = f"http://{host}:{http_port}{portal_path}"
    status, page, _ = http_get(http_port, host, portal_path)
    assert status == 200, (status, page[:300])
    log("portal overview at 32 connections vs the small page at 64, same gateway")
    warm(portal_url, 32, LOAD_CPUS)
    warm(icon_url, 64, LOAD_CPUS)
    p99s: list[float] = []

    def overview() -> float:
        result = wrk_run(portal_url, 32, LOAD_CPUS)
        p99s.append(result.p99_ms)
        return result.requests_per_second

    figures.record(
        "portal",
        "portal_rps",
        "small_page_rps",
        paired(overview, rate_of(icon_url, 64, LOAD_CPUS)),
    )
    figures.values["portal_p99"] = median(p99s)
    log(f"  portal p99 {figures.values['portal_p99']:.1f} ms")
    log("portal overview after a change: the version bumped before each view")
    runs = portal_rows.record_miss_cpu(figures.values, db.urls[SIZES[0]], server, portal, RUNS)
    log("  worker CPU per page (ms): " + ", ".join(f"{value:.2f}" for value in runs))


class _PdfLoad:
    def __init__(self, port: int, host: str, portal: seed.PortalSeed) -> None:
        self.port, self.host, self.portal = port, host, portal
        self.ids = iter(portal.load_invoice_ids)
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.done = 0

    def next_id(self) -> str | None:
        with self.lock:
            return next(self.ids, None)

    def loop(self) -> None:
        while not self.stop.is_set():
            invoice_id = self.next_id()
            if invoice_id is None:
                return
            path = f"/portal/{self.portal.load_customer_id}/invoices/{invoice_id}/pdf"
            status, _, _ = http_get(self.port, self.host, path)
            if status == 200:
                with self.lock:
                    self.done += 1


class PdfLoad:
    """PDF_LOAD clients each rendering uncached invoices back to back, for the block's length."""

    def __init__(self, port: int, host: str, portal: seed.PortalSeed) -> None:
        self.load = _PdfLoad(port, host, portal)
        self.threads = [threading.Thread(target=self.load.loop) for _ in range(PDF_LOAD)]

    def __enter__(self) -> Callable[[], int]:
        for thread in self.threads:
            thread.start()
        time.sleep(0.5)  # the renders are under way before the portal load starts
        return lambda: self.load.done

    def __exit__(self, *_: object) -> None:
        self.load.stop.set()
        for thread in self.threads:
            thread.join()


def worker_scenarios(work: Path, figures: Figures, db: Databases, kek: bytes) -> None:
    """1 worker vs 2 on the small page, both gateways running, nothing pinned."""
    host = db.portal.tenant_host
    with contextlib.ExitStack() as servers:
        started = {
            count: servers.enter_context(
                running(
                    start_gateway(
                        database_url=db.urls[SIZES[0]],
                        kek=kek,
                        data_dir=work / f"gateway-workers-{count}",
                        log_path=work / f"gateway-workers-{count}.log",
                        workers=count,
                    )
                )
            )
            for count in (1, 2)
        }
        used = {1: 0.0, 2: 0.0}

        def measure(count: int) -> Callable[[], float]:
            server = started[count]
            url = f"http://{host}:{server.ports['http']}/brand/icon"

            def run() -> float:
                before = cpu_seconds(server.worker_pids())
                rate = wrk_run(url, 64, None).requests_per_second
                used[count] += cpu_seconds(server.worker_pids()) - before
                return rate

            return run

        log("small page, 2 workers vs 1, HTTP keep-alive, nothing pinned")
        for count in (1, 2):
            warm(f"http://{host}:{started[count].ports['http']}/brand/icon", 64, None)
        figures.record("workers", "workers_2_rps", "workers_1_rps", paired(measure(2), measure(1)))
        for count in (1, 2):
            figures.values[f"workers_{count}_cpu"] = used[count] / (SECONDS * RUNS)


def cname_scenario(work: Path, figures: Figures, db: Databases, kek: bytes) -> None:
    from tests.fixtures.pebble import running_challtestsrv, running_pebble

    log("gateway: CNAME visible -> HTTPS with a Pebble certificate")
    with running_challtestsrv("") as dns, running_pebble(dns) as pebble:
        dns.add_a(f"cname.{BASE_DOMAIN}", ["127.0.0.1"])
        server = start_gateway(
            database_url=db.urls[SIZES[0]],
            kek=kek,
            data_dir=work / "gateway-acme",
            log_path=work / "gateway-acme.log",
            ports={"http": pebble.http_port, "https": pebble.tls_port},
            extra={
                "GATEWAY_ISSUER": "acme",
                "GATEWAY_ACME_DIRECTORY_URL": pebble.directory_url,
                "GATEWAY_ACME_CA_BUNDLE": str(pebble.ca_bundle),
                "GATEWAY_DNS_RESOLVER": f"127.0.0.1:{dns.dns_port}",
            },
        )
        try:
            trusted = ssl.create_default_context(cadata=pebble.root_pem)
            port = server.ports["http"]
            timings = []
            for index in range(max(RUNS, 3)):
                name = f"billing.cname{index}.bench.test"
                claim = api_call(port, db.api_key, "POST", "/domains", {"name": name})
                # The tenant publishes its proof of ownership with the CNAME (issue 13).
                proof = claim["ownership"]
                dns.set_txt(proof["record_name"], proof["value"])
                dns.set_cname(name, f"cname.{BASE_DOMAIN}")
                started = time.monotonic()
                while True:
                    domain = api_call(port, db.api_key, "POST", f"/domains/{name}/check")
                    if domain["status"] == "active":
                        break
                    if domain["status"] == "failed" or time.monotonic() - started > 60:
                        raise RuntimeError(f"{name} did not become active: {domain}")
                    time.sleep(0.05)
                while True:
                    try:
                        if https_status(pebble.tls_port, trusted, name, "/healthz") == 200:
                            break
                    except (OSError, ssl.SSLError):
                        pass
                    if time.monotonic() - started > 60:
                        raise RuntimeError(f"{name}: no trusted HTTPS within 60 s")
                    time.sleep(0.05)
                took = time.monotonic() - started
                timings.append(took)
                log(f"  {name}: {took:.2f} s")
            figures.values["cname_seconds"] = median(timings)
        finally:
            server.stop()


# --- the table --------------------------------------------------------------------------------


def small_page_rows(values: dict[str, float]) -> list[Row]:
    return [
        Row.compared(
            "tenant-resolved small page, HTTP keep-alive, 64 connections (req/s)",
            values["gateway_http_rps"],
            values["baseline_http_rps"],
            at_least=0.60,  # the performance issue's goal for this row
            ratio=values["ratio_http"],
        ),
        Row.compared(
            "same over HTTPS keep-alive (req/s)",
            values["gateway_https_rps"],
            values["baseline_https_rps"],
            at_least=0.60,
            ratio=values["ratio_https"],
        ),
    ]


def build_rows(values: dict[str, float]) -> list[Row]:
    rows = small_page_rows(values)
    for size in SIZES:
        rows.append(
            Row.compared(
                f"new TLS connections/s, random SNI over {min(size, seed.HOT_NAMES):,} hot names, "
                f"{size:,} domains stored",
                values[f"handshakes_{size}"],
                values[f"baseline_handshakes_{size}"],
                at_least=0.85,
                ratio=values[f"ratio_handshakes_{size}"],
            )
        )
    rows += [
        Row.grown(
            "RSS of one worker, 100,000 domains stored / 1,000 hot (MB)",
            values[f"rss_{SIZES[-1]}"],
            values[f"rss_{SIZES[0]}"],
            at_most=250.0,
        ),
        *portal_rows.overview_rows(values),
        Row.bounded("invoice PDF, first render (ms)", values["pdf_first_ms"], 300.0),
        Row.bounded("invoice PDF, cached download (ms)", values["pdf_cached_ms"], 5.0),
        Row.compared(
            f"portal p99 while {PDF_LOAD} PDFs render (ms)",
            values["portal_p99_loaded"],
            values["portal_p99_idle"],
            at_most=2.0,
            ratio=values["ratio_portal_loaded"],
        ),
        Row.compared(
            "2 workers vs 1 on the small page (req/s)",
            values["workers_2_rps"],
            values["workers_1_rps"],
            at_least=1.7,
            ratio=values["ratio_workers"],
        ),
        Row.bounded(
            "CNAME visible -> HTTPS with a trusted certificate, Pebble (s, median)",
            values["cname_seconds"],
            3.0,
        ),
    ]
    return rows


SCENARIOS = ("small-page",)


def wanted(group: str) -> bool:
    return not ONLY or group in ONLY


def pace() -> Pace:
    return Pace(SECONDS, RUNS, SERVER_CPUS, LOAD_CPUS)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__,
        epilog="BENCH_SECONDS (5) and BENCH_RUNS (3) set each run's length and the number of "
        "pairs; BENCH_SIZES (1,10000,100000) the stored-domain counts.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--only",
        choices=SCENARIOS,
        help="run one scenario and print its rows and notes, without writing results.md "
        "(small-page: /brand/icon against plain aiohttp over HTTP and HTTPS, with the "
        "servers' CPU time per request); for a quick check, e.g. BENCH_SECONDS=3",
    )
    only = parser.parse_args().only
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="gateway-bench-"))
    try:
        if only == "small-page":
            return _run_small_page(work)
        return _run(work, started)
    finally:
        # Also after a failure or Ctrl-C: the keys, certificates and logs of the run go.
        shutil.rmtree(work, ignore_errors=True)


def _run(work: Path, started: float) -> int:
    kek = os.urandom(32)
    sealer = Sealer(kek)
    figures = Figures({}, [])
    log(f"working directory {work}; server CPUs {SERVER_CPUS}, load CPUs {LOAD_CPUS}")
    db = prepare_databases(work, sealer)
    try:
        icon = _icon_and_baseline_cert(work, db)
        if wanted("small"):
            small_page_scenarios(work, figures, icon, db, kek)
        if wanted("handshakes"):
            handshake_scenarios(work, figures, db, kek)
        if wanted("pages"):
            gateway_scenarios(work, figures, db, kek)
        if wanted("workers"):
            worker_scenarios(work, figures, db, kek)
        if wanted("cname"):
            cname_scenario(work, figures, db, kek)
        if wanted("caddy"):
            caddy_scenarios(
                work,
                pace(),
                figures.values,
                figures.notes,
                database_url=db.urls[SIZES[0]],
                host=db.portal.tenant_host,
                icon=icon,
                kek=kek,
            )
        if wanted("scale"):
            large = seed_scale_database(db.admin_url, sealer, BASE_DOMAIN)
            baseline = Stored(SIZES[-1], db.urls[SIZES[-1]], db.hot[SIZES[-1]])
            scale_scenarios(
                work, pace(), figures.values, figures.notes, baseline=baseline, large=large, kek=kek
            )
        if wanted("renewals"):
            renewal_scenario(
                work,
                figures.values,
                figures.notes,
                admin_url=db.admin_url,
                kek=kek,
                server_cpus=SERVER_CPUS,
                load_cpus=LOAD_CPUS,
                seconds=SECONDS,
                runs=RUNS,
            )
    finally:
        db.server.stop()
        shutil.rmtree(db.server.directory, ignore_errors=True)
    if ONLY:
        print()
        builders = {"caddy": caddy_rows, "scale": scale_rows, "renewals": renewal_rows}
        chosen = [
            row for group in ONLY if group in builders for row in builders[group](figures.values)
        ]
        print(render_table(chosen))
        print("\n".join(f"- {note}" for note in figures.notes))
        return 0
    rows = (
        build_rows(figures.values)
        + caddy_rows(figures.values)
        + scale_rows(figures.values)
        + renewal_rows(figures.values)
    )
    figures.notes.append(
        "Workers row, CPU used by the gateway workers (of one core): "
        f"1 worker {figures.values['workers_1_cpu']:.2f}, "
        f"2 workers {figures.values['workers_2_cpu']:.2f}."
    )
    print()
    print(render_table(rows))
    machine = machine_lines(postgres_version=db.version)
    elapsed = time.monotonic() - started
    RESULTS.write_text(
        render_markdown(
            rows,
            machine=machine,
            notes=figures.notes,
            settings={
                "seconds": SECONDS,
                "runs": RUNS,
                "server_cpus": SERVER_CPUS,
                "load_cpus": LOAD_CPUS,
                "elapsed": elapsed,
            },
            figures=figures.values,
        )
    )
    print(f"\nwritten to {RESULTS.relative_to(ROOT)} in {elapsed / 60:.1f} minutes")
    return 0


def _run_small_page(work: Path) -> int:
    kek = os.urandom(32)
    figures = Figures({}, [])
    db = prepare_databases(work, Sealer(kek), SIZES[:1])
    try:
        small_page_scenarios(work, figures, _icon_and_baseline_cert(work, db), db, kek)
    finally:
        db.server.stop()
        shutil.rmtree(db.server.directory, ignore_errors=True)
    print()
    print(render_table(small_page_rows(figures.values)))
    print("\n".join(figures.notes))
    return 0


def _icon_and_baseline_cert(work: Path, db: Databases) -> bytes:
    """The tenant's icon bytes (the small page's body) and a certificate for the baseline."""

    async def fetch() -> tuple[bytes, str, bytes]:
        connection = await asyncpg.connect(db.urls[SIZES[0]])
        try:
            icon: bytes = await connection.fetchval(
                "SELECT icon FROM tenants WHERE id = $1", db.portal.tenant_id
            )
            authority = InternalCA.create(permitted_names=seed.internal_ca_names(BASE_DOMAIN))
            issued = authority.issue([db.portal.tenant_host])
            return icon, issued.chain_pem, issued.key_pem
        finally:
            await connection.close()

    icon, chain_pem, key_pem = asyncio.run(fetch())
    (work / "baseline-cert.pem").write_text(chain_pem)
    key_file = work / "baseline-key.pem"
    key_file.touch(mode=0o600)
    key_file.write_bytes(key_pem)
    return icon


if __name__ == "__main__":
    sys.exit(main())
