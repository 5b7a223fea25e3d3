"""Background loops stop when the gateway stops, even when a cancellation was swallowed."""

from __future__ import annotations

import asyncio

from gateway.background import reraise_if_cancelled, stop_tasks


async def test_a_loop_that_swallowed_its_cancellation_is_cancelled_again() -> None:
    swallowed = []

    async def stubborn() -> None:
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                # What asyncio.wait_for does on Python 3.11 when the inner call ends at
                # the moment of the cancellation: the cancellation is gone.
                if not swallowed:
                    swallowed.append(True)
                    continue
                raise

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    await asyncio.wait_for(stop_tasks([task]), 60)
    assert swallowed
    assert task.cancelled()


async def test_a_retry_loop_hands_on_a_cancellation_that_came_back_as_an_error() -> None:
    async def retry_loop() -> None:
        while True:
            try:
                try:
                    await asyncio.sleep(3600)
                except asyncio.CancelledError:
                    raise OSError("connection lost while cancelling") from None
            except Exception:
                reraise_if_cancelled()
            await asyncio.sleep(3600)

    task = asyncio.create_task(retry_loop())
    await asyncio.sleep(0)
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=60)
    assert task in done
    assert task.cancelled()


async def test_errors_the_tasks_ended_with_are_not_raised_by_stop() -> None:
    async def broken() -> None:
        raise RuntimeError("a bug")

    task = asyncio.create_task(broken())
    await asyncio.sleep(0)
    await stop_tasks([task])
    assert isinstance(task.exception(), RuntimeError)
