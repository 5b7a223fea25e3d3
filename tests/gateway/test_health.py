"""Liveness and readiness answer on any host, for load balancers and orchestrators."""

from __future__ import annotations

from typing import Any


async def test_healthz_and_readyz_answer_on_any_host(gateway_client: Any) -> None:
    for host in ("unknown.example:8080", "api.localhost:8080", "10.0.0.1:8080"):
        response = await gateway_client.get("/healthz", headers={"Host": host})
        assert response.status == 200
        response = await gateway_client.get("/readyz", headers={"Host": host})
        assert response.status == 200
        body = await response.json()
        assert body["checks"] == {"accepting": "ok", "database": "ok", "host_index": "ok"}
