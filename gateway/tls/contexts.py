"""The in-memory LRU of server SSL contexts, one per exact server name.

A context with an ECDSA P-256 chain holds about 22 KB, so the cache is bounded
by count: 100,000 names would need about 2.2 GB, a few thousand hot names fit
in tens of MB. A miss is not an error: the caller loads the certificate from
PostgreSQL and `put`s the new context.

Names match exactly, after lower-casing: the cache never matches a wildcard
(`*.example.com` is only ever a literal key), since every tenant domain gets
its own certificate. The cache is meant for one event loop: no locking, every
operation O(1).
"""

from __future__ import annotations

import ssl
from collections import OrderedDict


class ContextCache:
    """Least-recently-used map of server name -> SSLContext, holding at most `max_size` entries."""

    def __init__(self, max_size: int) -> None:
        if max_size < 1:
            raise ValueError("the context cache must hold at least one context")
        self.max_size = max_size
        self._contexts: OrderedDict[str, ssl.SSLContext] = OrderedDict()
        self.hits = 0
        self.misses = 0
        self.evictions = 0

    def __len__(self) -> int:
        return len(self._contexts)

    def __contains__(self, name: object) -> bool:
        """Whether `name` is cached; does not count as a use."""
        return isinstance(name, str) and _key(name) in self._contexts

    def get(self, name: str) -> ssl.SSLContext | None:
        """The context for exactly `name` (now the most recently used), or None."""
        key = _key(name)
        context = self._contexts.get(key)
        if context is None:
            self.misses += 1
            return None
        self._contexts.move_to_end(key)
        self.hits += 1
        return context

    def put(self, name: str, context: ssl.SSLContext) -> None:
        """Cache (or replace) the context for `name`, evicting the least recently used beyond
        the bound. Connections already using a replaced or evicted context keep it."""
        key = _key(name)
        self._contexts[key] = context
        self._contexts.move_to_end(key)
        while len(self._contexts) > self.max_size:
            self._contexts.popitem(last=False)
            self.evictions += 1

    def invalidate(self, name: str) -> bool:
        """Forget `name` (its certificate was renewed or revoked); whether it was cached."""
        return self._contexts.pop(_key(name), None) is not None

    def clear(self) -> None:
        self._contexts.clear()

    def names(self) -> list[str]:
        """Cached names, least recently used first."""
        return list(self._contexts)


def _key(name: str) -> str:
    return name.lower()
