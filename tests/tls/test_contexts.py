"""The context LRU: memory stays bounded, hot names stay, renewed names are reloaded."""

from __future__ import annotations

import ssl

import pytest

from gateway.tls.contexts import ContextCache


def new_context() -> ssl.SSLContext:
    return ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)


def test_cache_never_holds_more_than_its_bound() -> None:
    cache = ContextCache(max_size=3)
    for index in range(10):
        cache.put(f"n{index}.test", new_context())
    assert len(cache) == 3
    assert cache.names() == ["n7.test", "n8.test", "n9.test"]
    assert cache.evictions == 7


def test_recently_used_name_survives_eviction() -> None:
    cache = ContextCache(max_size=2)
    first = new_context()
    cache.put("a.test", first)
    cache.put("b.test", new_context())
    assert cache.get("a.test") is first  # a.test is now the most recently used
    cache.put("c.test", new_context())
    assert "a.test" in cache
    assert "b.test" not in cache
    assert cache.get("b.test") is None
    assert (cache.hits, cache.misses) == (1, 1)


def test_replacing_a_name_does_not_grow_the_cache() -> None:
    cache = ContextCache(max_size=2)
    cache.put("a.test", new_context())
    renewed = new_context()
    cache.put("a.test", renewed)
    assert len(cache) == 1
    assert cache.get("a.test") is renewed


def test_invalidated_name_is_loaded_again() -> None:
    cache = ContextCache(max_size=2)
    cache.put("a.test", new_context())
    assert cache.invalidate("A.test")
    assert cache.get("a.test") is None
    assert not cache.invalidate("a.test")


def test_names_match_exactly_ignoring_case_and_never_by_wildcard() -> None:
    cache = ContextCache(max_size=4)
    context = new_context()
    cache.put("*.alpeak.test", context)
    cache.put("Billing.Alpeak.test", context)
    assert cache.get("billing.alpeak.test") is context
    assert cache.get("shop.alpeak.test") is None
    assert cache.get("alpeak.test") is None


def test_bound_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one"):
        ContextCache(max_size=0)
