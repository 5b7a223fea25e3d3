"""`make bench`: every row of the benchmark table, gateway against its baseline in the same run.

Starts an embedded PostgreSQL in a temporary directory, seeds it (bench/seed.py),
runs the gateway (`gateway serve`) and the plain aiohttp baseline as separate
processes on loopback, drives them with wrk and bench/handshakes.py, prints one
table and writes bench/results.md. Each figure is the median of RUNS bounded
runs of BENCH_SECONDS seconds (default 5). The server under test is pinned to
the first CPU, the load generators to the others (see results.md).
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import shutil
import socket
import ssl
import statistics
import subprocess
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

from bench import seed  # noqa: E402
from bench.load import WrkResult, run_wrk  # noqa: E402
from bench.processes import (  # noqa: E402
    cpu_seconds,
    rss_mb,
    start_baseline,
    start_gateway,
)
from bench.report import Row, machine_lines, render_markdown, render_table  # noqa: E402
from certs.internal_ca import InternalCA  # noqa: E402
from gateway.database import create_pool  # noqa: E402
from gateway.embedded_postgres import EmbeddedPostgres  # noqa: E402
from gateway.sealing import Sealer  # noqa: E402
from gateway.tenants.api_keys import create_api_key  # noqa: E402

SECONDS = float(os.environ.get("BENCH_SECONDS", "5"))
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
SIZES = tuple(int(size) for size in os.environ.get("BENCH_SIZES", "1,10000,100000").split(","))
HANDSHAKE_PROCESSES = 8
BASE_DOMAIN = "localhost"
PDF_LOAD = 20
RESULTS = ROOT / "bench" / "results.md"

_CPUS = sorted(os.sched_getaffinity(0))
SERVER_CPUS = _CPUS[:1]
LOAD_CPUS = _CPUS[1:] or _CPUS


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


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


async def _prepare(admin_url: str, sealer: Sealer) -> tuple[Any, ...]:
    admin = await asyncpg.connect(admin_url)
    version = await admin.fetchval("SHOW server_version")
    urls: dict[int, str] = {}
    hot: dict[int, list[str]] = {}
    portal: seed.PortalSeed | None = None
    api_key = ""
    for size in SIZES:
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
            hot[size] = await seed.seed_domains(pool, sealer, size)
            log(f"database {name}: {size} domains seeded in {time.monotonic() - started:.1f} s")
        finally:
            await pool.close()
    await admin.close()
    assert portal is not None
    return urls, hot, portal, api_key, version


def prepare_databases(directory: Path, sealer: Sealer) -> Databases:
    # Its own temporary directory (as the tests do): as root, the server runs as another user.
    server = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="gateway-bench-pg-")))
    admin_url = server.start()
    try:
        urls, hot, portal, api_key, version = asyncio.run(_prepare(admin_url, sealer))
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
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.handshakes",
            "--port",
            str(port),
            "--names-file",
            str(names_file),
            "--seconds",
            str(seconds),
            "--processes",
            str(HANDSHAKE_PROCESSES),
            "--cpus",
            ",".join(map(str, LOAD_CPUS)),
        ],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    result = json.loads(completed.stdout)
    if result["errors"] or {int(code) for code in result["statuses"]} != {200}:
        raise RuntimeError(f"handshake run had failures: {result}")
    rate: float = result["per_second"]
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


def wrk_runs(url: str, connections: int, cpus: Sequence[int] | None) -> list[WrkResult]:
    run_wrk(url, connections=connections, seconds=min(2.0, SECONDS), cpus=cpus)  # warm-up
    results = []
    for _ in range(RUNS):
        result = run_wrk(url, connections=connections, seconds=SECONDS, cpus=cpus)
        if result.bad_responses or result.requests == 0:
            raise RuntimeError(f"{url}: {result.bad_responses} bad responses")
        log(f"  {result.requests_per_second:,.0f} req/s, p99 {result.p99_ms:.1f} ms")
        results.append(result)
    return results


def median_rate(results: list[WrkResult]) -> float:
    return median([result.requests_per_second for result in results])


def median_p99(results: list[WrkResult]) -> float:
    return median([result.p99_ms for result in results])


# --- scenarios --------------------------------------------------------------------------------


@dataclass
class Figures:
    values: dict[str, float]
    notes: list[str]


def baseline_scenarios(work: Path, figures: Figures, icon: bytes, db: Databases) -> None:
    body = work / "icon.png"
    body.write_bytes(icon)
    health = work / "health.json"
    health.write_bytes(b'{"status": "ok"}')
    cert_file, key_file = work / "baseline-cert.pem", work / "baseline-key.pem"
    host = db.portal.tenant_host
    log("baseline: plain aiohttp on uvloop, fixed body, HTTP keep-alive")
    server = start_baseline(
        log_path=work / "baseline-http.log",
        body_file=body,
        content_type="image/png",
        cpus=SERVER_CPUS,
    )
    try:
        results = wrk_runs(f"http://{host}:{server.ports['port']}/brand/icon", 64, LOAD_CPUS)
        figures.values["baseline_http_rps"] = median_rate(results)
    finally:
        server.stop()
    log("baseline: plain aiohttp with one SSLContext, HTTPS keep-alive")
    server = start_baseline(
        log_path=work / "baseline-https.log",
        body_file=body,
        content_type="image/png",
        cpus=SERVER_CPUS,
        cert_file=cert_file,
        key_file=key_file,
    )
    try:
        results = wrk_runs(f"https://{host}:{server.ports['port']}/brand/icon", 64, LOAD_CPUS)
        figures.values["baseline_https_rps"] = median_rate(results)
    finally:
        server.stop()
    log("baseline: one certificate, a new TLS connection per request")
    server = start_baseline(
        log_path=work / "baseline-handshakes.log",
        body_file=health,
        content_type="application/json",
        cpus=SERVER_CPUS,
        cert_file=cert_file,
        key_file=key_file,
    )
    try:
        names_file = work / "hot-1000.txt"
        names_file.write_text("\n".join(db.hot[SIZES[-1]]))
        port = server.ports["port"]
        handshakes(port, names_file, 2.0, warm=True)
        before = cpu_seconds([server.pid])
        rates = [handshakes(port, names_file, SECONDS) for _ in range(RUNS)]
        busy = (cpu_seconds([server.pid]) - before) / (SECONDS * RUNS)
        figures.values["baseline_handshakes"] = median(rates)
        figures.notes.append(
            f"Baseline handshake server used {busy:.0%} of its CPU during the runs "
            "(100% means the server, not the client, was the limit)."
        )
    finally:
        server.stop()


def handshake_scenarios(work: Path, figures: Figures, db: Databases, kek: bytes) -> None:
    for size in SIZES:
        hot = db.hot[size]
        names_file = work / f"hot-{size}.txt"
        names_file.write_text("\n".join(hot))
        log(f"gateway: new TLS connections, random SNI over {len(hot)} hot names, {size} stored")
        server = start_gateway(
            database_url=db.urls[size],
            kek=kek,
            data_dir=work / f"gateway-{size}",
            log_path=work / f"gateway-handshakes-{size}.log",
            cpus=SERVER_CPUS,
        )
        try:
            port = server.ports["https"]
            warm_names(port, hot)
            handshakes(port, names_file, 2.0, warm=True)
            before = cpu_seconds([server.pid])
            rates = [handshakes(port, names_file, SECONDS) for _ in range(RUNS)]
            busy = (cpu_seconds([server.pid]) - before) / (SECONDS * RUNS)
            figures.values[f"handshakes_{size}"] = median(rates)
            figures.values[f"rss_{size}"] = rss_mb(server.pid)
            figures.notes.append(
                f"Gateway handshake server ({size} domains) used {busy:.0%} of its CPU."
            )
            log(f"  worker RSS {figures.values[f'rss_{size}']:.0f} MB")
        finally:
            server.stop()


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
        http_port, https_port = server.ports["http"], server.ports["https"]
        status, _, _ = http_get(http_port, host, "/brand/icon")
        assert status == 200, status
        log("gateway: tenant's small page (/brand/icon), HTTP keep-alive, 64 connections")
        results = wrk_runs(f"http://{host}:{http_port}/brand/icon", 64, LOAD_CPUS)
        figures.values["gateway_http_rps"] = median_rate(results)
        log("gateway: same over HTTPS keep-alive")
        results = wrk_runs(f"https://{host}:{https_port}/brand/icon", 64, LOAD_CPUS)
        figures.values["gateway_https_rps"] = median_rate(results)

        portal_path = f"/portal/{portal.customer_id}"
        status, page, _ = http_get(http_port, host, portal_path)
        assert status == 200, (status, page[:300])
        log("gateway: portal overview, 32 connections")
        results = wrk_runs(f"http://{host}:{http_port}{portal_path}", 32, LOAD_CPUS)
        figures.values["portal_rps"] = median_rate(results)
        figures.values["portal_p99"] = median_p99(results)

        log("gateway: invoice PDF, first render and cached download")
        pdf = f"{portal_path}/invoices/{{}}/pdf"
        status, _, cold = http_get(http_port, host, pdf.format(portal.invoice_ids[0]))
        assert status == 200, status
        figures.notes.append(
            f"The process's very first PDF took {cold * 1000:.0f} ms "
            "(WeasyPrint's fonts and styles load once per process); the row shows later ones."
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

        log(f"gateway: portal overview while {PDF_LOAD} PDFs render")
        p99s = []
        renders = 0
        for _ in range(RUNS):
            reset_pdfs(db.urls[SIZES[0]], portal)
            with PdfLoad(http_port, host, portal) as rendered:
                result = run_wrk(
                    f"http://{host}:{http_port}{portal_path}",
                    connections=32,
                    seconds=SECONDS,
                    cpus=LOAD_CPUS,
                )
            renders += rendered()
            log(f"  portal p99 {result.p99_ms:.1f} ms, {result.requests_per_second:,.0f} req/s")
            p99s.append(result.p99_ms)
        figures.values["portal_p99_loaded"] = median(p99s)
        figures.notes.append(
            f"While the portal was loaded, {renders / RUNS:.0f} PDFs rendered per run "
            f"({PDF_LOAD} always in flight)."
        )
    finally:
        server.stop()


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
    host = db.portal.tenant_host
    for count in (1, 2):
        log(f"gateway: {count} worker(s), small page, HTTP keep-alive, nothing pinned")
        server = start_gateway(
            database_url=db.urls[SIZES[0]],
            kek=kek,
            data_dir=work / f"gateway-workers-{count}",
            log_path=work / f"gateway-workers-{count}.log",
            workers=count,
        )
        try:
            port = server.ports["http"]
            before = cpu_seconds(server.worker_pids())
            results = wrk_runs(f"http://{host}:{port}/brand/icon", 64, None)
            used = cpu_seconds(server.worker_pids()) - before
            figures.values[f"workers_{count}_rps"] = median_rate(results)
            elapsed = SECONDS * RUNS + min(2.0, SECONDS)
            figures.values[f"workers_{count}_cpu"] = used / elapsed
        finally:
            server.stop()


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
                api_call(port, db.api_key, "POST", "/domains", {"name": name})
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


def build_rows(values: dict[str, float]) -> list[Row]:
    rows = [
        Row.compared(
            "tenant-resolved small page, HTTP keep-alive, 64 connections (req/s)",
            values["gateway_http_rps"],
            values["baseline_http_rps"],
            at_least=0.90,
        ),
        Row.compared(
            "same over HTTPS keep-alive (req/s)",
            values["gateway_https_rps"],
            values["baseline_https_rps"],
            at_least=0.90,
        ),
    ]
    for size in SIZES:
        rows.append(
            Row.compared(
                f"new TLS connections/s, random SNI over {min(size, seed.HOT_NAMES):,} hot names, "
                f"{size:,} domains stored",
                values[f"handshakes_{size}"],
                values["baseline_handshakes"],
                at_least=0.85,
            )
        )
    rows += [
        Row.grown(
            "RSS of one worker, 100,000 domains stored / 1,000 hot (MB)",
            values[f"rss_{SIZES[-1]}"],
            values[f"rss_{SIZES[0]}"],
            at_most=250.0,
        ),
        Row.compared(
            "portal overview (2 subs, 3 cards, 24 invoices, 1 wallet), 32 connections (req/s)",
            values["portal_rps"],
            values["gateway_http_rps"],
            at_least=0.40,
        ),
        Row.bounded("portal overview p99 at 32 connections (ms)", values["portal_p99"], 25.0),
        Row.bounded("invoice PDF, first render (ms)", values["pdf_first_ms"], 300.0),
        Row.bounded("invoice PDF, cached download (ms)", values["pdf_cached_ms"], 5.0),
        Row.compared(
            f"portal p99 while {PDF_LOAD} PDFs render (ms)",
            values["portal_p99_loaded"],
            values["portal_p99"],
            at_most=2.0,
        ),
        Row.compared(
            "2 workers vs 1 on the small page (req/s)",
            values["workers_2_rps"],
            values["workers_1_rps"],
            at_least=1.7,
        ),
        Row.bounded(
            "CNAME visible -> HTTPS with a trusted certificate, Pebble (s, median)",
            values["cname_seconds"],
            3.0,
        ),
    ]
    return rows


def main() -> int:
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="gateway-bench-"))
    kek = os.urandom(32)
    sealer = Sealer(kek)
    figures = Figures({}, [])
    log(f"working directory {work}; server CPUs {SERVER_CPUS}, load CPUs {LOAD_CPUS}")
    db = prepare_databases(work, sealer)
    try:
        icon = _icon_and_baseline_cert(work, db)
        baseline_scenarios(work, figures, icon, db)
        handshake_scenarios(work, figures, db, kek)
        gateway_scenarios(work, figures, db, kek)
        worker_scenarios(work, figures, db, kek)
        cname_scenario(work, figures, db, kek)
    finally:
        db.server.stop()
        shutil.rmtree(db.server.directory, ignore_errors=True)
    rows = build_rows(figures.values)
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
    shutil.rmtree(work, ignore_errors=True)
    return 0


def _icon_and_baseline_cert(work: Path, db: Databases) -> bytes:
    """The tenant's icon bytes (the small page's body) and a certificate for the baseline."""

    async def fetch() -> tuple[bytes, str, bytes]:
        connection = await asyncpg.connect(db.urls[SIZES[0]])
        try:
            icon: bytes = await connection.fetchval(
                "SELECT icon FROM tenants WHERE id = $1", db.portal.tenant_id
            )
            authority = InternalCA.create()
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
