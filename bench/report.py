"""The benchmark table (scenario, gateway, baseline, ratio, goal, met?) and bench/results.md."""

from __future__ import annotations

import os
import platform
import shutil
import ssl
import subprocess
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

NOTES_FILE = Path(__file__).with_name("notes.md")


@dataclass(frozen=True)
class Row:
    """One scenario: the figures as shown, and whether the goal is met."""

    scenario: str
    gateway: str
    baseline: str
    ratio: str
    goal: str
    met: bool

    @classmethod
    def compared(
        cls,
        scenario: str,
        gateway: float,
        baseline: float,
        *,
        at_least: float | None = None,
        at_most: float | None = None,
        ratio: float | None = None,
    ) -> Row:
        """`ratio` (the median of per-pair ratios) is shown when given, else gateway / baseline."""
        value = ratio if ratio is not None else (gateway / baseline if baseline else 0.0)
        if at_least is not None:
            goal, met = f">= {at_least:.2f}", value >= at_least
        else:
            assert at_most is not None
            goal, met = f"<= {at_most:.1f}x", value <= at_most
        return cls(scenario, _number(gateway), _number(baseline), f"{value:.2f}", goal, met)

    @classmethod
    def grown(cls, scenario: str, gateway: float, baseline: float, *, at_most: float) -> Row:
        change = gateway - baseline
        return cls(
            scenario,
            _number(gateway),
            _number(baseline),
            f"{change:+.0f} MB",
            f"<= +{at_most:.0f} MB",
            change <= at_most,
        )

    @classmethod
    def bounded(cls, scenario: str, gateway: float, at_most: float) -> Row:
        return cls(scenario, _number(gateway), "-", "-", f"<= {at_most:g}", gateway <= at_most)


def _number(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


HEADERS = ("scenario", "gateway", "baseline", "ratio", "goal", "met?")


def _cells(row: Row) -> tuple[str, ...]:
    return (
        row.scenario,
        row.gateway,
        row.baseline,
        row.ratio,
        row.goal,
        "yes" if row.met else "NO",
    )


def render_table(rows: list[Row]) -> str:
    """The table for a terminal."""
    lines = [HEADERS, *(_cells(row) for row in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(HEADERS))]
    out = []
    for number, line in enumerate(lines):
        out.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(line)).rstrip())
        if number == 0:
            out.append("  ".join("-" * width for width in widths))
    return "\n".join(out)


def _markdown_table(rows: list[Row]) -> str:
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    lines += ["| " + " | ".join(_cells(row)) + " |" for row in rows]
    return "\n".join(lines)


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _memory() -> str:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    return "unknown"


def _wrk_version() -> str:
    wrk = shutil.which("wrk")
    if wrk is None:
        return "not installed"
    completed = subprocess.run([wrk, "--version"], capture_output=True, text=True, check=False)
    return (completed.stdout or completed.stderr).splitlines()[0].split(" [")[0]


def machine_lines(*, postgres_version: str) -> list[str]:
    """What the figures were measured on."""
    return [
        f"CPU: {_cpu_model()}, {os.cpu_count()} logical CPUs "
        f"({len(os.sched_getaffinity(0))} available to the run)",
        f"Memory: {_memory()}",
        f"Kernel: {platform.system()} {platform.release()}",
        f"Python: {platform.python_version()} ({platform.python_implementation()})",
        f"OpenSSL: {ssl.OPENSSL_VERSION}",
        f"PostgreSQL: {postgres_version}",
        "Packages: "
        + ", ".join(
            f"{name} {_version(name)}"
            for name in ("aiohttp", "uvloop", "asyncpg", "Jinja2", "weasyprint", "cryptography")
        ),
        f"Load generator: {_wrk_version()}, and bench/handshakes.py for new connections",
    ]


def render_markdown(
    rows: list[Row],
    *,
    machine: list[str],
    notes: list[str],
    settings: dict[str, Any],
    figures: dict[str, float],
) -> str:
    """bench/results.md: the table, the machine, how it ran, and the analysis in bench/notes.md."""
    missed = [row.scenario for row in rows if not row.met]
    parts = [
        "# Benchmark results",
        "",
        "Written by `make bench` (bench/run.py); every ratio is against a baseline measured "
        "in the same run on the same machine.",
        "",
        _markdown_table(rows),
        "",
        f"Goals missed: {len(missed)} of {len(rows)}.",
        "",
        "## Machine",
        "",
        *[f"- {line}" for line in machine],
        "",
        "## How it ran",
        "",
        f"- Each figure is the median of {settings['runs']} runs of {settings['seconds']:g} s "
        "after a short warm-up run; the whole suite took "
        f"{settings['elapsed'] / 60:.1f} minutes.",
        "- Gateway and baseline runs alternate (gateway first in odd pairs, baseline first in "
        "even ones), both servers running throughout; a ratio is the median of the per-pair "
        "ratios, so a slow spell on the shared machine moves both figures of a pair.",
        f"- Pinning (`os.sched_setaffinity`): the server under test (gateway or baseline) on "
        f"CPU {settings['server_cpus']}, wrk and the handshake client on CPU "
        f"{settings['load_cpus']}; PostgreSQL is not pinned and shares the machine. The "
        "workers row pins nothing (two workers need both CPUs, which wrk also uses).",
        *[f"- {note}" for note in notes],
        "",
        "## Raw figures",
        "",
        "```",
        *[f"{name} = {value:.3f}" for name, value in sorted(figures.items())],
        "```",
        "",
    ]
    if NOTES_FILE.exists():
        parts += [NOTES_FILE.read_text().strip(), ""]
    return "\n".join(parts)
