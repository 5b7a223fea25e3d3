"""What the settings page shows, in the reader's language: domains, brand contrast, amounts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from billing.formatting import format_day
from billing.money import exponent
from gateway.settings import Settings
from gateway.tenants.dns_check import Diagnosis, records_to_create
from gateway.tenants.domains import Domain
from gateway.tenants.lifecycle import CertificateInfo, proof_of
from kernel.colors import WHITE, contrast_color, contrast_ratio
from web.i18n import DEFAULT_LANGUAGE, Translator

# Below this ratio against the white page, the colour cannot carry text (WCAG 2.x 1.4.3).
PAGE_CONTRAST = 4.5
# Statuses after which nothing changes by itself for a while: the page polls slowly then.
SETTLED_STATUSES = frozenset({"active", "moved"})


@dataclass(frozen=True, kw_only=True)
class RecordView:
    type: str
    name: str
    target: str


@dataclass(frozen=True, kw_only=True)
class DomainView:
    """One custom domain as the settings page shows it."""

    name: str
    status: str
    status_label: str
    settled: bool
    checked: bool
    resolution: str
    records: list[RecordView]
    problems: list[str]
    failure: str | None
    last_checked: str | None
    certificate_issuer: str | None
    certificate_expires: str | None
    proven: bool
    proof_record: str
    ownership: str


def _when(moment: datetime, language: str) -> str:
    return f"{format_day(moment, language)} {moment:%H:%M} UTC"


def domain_view(
    domain: Domain,
    certificate: CertificateInfo | None,
    *,
    settings: Settings,
    language: str,
    i18n: Translator,
) -> DomainView:
    """The domain's status, the record to create, the diagnosis in plain words, its certificate."""
    raw = domain.diagnosis if isinstance(domain.diagnosis, dict) else None
    diagnosis = Diagnosis.from_json(raw) if raw else None
    records, resolution, problems = _dns_view(domain, diagnosis, settings=settings, i18n=i18n)
    failure = domain.failure_reason
    return DomainView(
        name=domain.name,
        status=domain.status,
        status_label=domain_status_label(i18n, domain.status),
        settled=domain.status in SETTLED_STATUSES,
        checked=diagnosis is not None,
        resolution=resolution,
        records=records,
        problems=problems,
        failure=i18n.gettext("Last problem: %(reason)s", reason=failure) if failure else None,
        last_checked=(
            i18n.gettext("Last checked: %(when)s", when=_when(domain.last_checked_at, language))
            if domain.last_checked_at
            else None
        ),
        certificate_issuer=(
            None if certificate is None else _issuer_label(i18n, certificate.issuer)
        ),
        certificate_expires=(
            None if certificate is None else _when(certificate.not_after, language)
        ),
        proven=domain.proven_at is not None,
        proof_record=domain.proof_record_name,
        ownership=_ownership_text(domain, language, i18n),
    )


def _dns_view(
    domain: Domain, diagnosis: Diagnosis | None, *, settings: Settings, i18n: Translator
) -> tuple[list[RecordView], str, list[str]]:
    """(records to create, what the name resolves to now, its problems) in plain words."""
    target = settings.cname_target
    if diagnosis is None:
        records = [
            RecordView(type=r.type, name=r.name, target=r.target)
            for r in records_to_create(
                domain.name, target, settings.ingress_addresses, proof_of(domain)
            )
        ]
        resolution = i18n.gettext("Not checked yet. The first check runs within seconds.")
        problems: list[str] = []
    else:
        records = (
            []
            if diagnosis.verified
            else [
                RecordView(type=r.type, name=r.name, target=r.target)
                for r in diagnosis.records_to_create
            ]
        )
        where = [*diagnosis.cname_chain, *diagnosis.ipv4, *diagnosis.ipv6]
        resolution = (
            i18n.gettext(
                "%(name)s currently resolves to %(where)s.",
                name=domain.name,
                where=", ".join(where),
            )
            if where
            else i18n.gettext("%(name)s does not resolve to anything yet.", name=domain.name)
        )
        problems = [
            _problem_text(
                code=p.code,
                message=p.message,
                name=domain.name,
                where=where,
                target=target,
                i18n=i18n,
            )
            for p in diagnosis.problems
        ]
        if not problems:
            problems = [i18n.gettext("%(name)s points at us.", name=domain.name)]
    return records, resolution, problems


