"""API resources for custom domains: add, list, get, remove."""

from __future__ import annotations

from typing import Any

from gateway.api.framework import ApiContext, ApiRoutes, Page
from gateway.tenants import domains
from gateway.tenants.domains import Domain

routes = ApiRoutes()

DOMAIN = routes.schema(
    "Domain",
    {
        "type": "object",
        "required": ["id", "object", "name", "status", "created_at"],
        "properties": {
            "id": {"type": "string", "pattern": "^dom_"},
            "object": {"const": "domain"},
            "name": {"type": "string"},
            "status": {
                "enum": [
                    "pending_dns",
                    "verified",
                    "issuing",
                    "active",
                    "renewing",
                    "failed",
                    "moved",
                ]
            },
            "failure_reason": {"type": ["string", "null"]},
            "diagnosis": {},
            "cname_target": {"type": "string"},
            "next_check_at": {"type": ["string", "null"], "format": "date-time"},
            "last_checked_at": {"type": ["string", "null"], "format": "date-time"},
            "verified_at": {"type": ["string", "null"], "format": "date-time"},
            "created_at": {"type": "string", "format": "date-time"},
        },
    },
)
DOMAIN_CREATE = routes.schema(
    "DomainCreate",
    {
        "type": "object",
        "additionalProperties": False,
        "required": ["name"],
        "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 253}},
    },
)


def domain_json(context: ApiContext, domain: Domain) -> dict[str, Any]:
    return {
        "id": domain.id,
        "object": "domain",
        "name": domain.name,
        "status": domain.status,
        "failure_reason": domain.failure_reason,
        "diagnosis": domain.diagnosis,
        "cname_target": f"cname.{context.settings.base_domain}",
        "next_check_at": domain.next_check_at,
        "last_checked_at": domain.last_checked_at,
        "verified_at": domain.verified_at,
        "created_at": domain.created_at,
    }


@routes.operation(
    "POST",
    "/domains",
    summary="Add a custom domain (then create a CNAME to cname_target)",
    tag="domains",
    request=DOMAIN_CREATE,
    response=DOMAIN,
    status=201,
)
async def create_domain(context: ApiContext) -> dict[str, Any]:
    domain = await domains.add_domain(
        context.pool,
        tenant_id=context.tenant.id,
        name=context.body["name"],
        base_domain=context.settings.base_domain,
    )
    return domain_json(context, domain)


@routes.operation(
    "GET",
    "/domains",
    summary="List your custom domains",
    tag="domains",
    response=DOMAIN,
    paginated=True,
)
async def list_domains(context: ApiContext) -> Page:
    found = await domains.list_domains(context.pool, tenant_id=context.tenant.id)
    after = context.starting_after
    if after is not None:
        ids = [domain.id for domain in found]
        found = found[ids.index(after) + 1 :] if after in ids else []
    page = found[: context.limit]
    return Page([domain_json(context, d) for d in page], has_more=len(found) > len(page))


@routes.operation(
    "GET", "/domains/{name}", summary="Read one custom domain", tag="domains", response=DOMAIN
)
async def get_domain(context: ApiContext) -> dict[str, Any]:
    domain = await domains.get_domain(
        context.pool, tenant_id=context.tenant.id, name=context.path("name")
    )
    return domain_json(context, domain)


@routes.operation(
    "DELETE", "/domains/{name}", summary="Remove a custom domain", tag="domains", status=204
)
async def delete_domain(context: ApiContext) -> None:
    await domains.delete_domain(
        context.pool, tenant_id=context.tenant.id, name=context.path("name")
    )
