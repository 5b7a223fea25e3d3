"""DNS verification of a custom domain with dnspython: is it pointed at us, and what to fix.

A domain verifies when its CNAME chain reaches the configured target
(`cname.<base domain>`), or, for a zone apex where a CNAME is not allowed,
when all its A/AAAA addresses are the configured ingress addresses. The
`Diagnosis` tells the tenant what the name resolves to now, the record to
create, and each problem in plain words. A CAA record that forbids our CA is
a problem too (RFC 8659: the first CAA record set found at the name or one of
its parents applies). A claim not yet proven also needs its TXT record
(`OwnershipProof`): pointing a name at us says nothing about which tenant may
use it, since anyone can claim a name that already points here.

Bad DNS answers never raise: they become problems. A SERVFAIL or a timeout is
"try again later" (`retry_later`), never a verdict on the domain.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import dns.asyncresolver
import dns.exception
import dns.name
import dns.rdatatype
import dns.resolver
from publicsuffixlist import PublicSuffixList

MAX_CHAIN_DEPTH = 8  # CNAME hops followed before giving up on a chain
# CAA property tags this checker understands (RFC 8659 section 4; RFC 9495).
_KNOWN_CAA_TAGS = {b"issue", b"issuewild", b"iodef", b"issuemail", b"contactemail", b"contactphone"}
_CAA_CRITICAL = 0x80

# Problem codes (stable: the settings page and the API show them).
NO_RECORD = "no_record"
WRONG_TARGET = "wrong_target"
ADDRESS_ELSEWHERE = "address_elsewhere"
CNAME_LOOP = "cname_loop"
CAA_FORBIDS = "caa_forbids"
DNS_UNAVAILABLE = "dns_unavailable"
PROOF_MISSING = "proof_missing"


@dataclass(frozen=True)
class OwnershipProof:
    """What proves a claim: a TXT record at `record_name` with `token` among its values."""

    record_name: str
    token: str


@dataclass(frozen=True)
class DnsRecord:
    """A DNS record, as the tenant would type it at their DNS provider."""

    type: str
    name: str
    target: str


@dataclass(frozen=True)
class Problem:
    """Something that keeps the domain from verifying; `code` is stable, `message` is prose."""

    code: str
    message: str


@dataclass(frozen=True)
class Diagnosis:
    """The state of a domain's DNS as seen now; `to_json` gives what domains.diagnosis stores.

    `cname_chain` lists the names the CNAMEs lead to, in order (empty without a
    CNAME); `ipv4`/`ipv6` are the addresses the name finally resolves to.
    `retry_later` is set when DNS could not be read (SERVFAIL, timeout): the
    result says nothing about the domain then.
    """

    name: str
    verified: bool
    retry_later: bool
    cname_chain: tuple[str, ...]
    ipv4: tuple[str, ...]
    ipv6: tuple[str, ...]
    records_to_create: tuple[DnsRecord, ...]
    problems: tuple[Problem, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "verified": self.verified,
            "retry_later": self.retry_later,
            "cname_chain": list(self.cname_chain),
            "ipv4": list(self.ipv4),
            "ipv6": list(self.ipv6),
            "records_to_create": [
                {"type": r.type, "name": r.name, "target": r.target} for r in self.records_to_create
            ],
            "problems": [{"code": p.code, "message": p.message} for p in self.problems],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Diagnosis:
        return cls(
            name=data["name"],
            verified=data["verified"],
            retry_later=data["retry_later"],
            cname_chain=tuple(data["cname_chain"]),
            ipv4=tuple(data["ipv4"]),
            ipv6=tuple(data["ipv6"]),
            records_to_create=tuple(DnsRecord(**r) for r in data["records_to_create"]),
            problems=tuple(Problem(**p) for p in data["problems"]),
        )


def make_resolver(
    nameservers: Sequence[str] | None = None, *, port: int = 53, timeout: float = 5.0
) -> dns.asyncresolver.Resolver:
    """An async resolver asking `nameservers` (IP addresses) on `port`, or the system's.

    `timeout` bounds each lookup as a whole; nothing is cached, so a fix the
    tenant just made shows on the next check (within the records' TTL upstream).
    """
    resolver = dns.asyncresolver.Resolver(configure=nameservers is None)
    if nameservers is not None:
        resolver.nameservers = list(nameservers)
        resolver.port = port
    resolver.lifetime = timeout
    resolver.timeout = min(timeout, 2.0)
    resolver.cache = None
    return resolver


class _Unavailable(Exception):
    """DNS could not be read (SERVFAIL, timeout, refused): not an answer about the name."""


async def _lookup(
    resolver: dns.asyncresolver.Resolver, name: str, rdtype: dns.rdatatype.RdataType
) -> list[Any]:
    """The records of type `rdtype` the name finally resolves to; [] for none or NXDOMAIN."""
    try:
        answer = await resolver.resolve(name, rdtype, raise_on_no_answer=False, search=False)
    except dns.resolver.NXDOMAIN:
        return []
    except dns.exception.DNSException as error:
        raise _Unavailable(str(error)) from None
    return list(answer.rrset) if answer.rrset is not None else []


@lru_cache(maxsize=1)
def _suffix_list() -> PublicSuffixList:
    return PublicSuffixList()


def is_apex(name: str) -> bool:
    """Whether `name` is a registered domain (alpeak.com), where a CNAME cannot be created."""
    return _suffix_list().privatesuffix(name) == name


def _text(name: Any) -> str:
    return str(name.to_text(omit_final_dot=True)).lower()


def _dns_name(name: str) -> str:
    name = name.lower().rstrip(".")
    try:
        dns.name.from_text(name)
    except dns.exception.DNSException as error:
        raise ValueError(f"{name!r} is not a DNS name: {error}") from None
    return name


def _proof_missing(name: str, proof: OwnershipProof) -> Problem:
    return Problem(
        PROOF_MISSING,
        f"Ownership of {name} is not proven yet: create a TXT record"
        f" {proof.record_name} with the value {proof.token}.",
    )


def _dns_unavailable(name: str, error: Exception) -> Problem:
    return Problem(
        DNS_UNAVAILABLE,
        f"DNS for {name} could not be read right now ({error}). This is usually"
        " temporary at the DNS provider: we will try again later.",
    )


async def check_domain(
    name: str,
    *,
    cname_target: str,
    ingress_addresses: Iterable[str],
    resolver: dns.asyncresolver.Resolver,
    caa_identities: Iterable[str] = (),
    proof: OwnershipProof | None = None,
    max_chain_depth: int = MAX_CHAIN_DEPTH,
) -> Diagnosis:
    """Diagnose `name` (a canonical domain, A-labels): verified, what it resolves to, fixes.

    `caa_identities` are the CA's issuer domain names (for example
    "letsencrypt.org"); empty skips the CAA check. `proof`, for a claim not yet
    proven, is the TXT record that must exist too. Raises ValueError only for a
    name that is not a DNS name; DNS failures are reported in the diagnosis.
    """
    name = _dns_name(name)
    cname_target = cname_target.lower().rstrip(".")
    ingress = [address.lower() for address in ingress_addresses]
    identities = [identity.lower().rstrip(".") for identity in caa_identities]
    records = _records_to_create(name, cname_target, ingress, proof)
    problems: list[Problem] = []
    chain: list[str] = []
    ipv4: list[str] = []
    ipv6: list[str] = []
    try:
        chain, chain_problem = await _cname_chain(resolver, name, cname_target, max_chain_depth)
        if chain_problem is not None:
            problems.append(chain_problem)
        ipv4 = [r.address for r in await _lookup(resolver, name, dns.rdatatype.A)]
        ipv6 = [r.address.lower() for r in await _lookup(resolver, name, dns.rdatatype.AAAA)]
        pointed = _pointing_problems(name, cname_target, ingress, chain, ipv4, ipv6)
        problems.extend(pointed)
        if proof is not None and not await _proven(resolver, proof):
            problems.append(_proof_missing(name, proof))
        if identities:
            caa_problem, caa_record = await _caa_problem(resolver, name, identities)
            if caa_problem is not None:
                problems.append(caa_problem)
                records = (*records, caa_record) if caa_record is not None else records
    except _Unavailable as error:
        problems.append(_dns_unavailable(name, error))
    return Diagnosis(
        name=name,
        verified=not problems,
        retry_later=any(problem.code == DNS_UNAVAILABLE for problem in problems),
        cname_chain=tuple(chain),
        ipv4=tuple(ipv4),
        ipv6=tuple(ipv6),
        records_to_create=records,
        problems=tuple(problems),
    )


def records_to_create(
    name: str, cname_target: str, ingress: Iterable[str], proof: OwnershipProof | None
) -> tuple[DnsRecord, ...]:
    """The records a tenant creates for `name`: the CNAME (or apex addresses), and the proof."""
    return _records_to_create(name, cname_target, list(ingress), proof)


def _records_to_create(
    name: str, cname_target: str, ingress: list[str], proof: OwnershipProof | None
) -> tuple[DnsRecord, ...]:
    pointing: tuple[DnsRecord, ...]
    if is_apex(name) and ingress:
        # RFC 1034 section 3.6.2: a CNAME cannot sit beside the apex's SOA and NS records.
        pointing = tuple(
            DnsRecord("AAAA" if ":" in address else "A", name, address) for address in ingress
        )
    else:
        pointing = (DnsRecord("CNAME", name, cname_target),)
    if proof is None:
        return pointing
    return (*pointing, DnsRecord("TXT", proof.record_name, proof.token))


async def _proven(resolver: dns.asyncresolver.Resolver, proof: OwnershipProof) -> bool:
    """Whether a TXT record at the proof name holds the token (among any other values)."""
    for record in await _lookup(resolver, proof.record_name, dns.rdatatype.TXT):
        if b"".join(record.strings).decode("ascii", "replace").strip() == proof.token:
            return True
    return False


async def _cname_chain(
    resolver: dns.asyncresolver.Resolver, name: str, cname_target: str, max_depth: int
) -> tuple[list[str], Problem | None]:
    """The names the CNAMEs from `name` lead to, stopping at `cname_target`."""
    chain: list[str] = []
    current = name
    for _ in range(max_depth):
        found = await _lookup(resolver, current, dns.rdatatype.CNAME)
        targets = [_text(record.target) for record in found]
        if not targets:
            return chain, None
        target = targets[0]
        if target == name or target in chain:
            return [*chain, target], Problem(
                CNAME_LOOP,
                f"The CNAME records of {name} form a loop ({' -> '.join([name, *chain, target])})."
                f" Point {name} straight at {cname_target}.",
            )
        chain.append(target)
        if target == cname_target:
            return chain, None
        current = target
    return chain, Problem(
        CNAME_LOOP,
        f"The CNAME chain of {name} is longer than {max_depth} steps."
        f" Point {name} straight at {cname_target}.",
    )


def _pointing_problems(
    name: str,
    cname_target: str,
    ingress: list[str],
    chain: list[str],
    ipv4: list[str],
    ipv6: list[str],
) -> list[Problem]:
    if cname_target in chain:
        return []
    if chain:
        if chain[-1] in (name, *chain[:-1]):
            return []  # the loop is already reported
        via = f" (through {', '.join(chain[:-1])})" if len(chain) > 1 else ""
        return [
            Problem(
                WRONG_TARGET,
                f"{name} points to {chain[-1]}{via}, not to {cname_target}. Change the CNAME"
                f" record of {name} to {cname_target}.",
            )
        ]
    if not ipv4 and not ipv6:
        fix = (
            f"create A/AAAA records for {name} with {', '.join(ingress)}"
            if is_apex(name) and ingress
            else f"create a CNAME record for {name} pointing to {cname_target}"
        )
        return [Problem(NO_RECORD, f"{name} has no DNS record yet: {fix}.")]
    problems = []
    for kind, addresses in (("A", ipv4), ("AAAA", ipv6)):
        elsewhere = [address for address in addresses if address not in ingress]
        if elsewhere:
            fix = (
                f"replace it with the addresses {', '.join(ingress)}"
                if is_apex(name) and ingress
                else f"remove it and create a CNAME record pointing to {cname_target}"
            )
            problems.append(
                Problem(
                    ADDRESS_ELSEWHERE,
                    f"{name} has an {kind} record pointing elsewhere"
                    f" ({', '.join(elsewhere)}): {fix}.",
                )
            )
    return problems


async def _caa_problem(
    resolver: dns.asyncresolver.Resolver, name: str, identities: list[str]
) -> tuple[Problem | None, DnsRecord | None]:
    """A problem when the relevant CAA record set (RFC 8659 section 3) forbids our CA."""
    labels = name.split(".")
    for index in range(len(labels)):
        at = ".".join(labels[index:])
        found = await _lookup(resolver, at, dns.rdatatype.CAA)
        if not found:
            continue
        unknown_critical = [
            r.tag.decode("latin-1")
            for r in found
            if r.flags & _CAA_CRITICAL and r.tag.lower() not in _KNOWN_CAA_TAGS
        ]
        fix = DnsRecord("CAA", at, f'0 issue "{identities[0]}"')
        if unknown_critical:
            # RFC 8659 section 4.1: a critical property the CA does not understand forbids it.
            return Problem(
                CAA_FORBIDS,
                f"The CAA records of {at} carry a critical property ({', '.join(unknown_critical)})"
                f" that certificate authorities do not understand, so none may issue for {name}."
                " Remove it.",
            ), None
        allowed = [
            r.value.decode("latin-1").split(";", 1)[0].strip().lower()
            for r in found
            if r.tag.lower() == b"issue"
        ]
        if not allowed or any(issuer in identities for issuer in allowed):
            return None, None
        shown = ", ".join(issuer or "no one" for issuer in allowed)
        return Problem(
            CAA_FORBIDS,
            f"The CAA records of {at} allow only {shown} to issue certificates for {name}."
            f' Add the record {at} CAA 0 issue "{identities[0]}".',
        ), fix
    return None, None
