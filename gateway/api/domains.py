"""API resources for custom domains: add, list, read, check now, remove.

A domain's representation tells the tenant everything the lifecycle knows:
its status, what the name resolves to, the records to create and the problems
found (in plain words), its certificate, and when a domain held back by the
CA's limits is tried again. Until a claim is proven it also carries the TXT
record that proves it (`ownership`) and when the unproven claim expires.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from gateway import keys
from gateway.api.framework import ApiContext, ApiRoutes, Page
from gateway.tenants import domains, lifecycle
from gateway.tenants.dns_check import records_to_create
from gateway.tenants.domains import Domain
from gateway.tenants.lifecycle import CertificateInfo, LifecycleServices

routes = ApiRoutes()

# How long `check` waits for an issuance it started; past that the issuance goes on in
# the background and the response shows the domain as issuing.
CHECK_WAIT_SECONDS = 20.0
_background: set[asyncio.Task[Domain]] = set()

_DATE_TIME_OR_NULL = {"type": ["string", "null"], "format": "date-time"}
DOMAIN = routes.schema(
    "Domain",
    {
        "type": "object",
        "required": [
            "id",
            "object",
            "name",
            "status",
            "cname_target",
            "records_to_create",
            "problems",
            "certificate",
            "held_back_until",
            "ownership",
            "created_at",
        ],
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
            "resolves_to": {"type": "array", "items": {"type": "string"}},
            "records_to_create": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["type", "name", "target"],
                    "properties": {
                        "type": {"type": "string"},
                        "name": {"type": "string"},
                        "target": {"type": "string"},
                    },
                },
            },
            "problems": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                },
            },
            "certificate": {
                "type": ["object", "null"],
                "required": ["issuer", "serial", "not_after"],
                "properties": {
                    "issuer": {"enum": ["acme", "internal"]},
                    "serial": {"type": "string"},
                    "not_before": {"type": "string", "format": "date-time"},
                    "not_after": {"type": "string", "format": "date-time"},
                },
            },
            "held_back_until": _DATE_TIME_OR_NULL,
            "ownership": {
                "type": "object",
                "description": (
                    "Proof that this claim is yours. Pointing a name at cname_target is not"
                    " enough: until a TXT record named record_name holds value, the claim is"
                    " unproven, nothing is served and another account may prove the name"
                    " first (whoever proves it holds it; the other claims are dropped)."
                    " An unproven claim is removed at claim_expires_at. The token belongs to"
                    " this claim only: removing the domain voids it."
                ),
                "required": ["proven", "record_type", "record_name", "value"],
                "properties": {
                    "proven": {"type": "boolean"},
                    "proven_at": _DATE_TIME_OR_NULL,
                    "claim_expires_at": _DATE_TIME_OR_NULL,
                    "record_type": {"const": "TXT"},
                    "record_name": {"type": "string"},
                    "value": {"type": "string"},
                },
            },
            "next_check_at": _DATE_TIME_OR_NULL,
            "last_checked_at": _DATE_TIME_OR_NULL,
            "verified_at": _DATE_TIME_OR_NULL,
            "moved_at": _DATE_TIME_OR_NULL,
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


def domain_json(
    context: ApiContext, domain: Domain, certificate: CertificateInfo | None
) -> dict[str, Any]:
    diagnosis = domain.diagnosis if isinstance(domain.diagnosis, dict) else {}
    settings = context.settings
    cname_target = settings.cname_target
    records = diagnosis.get("records_to_create") or [
        {"type": r.type, "name": r.name, "target": r.target}
        for r in records_to_create(
            domain.name, cname_target, settings.ingress_addresses, lifecycle.proof_of(domain)
        )
    ]
    resolves_to = [*diagnosis.get("cname_chain", []), *diagnosis.get("ipv4", [])]
    resolves_to += diagnosis.get("ipv6", [])
    return {
        "id": domain.id,
        "object": "domain",
        "name": domain.name,
        "status": domain.status,
        "failure_reason": domain.failure_reason,
        "diagnosis": domain.diagnosis,
        "cname_target": cname_target,
        "resolves_to": resolves_to,
        # Records only matter while the name is not pointed at us.
        "records_to_create": [] if diagnosis.get("verified") else records,
        "problems": diagnosis.get("problems", []),
        "certificate": None
        if certificate is None
        else {
            "issuer": certificate.issuer,
            "serial": certificate.serial,
            "not_before": certificate.not_before,
            "not_after": certificate.not_after,
        },
        "held_back_until": lifecycle.held_back_until(domain),
        "ownership": {
            "proven": domain.proven_at is not None,
            "proven_at": domain.proven_at,
            "claim_expires_at": domain.claim_expires_at,
            "record_type": "TXT",
            "record_name": domain.proof_record_name,
            "value": domain.proof_token,
        },
        "next_check_at": domain.next_check_at,
        "last_checked_at": domain.last_checked_at,
        "verified_at": domain.verified_at,
        "moved_at": domain.moved_at,
        "created_at": domain.created_at,
    }


async def _represent(context: ApiContext, domain: Domain) -> dict[str, Any]:
    return domain_json(context, domain, await lifecycle.latest_certificate(context.pool, domain))


@routes.operation(
    "POST",
    "/domains",
    summary=(
        "Claim a custom domain (then create a CNAME to cname_target and the TXT record"
        " in ownership; the claim expires unless proven in time)"
    ),
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
        claim_lifetime=timedelta(days=context.settings.domain_claim_days),
    )
    return domain_json(context, domain, None)


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
    certificates = await lifecycle.certificates_of(
        context.pool, tenant_id=context.tenant.id, domain_ids=[d.id for d in page]
    )
    return Page(
        [domain_json(context, d, certificates.get(d.id)) for d in page],
        has_more=len(found) > len(page),
    )


@routes.operation(
    "GET", "/domains/{name}", summary="Read one custom domain", tag="domains", response=DOMAIN
)
async def get_domain(context: ApiContext) -> dict[str, Any]:
    domain = await domains.get_domain(
        context.pool, tenant_id=context.tenant.id, name=context.path("name")
    )
    return await _represent(context, domain)


@routes.operation(
    "POST",
    "/domains/{name}/check",
    summary="Check the domain's DNS now; if it points at us, obtain its certificate",
    tag="domains",
    response=DOMAIN,
)
async def check_domain(context: ApiContext) -> dict[str, Any]:
    domain = await domains.get_domain(
        context.pool, tenant_id=context.tenant.id, name=context.path("name")
    )
    services = LifecycleServices.build(
        pool=context.pool,
        sealer=context.sealer,
        settings=context.settings,
        issuer=context.request.config_dict[keys.ISSUER],
    )
    task = asyncio.create_task(lifecycle.check_now(services, domain))
    _background.add(task)
    task.add_done_callback(_background.discard)
    try:
        # Shielded: a slow CA keeps issuing after the response; the domain then shows issuing.
        domain = await asyncio.wait_for(asyncio.shield(task), CHECK_WAIT_SECONDS)
    except TimeoutError:
        domain = await domains.get_domain(
            context.pool, tenant_id=context.tenant.id, name=domain.name
        )
    return await _represent(context, domain)


@routes.operation(
    "DELETE", "/domains/{name}", summary="Remove a custom domain", tag="domains", status=204
)
async def delete_domain(context: ApiContext) -> None:
    await domains.delete_domain(
        context.pool, tenant_id=context.tenant.id, name=context.path("name")
    )
