"""Background tasks that stop when asked: cancellation that survives Python 3.11's races.

On Python 3.11 `asyncio.wait_for` (and libraries built on it, asyncpg's connect
among them) can return the inner result or raise the inner error when a
cancellation arrives at the same moment, consuming the cancellation. A retry
loop that then catches `Exception` and sleeps would run on after it was told to
stop, and whoever awaits it on shutdown would wait for ever. Retry loops call
`reraise_if_cancelled()` in their `except Exception` branch, and owners stop
their tasks with `stop_tasks()`, which cancels again what is still running.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

logger = logging.getLogger(__name__)

# How long a cancelled task gets before it is cancelled again.
CANCEL_ROUND_SECONDS = 1.0


def reraise_if_cancelled() -> None:
    """In a retry loop's `except Exception`: raise CancelledError if this task was cancelled.

    A cancellation consumed by an awaited call leaves `Task.cancelling()` above zero.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def stop_tasks(tasks: Iterable[asyncio.Task[Any]]) -> None:
    """Cancel `tasks` and wait until every one has ended, cancelling again any that swallowed
    the cancellation. Errors the tasks ended with are logged, never raised."""
    tasks = list(tasks)
    pending = {task for task in tasks if not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=CANCEL_ROUND_SECONDS)
    for task in tasks:
        if task.cancelled():
            continue
        error = task.exception()
        if error is not None:
            logger.debug("task %s ended with an error", task.get_name(), exc_info=error)
