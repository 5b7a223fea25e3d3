"""API resources for custom domains: add, list, read, check now, remove.

A domain's representation tells the tenant everything the lifecycle knows:
its status, what the name resolves to, the records to create and the problems
found (in plain words), its certificate, and when a domain held back by the
CA's limits is tried again. Until a claim is proven it also carries the TXT
record that proves it (`ownership`) and when the unproven claim expires.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field

from billing.fields import Request
from gateway import keys
from gateway.api.billing_fields import DomainId, Resource, Timestamp
from gateway.api.framework import ApiContext, ApiRoutes, Page
from gateway.settings import Settings
from gateway.tenants import domains, lifecycle
from gateway.tenants.dns_check import records_to_create
from gateway.tenants.lifecycle import CertificateInfo, LifecycleServices

routes = ApiRoutes()

# How long `check` waits for an issuance it started; past that the issuance goes on in
# the background and the response shows the domain as issuing.
CHECK_WAIT_SECONDS = 20.0
_background: set[asyncio.Task[domains.Domain]] = set()

DomainStatus = Literal[
    "pending_dns", "verified", "issuing", "active", "renewing", "failed", "moved"
]


class DnsRecord(Resource):
    model_config = ConfigDict(extra="allow")
    type: str
    name: str
    target: str


class DomainProblem(Resource):
    model_config = ConfigDict(extra="allow")
    code: str
    message: str


class Certificate(Resource):
    issuer: Literal["acme", "internal"]
    serial: str
    not_before: Timestamp
    not_after: Timestamp


class Ownership(Resource):
    """Proof that this claim is yours. Pointing a name at cname_target is not enough: until a
    TXT record named record_name holds value, the claim is unproven, nothing is served and
    another account may prove the name first (whoever proves it holds it; the other claims
    are dropped). An unproven claim is removed at claim_expires_at. The token belongs to this
    claim only: removing the domain voids it."""

    proven: bool
    proven_at: Timestamp | None
    claim_expires_at: Timestamp | None
    record_type: Literal["TXT"] = "TXT"
    record_name: str
    value: str


class Domain(Resource):
    """A custom domain: its status, what it resolves to, what to change, its certificate."""

    id: DomainId
    object: Literal["domain"] = "domain"
    name: str
    status: DomainStatus
    failure_reason: str | None
    diagnosis: Any
    cname_target: str
    resolves_to: list[str]
    records_to_create: list[DnsRecord]
    problems: list[DomainProblem]
    certificate: Certificate | None
    held_back_until: Timestamp | None
    ownership: Ownership
    next_check_at: Timestamp | None
    last_checked_at: Timestamp | None
    verified_at: Timestamp | None
    moved_at: Timestamp | None
    created_at: Timestamp

    @classmethod
    def of(
        cls, settings: Settings, domain: domains.Domain, certificate: CertificateInfo | None
    ) -> Domain:
        diagnosis = domain.diagnosis if isinstance(domain.diagnosis, dict) else {}
        records = diagnosis.get("records_to_create") or [
            {"type": r.type, "name": r.name, "target": r.target}
            for r in records_to_create(
                domain.name,
                settings.cname_target,
                settings.ingress_addresses,
                lifecycle.proof_of(domain),
            )
        ]
        resolves_to = [*diagnosis.get("cname_chain", []), *diagnosis.get("ipv4", [])]
        ownership = Ownership(
            proven=domain.proven_at is not None,
            proven_at=domain.proven_at,
            claim_expires_at=domain.claim_expires_at,
            record_name=domain.proof_record_name,
            value=domain.proof_token,
        )
        return cls.model_validate(
            {
                **{name: getattr(domain, name, None) for name in _COPIED},
                "cname_target": settings.cname_target,
                "resolves_to": resolves_to + diagnosis.get("ipv6", []),
                # Records only matter while the name is not pointed at us.
                "records_to_create": [] if diagnosis.get("verified") else records,
                "problems": diagnosis.get("problems", []),
                "certificate": None if certificate is None else asdict(certificate),
                "held_back_until": lifecycle.held_back_until(domain),
                "ownership": ownership,
            }
        )


_COPIED = [
    "id",
    "name",
    "status",
    "failure_reason",
    "diagnosis",
    "next_check_at",
    "last_checked_at",
    "verified_at",
    "moved_at",
    "created_at",
]


class DomainCreate(Request):
    name: Annotated[str, Field(min_length=1, max_length=253)]


async def _represent(context: ApiContext, domain: domains.Domain) -> Domain:
    certificate = await lifecycle.latest_certificate(context.pool, domain)
    return Domain.of(context.settings, domain, certificate)


@routes.operation(
    "POST",
    "/domains",
    summary=(
        "Claim a custom domain (then create a CNAME to cname_target and the TXT record"
        " in ownership; the claim expires unless proven in time)"
    ),
    tag="domains",
    request=DomainCreate,
    response=Domain,
    status=201,
)
async def create_domain(context: ApiContext) -> Domain:
    domain = await domains.add_domain(
        context.pool,
        tenant_id=context.tenant.id,
        name=context.parsed(DomainCreate).name,
        base_domain=context.settings.base_domain,
        claim_lifetime=timedelta(days=context.settings.domain_claim_days),
    )
    return Domain.of(context.settings, domain, None)


@routes.operation(
    "GET",
    "/domains",
    summary="List your custom domains",
    tag="domains",
    response=Domain,
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
        [Domain.of(context.settings, d, certificates.get(d.id)) for d in page],
        has_more=len(found) > len(page),
    )


@routes.operation(
    "GET",
    "/domains/{name}",
    summary="Read one custom domain",
    tag="domains",
    response=Domain,
)
async def get_domain(context: ApiContext) -> Domain:
    domain = await domains.get_domain(
        context.pool, tenant_id=context.tenant.id, name=context.path("name")
    )
    return await _represent(context, domain)


@routes.operation(
    "POST",
    "/domains/{name}/check",
    summary="Check the domain's DNS now; if it points at us, obtain its certificate",
    tag="domains",
    response=Domain,
)
async def check_domain(context: ApiContext) -> Domain:
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
