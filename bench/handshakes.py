"""New-connection TLS load: every request on a fresh TCP connection and a full TLS handshake.

wrk keeps connections open and sends one SNI, so this client does what it
cannot: each of `--processes` worker processes loops on connect, handshake with
an SNI drawn at random from `--names-file` (one name a line), one
`GET <path>` with that name as Host and `Connection: close`, read to the end.
No session resumption (each handshake is a full ECDHE one) and no certificate
verification (its cost is the client's, not the server's). The same client
drives the gateway and the baseline, so their ratio is fair.

Run as `python -m bench.handshakes --port P --names-file F --seconds S`; prints
one JSON object: connections per second, connections, errors, statuses seen.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import socket
import ssl
import time
from collections import Counter
from pathlib import Path
from typing import Any

IO_TIMEOUT = 10.0


def _client_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["http/1.1"])
    return context


def one_connection(context: ssl.SSLContext, port: int, name: str, path: str) -> int:
    """One connection: handshake with SNI `name`, one request; the HTTP status."""
    with socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT) as raw:
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # Blocking mode: a socket timeout makes every TLS read a poll() round.
        raw.settimeout(None)
        with context.wrap_socket(raw, server_hostname=name) as tls:
            tls.sendall(
                f"GET {path} HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n".encode()
            )
            chunks = []
            while True:
                try:
                    chunk = tls.recv(65536)
                except ssl.SSLZeroReturnError:
                    break
                if not chunk:
                    break
                chunks.append(chunk)
    head = b"".join(chunks)[:32]
    return int(head.split(b" ", 2)[1])


def _worker(arguments: dict[str, Any], names: list[str], start_at: float, queue: Any) -> None:
    cpus = arguments["cpus"]
    if cpus:
        os.sched_setaffinity(0, cpus)
    context = _client_context()
    chooser = random.Random(os.getpid())
    port, path = arguments["port"], arguments["path"]
    while time.time() < start_at:
        time.sleep(0.001)
    deadline = start_at + arguments["seconds"]
    done = errors = 0
    statuses: Counter[int] = Counter()
    while time.time() < deadline:
        try:
            statuses[one_connection(context, port, chooser.choice(names), path)] += 1
            done += 1
        except (OSError, ValueError, IndexError):
            errors += 1
    queue.put((done, errors, dict(statuses)))


def run(
    *,
    port: int,
    names: list[str],
    seconds: float,
    processes: int,
    path: str = "/healthz",
    cpus: list[int] | None = None,
) -> dict[str, Any]:
    """Drive new connections for `seconds` from `processes` processes; the totals."""
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    start_at = time.time() + 0.5
    arguments = {"port": port, "path": path, "seconds": seconds, "cpus": cpus or []}
    workers = [
        context.Process(target=_worker, args=(arguments, names, start_at, queue))
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    results = [queue.get(timeout=seconds + 60) for _ in workers]
    for worker in workers:
        worker.join()
    done = sum(result[0] for result in results)
    statuses: Counter[int] = Counter()
    for result in results:
        statuses.update({int(code): count for code, count in result[2].items()})
    return {
        "per_second": done / seconds,
        "connections": done,
        "errors": sum(result[1] for result in results),
        "statuses": dict(statuses),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--names-file", type=Path, required=True)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--processes", type=int, default=8)
    parser.add_argument("--path", default="/healthz")
    parser.add_argument("--cpus", default="", help="comma-separated CPUs to pin the client to")
    arguments = parser.parse_args()
    names = arguments.names_file.read_text().split()
    cpus = [int(cpu) for cpu in arguments.cpus.split(",") if cpu]
    print(
        json.dumps(
            run(
                port=arguments.port,
                names=names,
                seconds=arguments.seconds,
                processes=arguments.processes,
                path=arguments.path,
                cpus=cpus,
            )
        )
    )


if __name__ == "__main__":
    main()
