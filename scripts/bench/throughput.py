"""Figure 3: async throughput at concurrency 50, ``AsyncTapti`` against ``httpx2.AsyncClient``.

Target: at least 1.0x (issue 18: AsyncTapti must not be the slower way to call the API).

Paired rounds, every round on a fresh client per side, judged by the median of the paired
ratios rather than best against best: here noise does not only add time. httpcore2's pool at
concurrency 50 (above its 20 keep-alive connections) falls into modes up to 2x apart in CPU per
call, some faster than its steady state, so one lucky round would decide a best-of comparison; a
fresh pool starts every round from the same state, so rounds are independent samples.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx2

from .child.bench_request import (
    API_KEY,
    BODY,
    CALLBACK_URL,
    PLATFORMS,
    REDIRECT_URL,
    SCOPES,
    USER_ID,
    path_for,
    user_ids,
)
from .config import Settings
from .server import Server

SIDES = ("sdk", "httpx2")


async def run_concurrently(
    call: Callable[[], Awaitable[None]], total: int, concurrency: int
) -> tuple[float, float]:
    """``total`` calls from ``concurrency`` workers: calls per second, CPU µs per call."""
    remaining = total

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await call()

    cpu_start, wall_start = time.thread_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall, cpu = time.perf_counter() - wall_start, time.thread_time() - cpu_start
    return total / wall, cpu / total * 1e6


async def sdk_round(url: str, calls: int, concurrency: int) -> tuple[float, float]:
    from tapti_ext import AsyncTapti  # noqa: PLC0415

    ids = user_ids(USER_ID)
    async with AsyncTapti(api_key=API_KEY, base_url=url) as tapti:

        async def call() -> None:
            await tapti.user(next(ids)).create_sdk_token(
                platforms=PLATFORMS,
                scopes=SCOPES,
                callback_url=CALLBACK_URL,
                redirect_url=REDIRECT_URL,
            )

        return await run_concurrently(call, calls, concurrency)


async def httpx_round(url: str, calls: int, concurrency: int) -> tuple[float, float]:
    ids = user_ids(USER_ID)
    async with httpx2.AsyncClient(base_url=url, headers={"x-api-key": API_KEY}) as client:

        async def call() -> None:
            response = await client.post(path_for(next(ids)), json=BODY)
            response.raise_for_status()
            response.json()["oauth_portal_url"]

        return await run_concurrently(call, calls, concurrency)


ROUNDS = {"sdk": sdk_round, "httpx2": httpx_round}


async def async_throughput(server: Server, settings: Settings) -> dict[str, Any]:
    rate: dict[str, list[float]] = {name: [] for name in SIDES}
    cpu: dict[str, list[float]] = {name: [] for name in SIDES}
    connects: dict[str, list[int]] = {name: [] for name in SIDES}
    for name in SIDES:
        await ROUNDS[name](server.url, settings.async_warmup_calls, settings.async_concurrency)
    gc.collect()
    for index in range(settings.async_rounds):
        for name in SIDES if index % 2 == 0 else SIDES[::-1]:
            accepted = server.stats()["accepted"]
            calls_per_s, cpu_us = await ROUNDS[name](
                server.url, settings.async_calls, settings.async_concurrency
            )
            connects[name].append(server.stats()["accepted"] - accepted)
            rate[name].append(calls_per_s)
            cpu[name].append(cpu_us)
    return summarize(rate, cpu, connects, settings)


def summarize(
    rate: dict[str, list[float]],
    cpu: dict[str, list[float]],
    connects: dict[str, list[int]],
    settings: Settings,
) -> dict[str, Any]:
    return {
        "calls_per_round": settings.async_calls,
        "concurrency": settings.async_concurrency,
        "rounds": settings.async_rounds,
        "calls_per_s": rate,
        "cpu_us_per_call": cpu,
        "connections_opened": connects,
        "median_calls_per_s": {name: statistics.median(values) for name, values in rate.items()},
        "best_calls_per_s": {name: max(values) for name, values in rate.items()},
        "median_cpu_us_per_call": {name: statistics.median(values) for name, values in cpu.items()},
        "ratio_throughput": statistics.median(
            s / h for s, h in zip(rate["sdk"], rate["httpx2"], strict=True)
        ),
        "ratio_throughput_best": max(rate["sdk"]) / max(rate["httpx2"]),
        "ratio_cpu": statistics.median(
            s / h for s, h in zip(cpu["sdk"], cpu["httpx2"], strict=True)
        ),
    }
