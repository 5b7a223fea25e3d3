"""API resources for wallets: create, read, credit, and list the ledger."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from billing import wallets
from billing.fields import Request
from billing.wallets import LedgerEntry
from gateway.api.billing_fields import (
    Amount,
    Currency,
    CurrencyInput,
    CustomerId,
    Resource,
    Timestamp,
    WalletId,
)
from gateway.api.framework import ApiContext, ApiRoutes, Page
from gateway.api.problems import InvalidRequest

routes = ApiRoutes()
TAG = "wallets"


class Wallet(Resource):
    """A customer's balance of prepaid credits in one currency."""

    id: WalletId
    object: Literal["wallet"] = "wallet"
    customer: CustomerId
    name: str
    currency: Currency
    balance: Amount
    created_at: Timestamp

    @classmethod
    def of(cls, wallet: wallets.Wallet) -> Wallet:
        return cls(
            id=wallet.id,
            customer=wallet.customer_id,
            name=wallet.name,
            currency=wallet.currency,
            balance=wallet.balance,
            created_at=wallet.created_at,
        )


class WalletTransaction(Resource):
    """One entry of a wallet's append-only ledger."""

    id: str = Field(description="Increases with every entry.")
    object: Literal["wallet_transaction"] = "wallet_transaction"
    wallet: WalletId
    amount: Amount = Field(description="Positive for credits, negative for debits.")
    balance_after: Amount
    kind: Literal["topup", "grant", "debit", "adjustment"]
    description: str
    invoice: str | None
    created_at: Timestamp

    @classmethod
    def of(cls, entry: LedgerEntry) -> WalletTransaction:
        return cls(
            id=str(entry.id),
            wallet=entry.wallet_id,
            amount=entry.amount,
            balance_after=entry.balance_after,
            kind=entry.kind,  # type: ignore[arg-type]
            description=entry.description,
            invoice=entry.invoice_id,
            created_at=entry.created_at,
        )


class WalletCreate(Request):
    customer: Annotated[str, Field(max_length=100)]
    currency: CurrencyInput = Field(description="One wallet per customer and currency.")
    name: Annotated[str, Field(min_length=1, max_length=100)] = "Credits"


class WalletCreditCreate(Request):
    amount: Annotated[Amount, Field(ge=1, le=10**12)]
    description: Annotated[str, Field(max_length=500)] = ""


class WalletCredit(Resource):
    object: Literal["wallet_credit"] = "wallet_credit"
    transaction: WalletTransaction
    wallet: Wallet


@routes.operation(
    "POST",
    "/wallets",
    summary="Create a wallet for a customer",
    tag=TAG,
    request=WalletCreate,
    response=Wallet,
    status=201,
)
async def create_wallet(context: ApiContext) -> Wallet:
    request = context.parsed(WalletCreate)
    wallet = await wallets.create_wallet(
        context.pool,
        tenant_id=context.tenant.id,
        customer_id=request.customer,
        currency=request.currency,
        name=request.name,
    )
    return Wallet.of(wallet)


@routes.operation("GET", "/wallets/{id}", summary="Read a wallet", tag=TAG, response=Wallet)
async def get_wallet(context: ApiContext) -> Wallet:
    wallet = await wallets.get_wallet(
        context.pool, tenant_id=context.tenant.id, wallet_id=context.path("id")
    )
    return Wallet.of(wallet)


@routes.operation(
    "POST",
    "/wallets/{id}/credits",
    summary="Credit a wallet (send an Idempotency-Key to make retries safe)",
    tag=TAG,
    request=WalletCreditCreate,
    response=WalletCredit,
    status=201,
)
async def credit_wallet(context: ApiContext) -> WalletCredit:
    credit = context.parsed(WalletCreditCreate)
    # The ledger also remembers the Idempotency-Key, so even a retry whose stored
    # API response was lost cannot credit twice.
    wallet, entry = await wallets.credit_wallet(
        context.pool,
        tenant_id=context.tenant.id,
        wallet_id=context.path("id"),
        amount=credit.amount,
        kind="grant",
        description=credit.description,
        idempotency_key=context.request.headers.get("Idempotency-Key"),
    )
    return WalletCredit(transaction=WalletTransaction.of(entry), wallet=Wallet.of(wallet))


@routes.operation(
    "GET",
    "/wallets/{id}/transactions",
    summary="List a wallet's ledger entries, newest first",
    tag=TAG,
    response=WalletTransaction,
    paginated=True,
)
async def list_wallet_transactions(context: ApiContext) -> Page:
    after = context.starting_after
    if after is not None and not (after.isascii() and after.isdigit() and len(after) <= 18):
        raise InvalidRequest(
            {"starting_after": ("invalid", "must be the id of a transaction of this wallet")},
            "the query string is invalid",
        )
    entries, has_more = await wallets.list_ledger(
        context.pool,
        tenant_id=context.tenant.id,
        wallet_id=context.path("id"),
        limit=context.limit,
        starting_after=int(after) if after is not None else None,
    )
    return Page([WalletTransaction.of(e) for e in entries], has_more=has_more)
