"""API resources for wallets: create, read, credit, and list the ledger."""

from __future__ import annotations

from typing import Any

from billing import wallets
from billing.wallets import LedgerEntry, Wallet
from gateway.api.billing_fields import AMOUNT, CURRENCY, CURRENCY_INPUT, TIMESTAMP, id_schema
from gateway.api.framework import ApiContext, ApiRoutes, Page
from gateway.errors import BadRequest

routes = ApiRoutes()
TAG = "wallets"

WALLET = routes.schema(
    "Wallet",
    {
        "type": "object",
        "required": ["id", "object", "customer", "name", "currency", "balance", "created_at"],
        "properties": {
            "id": id_schema("wal"),
            "object": {"const": "wallet"},
            "customer": id_schema("cus"),
            "name": {"type": "string"},
            "currency": CURRENCY,
            "balance": AMOUNT,
            "created_at": TIMESTAMP,
        },
    },
)
WALLET_TRANSACTION = routes.schema(
    "WalletTransaction",
    {
        "type": "object",
        "required": [
            "id",
            "object",
            "wallet",
            "amount",
            "balance_after",
            "kind",
            "description",
            "created_at",
        ],
        "properties": {
            "id": {"type": "string", "description": "Increases with every entry."},
            "object": {"const": "wallet_transaction"},
            "wallet": id_schema("wal"),
            "amount": {**AMOUNT, "description": "Positive for credits, negative for debits."},
            "balance_after": AMOUNT,
            "kind": {"enum": ["topup", "grant", "debit", "adjustment"]},
            "description": {"type": "string"},
            "invoice": {"type": ["string", "null"]},
            "created_at": TIMESTAMP,
        },
    },
)
WALLET_CREATE = routes.schema(
    "WalletCreate",
    {
        "type": "object",
        "additionalProperties": False,
        "required": ["customer", "currency"],
        "properties": {
            "customer": {"type": "string", "maxLength": 100},
            "currency": {**CURRENCY_INPUT, "description": "One wallet per customer and currency."},
            "name": {"type": "string", "minLength": 1, "maxLength": 100, "default": "Credits"},
        },
    },
)
WALLET_CREDIT = routes.schema(
    "WalletCreditCreate",
    {
        "type": "object",
        "additionalProperties": False,
        "required": ["amount"],
        "properties": {
            "amount": {**AMOUNT, "minimum": 1, "maximum": 10**12},
            "description": {"type": "string", "maxLength": 500, "default": ""},
        },
    },
)
WALLET_CREDIT_RESULT = routes.schema(
    "WalletCredit",
    {
        "type": "object",
        "required": ["object", "transaction", "wallet"],
        "properties": {
            "object": {"const": "wallet_credit"},
            "transaction": WALLET_TRANSACTION,
            "wallet": WALLET,
        },
    },
)


def wallet_json(wallet: Wallet) -> dict[str, Any]:
    return {
        "id": wallet.id,
        "object": "wallet",
        "customer": wallet.customer_id,
        "name": wallet.name,
        "currency": wallet.currency,
        "balance": wallet.balance,
        "created_at": wallet.created_at,
    }


def transaction_json(entry: LedgerEntry) -> dict[str, Any]:
    return {
        "id": str(entry.id),
        "object": "wallet_transaction",
        "wallet": entry.wallet_id,
        "amount": entry.amount,
        "balance_after": entry.balance_after,
        "kind": entry.kind,
        "description": entry.description,
        "invoice": entry.invoice_id,
        "created_at": entry.created_at,
    }


@routes.operation(
    "POST",
    "/wallets",
    summary="Create a wallet for a customer",
    tag=TAG,
    request=WALLET_CREATE,
    response=WALLET,
    status=201,
)
async def create_wallet(context: ApiContext) -> dict[str, Any]:
    wallet = await wallets.create_wallet(
        context.pool,
        tenant_id=context.tenant.id,
        customer_id=context.body["customer"],
        currency=context.body["currency"],
        name=context.body.get("name", "Credits"),
    )
    return wallet_json(wallet)


@routes.operation("GET", "/wallets/{id}", summary="Read a wallet", tag=TAG, response=WALLET)
async def get_wallet(context: ApiContext) -> dict[str, Any]:
    wallet = await wallets.get_wallet(
        context.pool, tenant_id=context.tenant.id, wallet_id=context.path("id")
    )
    return wallet_json(wallet)


@routes.operation(
    "POST",
    "/wallets/{id}/credits",
    summary="Credit a wallet (send an Idempotency-Key to make retries safe)",
    tag=TAG,
    request=WALLET_CREDIT,
    response=WALLET_CREDIT_RESULT,
    status=201,
)
async def credit_wallet(context: ApiContext) -> dict[str, Any]:
    # The ledger also remembers the Idempotency-Key, so even a retry whose stored
    # API response was lost cannot credit twice.
    wallet, entry = await wallets.credit_wallet(
        context.pool,
        tenant_id=context.tenant.id,
        wallet_id=context.path("id"),
        amount=context.body["amount"],
        kind="grant",
        description=context.body.get("description", ""),
        idempotency_key=context.request.headers.get("Idempotency-Key"),
    )
    return {
        "object": "wallet_credit",
        "transaction": transaction_json(entry),
        "wallet": wallet_json(wallet),
    }


@routes.operation(
    "GET",
    "/wallets/{id}/transactions",
    summary="List a wallet's ledger entries, newest first",
    tag=TAG,
    response=WALLET_TRANSACTION,
    paginated=True,
)
async def list_wallet_transactions(context: ApiContext) -> Page:
    after = context.starting_after
    if after is not None and not (after.isascii() and after.isdigit() and len(after) <= 18):
        raise BadRequest(
            "the query string is invalid",
            errors={"starting_after": "must be the id of a transaction of this wallet"},
        )
    entries, has_more = await wallets.list_ledger(
        context.pool,
        tenant_id=context.tenant.id,
        wallet_id=context.path("id"),
        limit=context.limit,
        starting_after=int(after) if after is not None else None,
    )
    return Page([transaction_json(e) for e in entries], has_more=has_more)
