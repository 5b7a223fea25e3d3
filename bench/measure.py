"""Measuring helpers of the scenario modules: paced runs, paired ratios, wrk and handshake runs.

`Pace` carries what bench/run.py decided for the whole run (seconds per run,
runs per figure, which CPUs serve and which load), so a scenario module
needs nothing from run.py's globals.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.load import run_wrk

ROOT = Path(__file__).resolve().parent.parent
HANDSHAKE_PROCESSES = 8


@dataclass(frozen=True)
class Pace:
    seconds: float
    runs: int
    server_cpus: Sequence[int]
    load_cpus: Sequence[int]


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def paired(
    pace: Pace, ours: Callable[[], float], theirs: Callable[[], float]
) -> tuple[float, float, float]:
    """`pace.runs` pairs back to back, alternating which goes first; the median of each side
    and the median of the per-pair ratios (a slow spell hits both runs of a pair)."""
    gateway, baseline, ratios = [], [], []
    for index in range(pace.runs):
        if index % 2 == 0:
            first, second = ours(), theirs()
        else:
            second = theirs()
            first = ours()
        gateway.append(first)
        baseline.append(second)
        ratios.append(first / second if second else 0.0)
        log(f"  pair {index + 1}: {first:,.1f} vs {second:,.1f} -> {ratios[-1]:.2f}")
    return median(gateway), median(baseline), median(ratios)


def keep_alive_rate(
    pace: Pace, url: str, connections: int, cpus: Sequence[int] | None
) -> Callable[[], float]:
    """A measurement: wrk's requests/s on `url`; any non-2xx answer fails the run."""

    def measure() -> float:
        result = run_wrk(url, connections=connections, seconds=pace.seconds, cpus=cpus)
        if result.bad_responses or result.requests == 0:
            raise RuntimeError(f"{url}: {result.bad_responses} bad responses")
        return result.requests_per_second

    return measure


def handshake_rate(
    port: int, names_file: Path, seconds: float, cpus: Sequence[int] | None
) -> float:
    """New TLS connections/s from bench/handshakes.py; any failure fails the run."""
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
            ",".join(map(str, cpus or [])),
        ],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    result = json.loads(completed.stdout)
    if result["errors"] or {int(code) for code in result["statuses"]} != {200}:
        raise RuntimeError(f"handshake run had failures: {result}")
    return float(result["per_second"])
