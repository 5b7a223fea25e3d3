"""A flood of unknown SNI names: connections that each send a ClientHello for a random name.

Each of `--processes` processes loops: connect, send one ClientHello whose
server name is random letters under `--suffix` (a name nobody stores), read
the answer, reset the connection. The ClientHello is made once by Python's
own TLS client and only its name's letters change, so the flood costs the
client little and the server sees well-formed hellos. An answer that is a
TLS alert counts as a refusal; anything else (a ServerHello, a timeout, a
reset before any answer) is counted apart.

Run as `python -m bench.flood --port P --seconds S`; prints one JSON object.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import random
import socket
import ssl
import string
import struct
import time
from typing import Any

IO_TIMEOUT = 10.0
LABEL_LENGTH = 24
ALERT_RECORD = 0x15
PLACEHOLDER = "q" * LABEL_LENGTH


def client_hello(server_name: str) -> bytes:
    """The bytes of the ClientHello Python's TLS client sends for `server_name`."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["http/1.1"])
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname=server_name)
    with contextlib.suppress(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


def one_attempt(port: int, hello: bytes) -> bool:
    """One connection with `hello`; whether the server answered it with an alert."""
    with socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT) as sock:
        # Reset on close: no TIME_WAIT, so a long flood does not run out of client ports.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.sendall(hello)
        answer = sock.recv(64)
    return bool(answer) and answer[0] == ALERT_RECORD


def _worker(arguments: dict[str, Any], start_at: float, queue: Any) -> None:
    if arguments["cpus"]:
        os.sched_setaffinity(0, arguments["cpus"])
    template = client_hello(f"{PLACEHOLDER}.{arguments['suffix']}")
    placeholder = PLACEHOLDER.encode()
    chooser = random.Random(os.getpid())
    letters = string.ascii_lowercase
    while time.time() < start_at:
        time.sleep(0.001)
    deadline = start_at + arguments["seconds"]
    refused = other = 0
    while time.time() < deadline:
        label = "".join(chooser.choices(letters, k=LABEL_LENGTH)).encode()
        try:
            if one_attempt(arguments["port"], template.replace(placeholder, label)):
                refused += 1
            else:
                other += 1
        except OSError:
            other += 1
    queue.put((refused, other))


def run(
    *, port: int, seconds: float, processes: int, suffix: str, cpus: list[int]
) -> dict[str, Any]:
    """Flood for `seconds` from `processes` processes; refusals per second and the totals."""
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    start_at = time.time() + 0.3
    arguments = {"port": port, "seconds": seconds, "suffix": suffix, "cpus": cpus}
    workers = [
        context.Process(target=_worker, args=(arguments, start_at, queue)) for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    results = [queue.get(timeout=seconds + 60) for _ in workers]
    for worker in workers:
        worker.join()
    refused = sum(result[0] for result in results)
    return {
        "refused_per_second": refused / seconds,
        "refused": refused,
        "other": sum(result[1] for result in results),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--suffix", default="flood.test", help="domain under the random labels")
    parser.add_argument("--cpus", default="", help="comma-separated CPUs to pin the client to")
    arguments = parser.parse_args()
    cpus = [int(cpu) for cpu in arguments.cpus.split(",") if cpu]
    result = run(
        port=arguments.port,
        seconds=arguments.seconds,
        processes=arguments.processes,
        suffix=arguments.suffix,
        cpus=cpus,
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
