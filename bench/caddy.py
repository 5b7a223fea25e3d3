"""Caddy beside the gateway: a generated JSON config, its own process on free loopback ports.

Debian's `caddy` package (a bench-only dependency, like wrk). The config has
no admin endpoint, keeps nothing on disk outside the run's directory and
manages no certificate: both servers load the certificate and key files
given, as the gateway serves a certificate of the same kind for the same
tenant name. `static` answers `/healthz` with the gateway's health body and
every other path with a fixed body (a static `respond`); `proxy` forwards
everything to the upstream with `reverse_proxy`. The system's caddy service,
if any, is never touched: the process runs with GOMAXPROCS=2 (both cores of
the bench machine) unless told otherwise.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.processes import Server, _wait_for, free_port

HEALTH_BODY = '{"status": "ok"}'
READY_LINE = "serving initial configuration"


@dataclass(frozen=True)
class CaddySite:
    """What Caddy serves: the certificate pair, the small page's body and type, the upstream."""

    cert_file: Path
    key_file: Path
    body: bytes
    content_type: str
    upstream_port: int


def caddy_binary() -> str:
    path = shutil.which("caddy")
    if path is None:
        raise RuntimeError(
            "caddy is not installed (Debian package caddy; `make bench` installs it)"
        )
    return path


def caddy_version() -> str:
    completed = subprocess.run(
        [caddy_binary(), "version"], capture_output=True, text=True, check=False
    )
    return completed.stdout.strip().split(" ")[0] or "unknown"


def respond_body(body: bytes) -> str:
    """The body for Caddy's `respond`: the bytes themselves when they are text; else as many
    ASCII bytes (a JSON config holds text only, so a PNG cannot be given byte for byte)."""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return "x" * len(body)


def _server(port: int, routes: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "listen": [f"127.0.0.1:{port}"],
        "routes": routes,
        "tls_connection_policies": [{}],
        "automatic_https": {"disable": True},
        # As the gateway: HTTP/1.1 and HTTP/2 over TCP, no HTTP/3 listener.
        "protocols": ["h1", "h2"],
    }


def caddy_config(site: CaddySite, *, static_port: int, proxy_port: int) -> dict[str, Any]:
    """Caddy's JSON config for the two servers (see the module docstring)."""
    health = {
        "match": [{"path": ["/healthz"]}],
        "handle": [
            {
                "handler": "static_response",
                "status_code": 200,
                "headers": {"Content-Type": ["application/json; charset=utf-8"]},
                "body": HEALTH_BODY,
            }
        ],
    }
    page = {
        "handle": [
            {
                "handler": "static_response",
                "status_code": 200,
                "headers": {"Content-Type": [site.content_type]},
                "body": respond_body(site.body),
            }
        ]
    }
    proxy = {
        "handle": [
            {
                "handler": "reverse_proxy",
                "upstreams": [{"dial": f"127.0.0.1:{site.upstream_port}"}],
            }
        ]
    }
    return {
        "admin": {"disabled": True, "config": {"persist": False}},
        "logging": {"logs": {"default": {"level": "INFO"}}},
        "apps": {
            "http": {
                "servers": {
                    "static": _server(static_port, [health, page]),
                    "proxy": _server(proxy_port, [proxy]),
                }
            },
            "tls": {
                "certificates": {
                    "load_files": [{"certificate": str(site.cert_file), "key": str(site.key_file)}]
                }
            },
        },
    }


def start_caddy(site: CaddySite, *, directory: Path, cpus: int = 2) -> Server:
    """Caddy with the generated config; ports `static` and `proxy`; its log in `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    ports = {"static": free_port(), "proxy": free_port()}
    config_file = directory / "caddy.json"
    config = caddy_config(site, static_port=ports["static"], proxy_port=ports["proxy"])
    config_file.write_text(json.dumps(config, indent=2))
    log_path = directory / "caddy.log"
    environment = {
        **os.environ,
        "GOMAXPROCS": str(cpus),
        # Caddy's storage and config directories: inside the run's directory, never $HOME.
        "XDG_DATA_HOME": str(directory / "data"),
        "XDG_CONFIG_HOME": str(directory / "config"),
    }
    log = log_path.open("wb")
    process = subprocess.Popen(
        [caddy_binary(), "run", "--config", str(config_file)],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=environment,
        cwd=directory,
    )
    log.close()
    _wait_for(process, log_path, READY_LINE)
    return Server(process, log_path, ports)
