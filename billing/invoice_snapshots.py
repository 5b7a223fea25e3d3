"""What an issued invoice says for good: seller, buyer, brand and language, fixed at finalisation.

`take_snapshot` runs in the finalising transaction and reads only billing's tables:
the customer, and `invoice_sellers`, billing's copy of the tenant's legal details and
brand (kept by a trigger on the tenant, migration 0011). The invoice page and the PDF
render from the stored snapshot alone, so a later change of address, VAT number, brand
or language changes no issued invoice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from billing.vat import EU_MEMBER_STATES
from kernel.db import Connection, Db

SELLER_FIELDS = (
    "display_name",
    "brand_color",
    "icon_digest",
    "icon_type",
    "legal_name",
    "address_line1",
    "address_line2",
    "postal_code",
    "city",
    "country",
    "vat_number",
    "registration_number",
)
BUYER_FIELDS = (
    "name",
    "email",
    "address_line1",
    "address_line2",
    "postal_code",
    "city",
    "state",
    "country",
    "vat_number",
)
DEFAULT_BRAND_COLOR = "#1f2937"


@dataclass(frozen=True, kw_only=True)
class Party:
    """A seller or buyer as the invoice prints it; parts it does not have are None."""

    name: str
    legal_name: str | None = None
    email: str | None = None
    address_line1: str | None = None
    address_line2: str | None = None
    postal_code: str | None = None
    city: str | None = None
    state: str | None = None
    country: str | None = None
    vat_number: str | None = None
    registration_number: str | None = None


@dataclass(frozen=True, kw_only=True)
class InvoiceSnapshot:
    """The stored snapshot, read back: who sells, who buys, the brand and the language."""

    language: str
    seller: Party
    buyer: Party
    brand_color: str
    icon_digest: str | None
    icon_type: str | None
    reverse_charge: bool

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> InvoiceSnapshot:
        seller = data.get("seller") or {}
        buyer = data.get("buyer") or {}
        return cls(
            language=str(data.get("language") or "en"),
            seller=Party(
                name=seller.get("display_name") or "",
                **{name: seller.get(name) for name in SELLER_FIELDS[4:]},
            ),
            buyer=Party(
                name=buyer.get("name") or "", **{name: buyer.get(name) for name in BUYER_FIELDS[1:]}
            ),
            brand_color=seller.get("brand_color") or DEFAULT_BRAND_COLOR,
            icon_digest=seller.get("icon_digest"),
            icon_type=seller.get("icon_type"),
            reverse_charge=bool(data.get("reverse_charge")),
        )


def is_reverse_charge(
    *, seller_country: str | None, buyer_country: str | None, buyer_vat_number: str | None
) -> bool:
    """Intra-EU B2B: seller and buyer in two EU member states, the buyer with a VAT number.

    Council Directive 2006/112/EC, article 196: the buyer accounts for the VAT, and
    article 226(11a) asks the invoice to say "Reverse charge". A stored VAT number has
    passed `billing.vat.validate_vat_number` for the buyer's country.
    """
    return bool(
        buyer_vat_number
        and seller_country in EU_MEMBER_STATES
        and buyer_country in EU_MEMBER_STATES
        and seller_country != buyer_country
    )


async def take_snapshot(
    connection: Connection, *, tenant_id: int, customer_id: str
) -> dict[str, Any]:
    """The snapshot of a now-finalising invoice of `customer_id`, as stored (JSON object)."""
    seller_row = await connection.fetchval(
        "SELECT details FROM invoice_sellers WHERE tenant_id = $1", tenant_id
    )
    seller = {name: (seller_row or {}).get(name) for name in SELLER_FIELDS}
    customer = await connection.fetchrow(
        "SELECT language, name, email, address_line1, address_line2, postal_code, city, state, "
        "country, vat_number FROM customers WHERE tenant_id = $1 AND id = $2",
        tenant_id,
        customer_id,
    )
    assert customer is not None  # an invoice's customer row outlives it (foreign key)
    buyer = {name: customer[name] for name in BUYER_FIELDS}
    return {
        "language": customer["language"],
        "seller": seller,
        "buyer": buyer,
        "reverse_charge": is_reverse_charge(
            seller_country=seller["country"],
            buyer_country=buyer["country"],
            buyer_vat_number=buyer["vat_number"],
        ),
    }


async def snapshot_icon(db: Db, *, tenant_id: int, digest: str) -> bytes | None:
    """The icon an invoice was issued with, by its SHA-256 digest; None if unknown."""
    data: bytes | None = await db.fetchval(
        "SELECT data FROM invoice_icons WHERE tenant_id = $1 AND digest = $2", tenant_id, digest
    )
    return data
