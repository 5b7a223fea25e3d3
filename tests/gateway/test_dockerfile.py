"""The container image and compose file, checked as files (no container engine needed)."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    result: list[tuple[str, str]] = []
    pending = ""
    for raw in (ROOT / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        keyword, _, arguments = line.partition(" ")
        result.append((keyword.upper(), arguments.strip()))
    assert not pending, "the Dockerfile ends inside a continued line"
    return result


def final_stage() -> list[tuple[str, str]]:
    """The instructions of the last stage: the image that runs."""
    steps = instructions()
    last_from = max(index for index, (keyword, _) in enumerate(steps) if keyword == "FROM")
    return steps[last_from:]


def environment() -> dict[str, str]:
    values: dict[str, str] = {}
    for keyword, arguments in final_stage():
        if keyword == "ENV":
            for pair in shlex.split(arguments):
                name, _, value = pair.partition("=")
                values[name] = value
    return values


def test_the_image_is_python_3_11_slim() -> None:
    froms = [arguments for keyword, arguments in instructions() if keyword == "FROM"]
    assert froms
    assert all(arguments.split()[0] == "python:3.11-slim" for arguments in froms)


def test_the_gateway_runs_as_a_non_root_user_that_may_bind_80_and_443() -> None:
    users = [arguments for keyword, arguments in final_stage() if keyword == "USER"]
    assert users, "no USER: the gateway would run as root"
    assert users[-1] not in ("root", "0", "0:0")
    runs = " ".join(arguments for keyword, arguments in final_stage() if keyword == "RUN")
    assert "setcap cap_net_bind_service=+ep" in runs


def test_weasyprint_system_libraries_are_installed() -> None:
    runs = " ".join(arguments for keyword, arguments in final_stage() if keyword == "RUN")
    for package in ("libpango-1.0-0", "libpangoft2-1.0-0", "libharfbuzz-subset0"):
        assert package in runs.split()


def test_listeners_are_public_on_80_and_443_with_ops_on_9090() -> None:
    exposed = {
        port
        for keyword, arguments in final_stage()
        if keyword == "EXPOSE"
        for port in arguments.split()
    }
    assert exposed == {"80", "443", "9090"}
    env = environment()
    assert env["GATEWAY_HTTP_HOST"] == "0.0.0.0"  # noqa: S104 (the container listens publicly)
    assert env["GATEWAY_HTTP_PORT"] == "80"
    assert env["GATEWAY_HTTPS_PORT"] == "443"
    assert env["GATEWAY_OPS_PORT"] == "9090"


def test_the_healthcheck_asks_the_ops_port_with_python_not_curl() -> None:
    [check] = [arguments for keyword, arguments in final_stage() if keyword == "HEALTHCHECK"]
    command = json.loads(check[check.index("CMD") + len("CMD") :].strip())
    assert command[:2] == ["python", "-c"]
    assert "/healthz" in command[2]
    assert "GATEWAY_OPS_PORT" in command[2]
    assert "curl" not in check
    compile(command[2], "healthcheck", "exec")  # the one-liner is valid Python


def test_the_entry_point_is_gateway_serve() -> None:
    [entrypoint] = [arguments for keyword, arguments in final_stage() if keyword == "ENTRYPOINT"]
    assert json.loads(entrypoint) == ["gateway", "serve"]


def test_compose_runs_postgresql_15_and_keeps_secrets_in_env_files() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert services["postgres"]["image"] == "postgres:15"
    gateway = services["gateway"]
    assert gateway["env_file"] == "gateway.env"
    assert "GATEWAY_KEK" not in json.dumps(gateway.get("environment", {}))
    assert gateway["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "80:80" in gateway["ports"]
    assert "443:443" in gateway["ports"]
    # The ops port is not published on every interface of the host.
    assert "127.0.0.1:9090:9090" in gateway["ports"]


def test_secrets_and_local_state_stay_out_of_the_build_context() -> None:
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".git", ".venv", ".data", "*.env"} <= ignored
