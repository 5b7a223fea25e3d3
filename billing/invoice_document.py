"""An issued invoice's content as the page and the PDF show it, from its snapshot alone.

Everything here depends only on the invoice (its lines, dates and stored snapshot)
and the words of the document's language, so an issued invoice reads the same on
every render: the seller's and buyer's names, addresses and VAT numbers, the supply
date or service period, a tax summary per rate, and the reverse-charge wording for
intra-EU B2B supplies (Council Directive 2006/112/EC, articles 196 and 226).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from billing.addresses import PostalAddress
from billing.addresses import address_lines as postal_address_lines
from billing.errors import Conflict
from billing.formatting import format_day, format_money, format_rate
from billing.invoice_snapshots import InvoiceSnapshot, Party
from billing.invoices import Invoice

Gettext = Callable[[str], str]


def N_(message: str) -> str:
    """Marks a message for the catalogues (pybabel) without translating it here."""
    return message


# Words the product writes into invoice lines (billing.invoice_lines.Phrase); listed here
# so that the catalogues carry them.
LINE_PHRASES = (N_("Wallet credits: %(wallet)s"), N_("%(name)s (free trial)"))
REVERSE_CHARGE = N_(
    "Reverse charge: VAT to be accounted for by the recipient "
    "(Article 196, Council Directive 2006/112/EC)."
)


@dataclass(frozen=True, kw_only=True)
class PartyView:
    """A seller or buyer block: name lines, address lines, and numbers already labelled."""

    lines: list[str]
    numbers: list[str]


@dataclass(frozen=True, kw_only=True)
class TaxRow:
    rate: str
    net: str
    tax: str


@dataclass(frozen=True, kw_only=True)
class LineRow:
    description: str
    period: str | None
    quantity: int
    unit_price: str
    tax_rate: str
    amount: str


@dataclass(frozen=True, kw_only=True)
class InvoiceDocument:
    """What an issued invoice says, formatted for its language."""

    language: str
    number: str
    issued: str
    due: str | None
    supply_label: str
    supply: str
    seller_name: str
    seller: PartyView
    buyer: PartyView
    lines: list[LineRow]
    tax_rows: list[TaxRow]
    subtotal: str
    tax: str
    total: str
    reverse_charge: str | None
    memo: str | None
    brand_color: str


def snapshot_of(invoice: Invoice) -> InvoiceSnapshot:
    """The invoice's snapshot; Conflict for a draft, which has none yet."""
    if invoice.number is None or invoice.finalized_at is None or invoice.snapshot is None:
        raise Conflict("a draft invoice has no document yet")
    return InvoiceSnapshot.from_json(invoice.snapshot)


def address_lines(party: Party, language: str) -> list[str]:
    """The postal address as its country writes it, the country named in `language`."""
    address = PostalAddress(
        line1=party.address_line1,
        line2=party.address_line2,
        city=party.city,
        postal_code=party.postal_code,
        state=party.state,
        country=party.country,
    )
    return postal_address_lines(address, language=language)


def _party(party: Party, language: str, _: Gettext, *, seller: bool) -> PartyView:
    names = [party.legal_name or party.name] if seller else [party.name]
    if seller and party.legal_name and party.legal_name != party.name:
        names.append(party.name)
    numbers = []
    # Outside f-strings, where the catalogue extraction finds them.
    vat_label, registration_label = _("VAT number"), _("Registration number")
    if party.vat_number:
        numbers.append(f"{vat_label}: {party.vat_number}")
    if party.registration_number:
        numbers.append(f"{registration_label}: {party.registration_number}")
    contact = [party.email] if party.email and not seller else []
    return PartyView(lines=names + address_lines(party, language) + contact, numbers=numbers)


def _tax_rows(invoice: Invoice, language: str) -> list[TaxRow]:
    """Net and tax per rate, lowest rate first; the taxes add up to the invoice's tax."""
    by_rate: dict[int, tuple[int, int]] = {}
    for line in invoice.lines:
        net, tax = by_rate.get(line.tax_rate_bps, (0, 0))
        by_rate[line.tax_rate_bps] = (net + line.amount, tax + line.tax)
    return [
        TaxRow(
            rate=format_rate(rate, language),
            net=format_money(net, invoice.currency, language),
            tax=format_money(tax, invoice.currency, language),
        )
        for rate, (net, tax) in sorted(by_rate.items())
    ]


def _supply(invoice: Invoice, language: str, _: Gettext) -> tuple[str, str]:
    """(label, value): the service period the lines cover, else the date of supply (issue)."""
    starts = [line.period_start for line in invoice.lines if line.period_start is not None]
    ends = [line.period_end for line in invoice.lines if line.period_end is not None]
    if starts and ends:
        period = f"{format_day(min(starts), language)} – {format_day(max(ends), language)}"
        return _("Service period"), period
    assert invoice.finalized_at is not None
    return _("Date of supply"), format_day(invoice.finalized_at, language)


def invoice_document(
    invoice: Invoice, gettext: Gettext, *, language: str | None = None
) -> InvoiceDocument:
    """The invoice's content in `language` (`gettext` is its words), by default the snapshot's.

    The PDF is always in the snapshot's language; a page may show it in the reader's.
    """
    snapshot = snapshot_of(invoice)
    language = language or snapshot.language
    _ = gettext
    assert invoice.number is not None
    assert invoice.finalized_at is not None
    supply_label, supply = _supply(invoice, language, _)
    lines = [
        LineRow(
            description=line.described(_),
            period=(
                f"{format_day(line.period_start, language)} – "
                f"{format_day(line.period_end, language)}"
                if line.period_start is not None and line.period_end is not None
                else None
            ),
            quantity=line.quantity,
            unit_price=format_money(line.unit_amount, invoice.currency, language),
            tax_rate=format_rate(line.tax_rate_bps, language),
            amount=format_money(line.amount, invoice.currency, language),
        )
        for line in invoice.lines
    ]
    return InvoiceDocument(
        language=language,
        number=invoice.number,
        issued=format_day(invoice.finalized_at, language),
        due=format_day(invoice.due_at, language) if invoice.due_at else None,
        supply_label=supply_label,
        supply=supply,
        seller_name=snapshot.seller.name,
        seller=_party(snapshot.seller, language, _, seller=True),
        buyer=_party(snapshot.buyer, language, _, seller=False),
        lines=lines,
        tax_rows=_tax_rows(invoice, language),
        subtotal=format_money(invoice.subtotal, invoice.currency, language),
        tax=format_money(invoice.tax, invoice.currency, language),
        total=format_money(invoice.total, invoice.currency, language),
        reverse_charge=_(REVERSE_CHARGE) if snapshot.reverse_charge else None,
        memo=invoice.memo,
        brand_color=snapshot.brand_color,
    )
