"""The challenge store: answers any replica can serve to the CA's validator, and that expire."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
import pytest

from certs.challenges import HTTP_01, TLS_ALPN_01, ChallengeStore, http01_response

TOKEN = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA"
KEY_AUTHORIZATION = TOKEN + ".9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI"


async def test_http01_answer_is_served_by_token_until_deleted(pool: asyncpg.Pool) -> None:
    store = ChallengeStore()
    await store.put(
        pool,
        kind=HTTP_01,
        name="Billing.Alpeak.test",
        token=TOKEN,
        key_authorization=KEY_AUTHORIZATION,
    )

    assert await http01_response(pool, TOKEN) == KEY_AUTHORIZATION
    assert await http01_response(pool, TOKEN, name="billing.alpeak.test") == KEY_AUTHORIZATION
    assert await http01_response(pool, TOKEN, name="other.alpeak.test") is None
    assert await http01_response(pool, "unknown-token") is None

    await store.delete(pool, kind=HTTP_01, name="billing.alpeak.test", token=TOKEN)
    assert await http01_response(pool, TOKEN) is None


async def test_expired_answer_is_not_served_and_is_purged(pool: asyncpg.Pool) -> None:
    store = ChallengeStore()
    await store.put(
        pool,
        kind=HTTP_01,
        name="billing.alpeak.test",
        token=TOKEN,
        key_authorization=KEY_AUTHORIZATION,
        ttl=timedelta(seconds=-1),
    )
    await store.put(
        pool,
        kind=HTTP_01,
        name="billing.alpeak.test",
        token="fresh-token",
        key_authorization="fresh-token.x",
    )

    assert await http01_response(pool, TOKEN) is None
    assert await store.get(pool, kind=HTTP_01, name="billing.alpeak.test", token=TOKEN) is None
    assert await store.purge_expired(pool) == 1
    assert await http01_response(pool, "fresh-token") == "fresh-token.x"


async def test_tls_alpn01_answer_is_found_by_name_alone(pool: asyncpg.Pool) -> None:
    store = ChallengeStore()
    await store.put(
        pool,
        kind=TLS_ALPN_01,
        name="billing.alpeak.test",
        token=TOKEN,
        key_authorization=KEY_AUTHORIZATION,
    )

    assert await store.tls_alpn01_key_authorization(pool, "billing.alpeak.test") == (
        KEY_AUTHORIZATION
    )
    assert await store.tls_alpn01_key_authorization(pool, "other.alpeak.test") is None
    # An HTTP-01 request for the same token is not answered with a TLS-ALPN-01 proof.
    assert await http01_response(pool, TOKEN) is None


async def test_putting_the_same_challenge_again_replaces_the_answer(pool: asyncpg.Pool) -> None:
    store = ChallengeStore()
    for value in ("first", "second"):
        await store.put(
            pool, kind=HTTP_01, name="billing.alpeak.test", token=TOKEN, key_authorization=value
        )

    assert await http01_response(pool, TOKEN) == "second"


async def test_unknown_challenge_kind_is_refused(pool: asyncpg.Pool) -> None:
    with pytest.raises(ValueError, match="dns-01"):
        await ChallengeStore().put(
            pool, kind="dns-01", name="billing.alpeak.test", token=TOKEN, key_authorization="x"
        )