def _ownership_text(domain: Domain, language: str, i18n: Translator) -> str:
    """Whether the claim is proven, and until when an unproven claim lasts."""
    if domain.proven_at is not None:
        return i18n.gettext(
            "Proven on %(when)s. You may keep or delete the TXT record.",
            when=_when(domain.proven_at, language),
        )
    expires = domain.claim_expires_at
    return i18n.gettext(
        "Not proven yet. Create both records above; until the TXT record is found, "
        "nothing is served on %(name)s. This claim expires on %(when)s if it is not "
        "proven by then.",
        name=domain.name,
        when=_when(expires, language) if expires else "-",
    )


def domain_status_label(i18n: Translator, status: str) -> str:
    """A domain's lifecycle status in the page's language (the code when unknown)."""
    labels = {
        "pending_dns": i18n.gettext("Pending DNS"),
        "verified": i18n.gettext("Verified"),
        "issuing": i18n.gettext("Issuing certificate"),
        "active": i18n.gettext("Active"),
        "renewing": i18n.gettext("Renewing certificate"),
        "failed": i18n.gettext("Failed"),
        "moved": i18n.gettext("Moved"),
    }
    return labels.get(status, status)


def _issuer_label(i18n: Translator, issuer: str) -> str:
    if issuer == "acme":
        return i18n.gettext("Public certificate authority (ACME)")
    return i18n.gettext("Internal certificate authority")


def _problem_text(
    *, code: str, message: str, name: str, where: list[str], target: str, i18n: Translator
) -> str:
    """A DNS problem in the page's language: dns_check's own English prose, else by its code."""
    if i18n.language == DEFAULT_LANGUAGE:
        return message
    values = {"name": name, "where": ", ".join(where), "target": target}
    problems = {
        "no_record": i18n.gettext(
            "%(name)s has no DNS record yet: create a CNAME record for %(name)s "
            "pointing to %(target)s.",
            **values,
        ),
        "wrong_target": i18n.gettext(
            "%(name)s points to %(where)s, not to %(target)s. Change the CNAME record of "
            "%(name)s to point to %(target)s.",
            **values,
        ),
        "address_elsewhere": i18n.gettext(
            "%(name)s has an address pointing elsewhere (%(where)s): remove it and create "
            "a CNAME record pointing to %(target)s.",
            **values,
        ),
        "cname_loop": i18n.gettext(
            "The CNAME records of %(name)s form a loop or a chain that is too long. "
            "Point %(name)s straight at %(target)s.",
            **values,
        ),
        "caa_forbids": i18n.gettext(
            "The CAA records of your domain forbid our certificate authority to issue for "
            "%(name)s. Add the CAA record shown above.",
            **values,
        ),
        "proof_missing": i18n.gettext(
            "Ownership of %(name)s is not proven yet: create the TXT record shown above.",
            **values,
        ),
        "dns_unavailable": i18n.gettext(
            "DNS for %(name)s could not be read right now. This is usually temporary at "
            "the DNS provider: we will try again later.",
            **values,
        ),
    }
    return problems.get(code, message)


@dataclass(frozen=True, kw_only=True)
class ContrastReport:
    """How readable a brand colour is: text drawn on it, and the colour on the white page."""

    text_color: str
    text_ratio: str
    page_ratio: str
    warning: bool


def contrast_report(color: str) -> ContrastReport:
    text = contrast_color(color)
    page = contrast_ratio(color, WHITE)
    return ContrastReport(
        text_color=text,
        text_ratio=f"{contrast_ratio(color, text):.1f}",
        page_ratio=f"{page:.1f}",
        warning=page < PAGE_CONTRAST,
    )


def major_units(amount_minor: int, currency: str) -> str:
    """An amount in minor units as the form shows it: 100.00 for 10000 EUR cents."""
    digits = exponent(currency)
    return f"{Decimal(amount_minor).scaleb(-digits):.{digits}f}"


def size_label(size: int) -> str:
    """A byte count as people read it: 256 KB."""
    if size >= 1024 * 1024 and size % (1024 * 1024) == 0:
        return f"{size // (1024 * 1024)} MB"
    return f"{size // 1024} KB"
