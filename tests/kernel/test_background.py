"""Background loops stop when the gateway stops, even when a cancellation was swallowed, and
LISTEN connections come back quickly after a database outage."""

from __future__ import annotations

import asyncio
import itertools

import asyncpg
import pytest

from kernel.background import (
    RETRY_MAX_SECONDS,
    follow_channel,
    following_channel,
    reraise_if_cancelled,
    run_passes,
    stop_tasks,
)
from tests.conftest import eventually
from tests.fixtures.pebble import free_port


async def test_a_loop_that_swallowed_its_cancellation_is_cancelled_again() -> None:
    swallowed: list[bool] = []

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


async def test_a_listener_whose_database_is_away_retries_at_least_every_two_seconds(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A real pool aimed at a port nothing listens on: every acquire is refused at once.
    pool = await asyncpg.create_pool(f"postgresql://gateway@127.0.0.1:{free_port()}/x", min_size=0)
    listens: list[bool] = []
    task = asyncio.create_task(
        follow_channel(
            pool,
            channel="gateway_hosts",
            role="test listener",
            on_notify=lambda *_: None,
            on_listen=lambda: listens.append(True),
            health_check_seconds=30.0,
            retry_initial_seconds=0.25,
        )
    )
    try:
        # 0.25, 0.5, 1 and 2 s, then the cap: bounded by the count of attempts, not by time.
        await eventually(lambda: asyncio.sleep(0, len(pauses(caplog))), lambda n: n >= 6, within=60)
    finally:
        await stop_tasks([task])
        await pool.close()
    logged = pauses(caplog)
    assert logged[:4] == [0.25, 0.5, 1.0, 2.0]
    assert max(logged) == RETRY_MAX_SECONDS == 2.0
    assert not listens


def pauses(caplog: pytest.LogCaptureFixture) -> list[float]:
    """The reconnect pauses the listener logged, in order."""
    return [
        float(str(record.args[-1]))
        for record in caplog.records
        if "reconnecting in" in str(record.msg) and isinstance(record.args, tuple)
    ]


async def test_a_job_following_a_channel_starts_and_stops_while_the_database_is_away(
    caplog: pytest.LogCaptureFixture,
) -> None:
    pool = await asyncpg.create_pool(f"postgresql://gateway@127.0.0.1:{free_port()}/x", min_size=0)
    ran = []
    try:
        async with asyncio.timeout(30):
            async with following_channel(
                pool,
                channel="gateway_domains_due",
                role="test job",
                on_notify=lambda *_: None,
                on_listen=lambda: None,
            ):
                ran.append(True)  # the job runs at once: it polls while nobody listens
                await eventually(lambda: asyncio.sleep(0, len(pauses(caplog))), bool)
    finally:
        await pool.close()
    assert ran
    assert "test job listener failed" in caplog.text
    assert not [task for task in asyncio.all_tasks() if task.get_name() == "test job listener"]


async def test_a_job_sleeps_only_until_its_next_due_moment_and_no_longer_than_its_interval() -> (
    None
):
    passes: list[float] = []
    waits = itertools.chain([0.2, 3600.0, 0.2], itertools.repeat(3600.0))

    async def one_pass() -> bool:
        passes.append(asyncio.get_running_loop().time())
        return False

    async def next_wait() -> float:
        return next(waits)

    task = asyncio.create_task(
        run_passes(
            one_pass, wake=asyncio.Event(), interval=0.5, role="test job", next_wait=next_wait
        )
    )
    try:
        await eventually(lambda: asyncio.sleep(0, len(passes)), lambda count: count >= 4)
    finally:
        await stop_tasks([task])
    gaps = [later - earlier for earlier, later in itertools.pairwise(passes)]
    # 0.2 s as asked; 3600 s capped at the 0.5 s interval; 0.2 s again.
    assert 0.15 < gaps[0] < 0.45
    assert 0.45 < gaps[1] < 1.0
    assert 0.15 < gaps[2] < 0.45
