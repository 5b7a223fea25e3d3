"""Whether this process is serving requests now, for work that should give way to them."""

from __future__ import annotations

import time

# A worker that answered a request this recently is serving, even between two requests.
RECENT_SECONDS = 0.05


class RequestsInFlight:
    """Kept by the outermost middleware: a count up on arrival and down on the answer, and
    the moment the last request arrived.

    Background jobs sharing the worker's event loop read `busy()` and run fewer steps
    at once while it is true, so a batch of renewals slows down rather than the pages.
    Nothing is woken per request: a job that waits looks again after a pause.
    """

    __slots__ = ("count", "last_arrival")

    def __init__(self) -> None:
        self.count = 0
        self.last_arrival = float("-inf")  # time.perf_counter() of the latest request

    def arrived(self, now: float) -> None:
        self.count += 1
        self.last_arrival = now

    def answered(self) -> None:
        self.count -= 1

    def busy(self) -> bool:
        return self.count > 0 or time.perf_counter() - self.last_arrival < RECENT_SECONDS
