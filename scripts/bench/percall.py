"""Figure 2: the client's own CPU time per sync call, against raw httpx2 and the generated client.

Many short rounds, every side back to back, the order rotating through all six permutations;
each side is judged by its best round, because noise on a shared machine only ever adds time.
"""

from __future__ import annotations

import gc
import itertools
import statistics
import time
from contextlib import ExitStack
from typing import Any

from . import callers
from .child.bench_request import API_KEY
from .config import Settings


def paired_rounds(
    sides: dict[str, callers.Run], settings: Settings
) -> dict[str, dict[str, list[float]]]:
    """CPU and wall µs per call of every round, per side."""
    names = list(sides)
    for name in names:
        sides[name](settings.warmup_calls)
    orders = list(itertools.permutations(names))
    cpu: dict[str, list[float]] = {name: [] for name in names}
    wall: dict[str, list[float]] = {name: [] for name in names}
    calls = settings.calls_per_round
    gc.collect()
    for index in range(settings.rounds):
        for name in orders[index % len(orders)]:
            cpu_start, wall_start = time.thread_time(), time.perf_counter()
            sides[name](calls)
            wall_end, cpu_end = time.perf_counter(), time.thread_time()
            cpu[name].append((cpu_end - cpu_start) / calls * 1e6)
            wall[name].append((wall_end - wall_start) / calls * 1e6)
    return {"cpu_us": cpu, "wall_us": wall}


def sync_per_call(url: str, settings: Settings) -> dict[str, Any]:
    from tapti_ext import Tapti  # noqa: PLC0415

    with ExitStack() as stack:
        tapti = stack.enter_context(Tapti(api_key=API_KEY, base_url=url))
        plain = stack.enter_context(callers.httpx_client(url))
        generated = stack.enter_context(callers.generated_client(url))
        sides = {
            "sdk": callers.sdk(tapti),
            "httpx2": callers.plain_httpx(plain),
            "generated": callers.generated(generated),
        }
        results = paired_rounds(sides, settings)
    return summarize(results, settings)


def summarize(results: dict[str, dict[str, list[float]]], settings: Settings) -> dict[str, Any]:
    cpu, wall = results["cpu_us"], results["wall_us"]
    best_cpu = {name: min(values) for name, values in cpu.items()}
    best_wall = {name: min(values) for name, values in wall.items()}
    return {
        "calls_per_side": settings.rounds * settings.calls_per_round,
        "rounds": settings.rounds,
        "calls_per_round": settings.calls_per_round,
        "best_cpu_us": best_cpu,
        "best_wall_us": best_wall,
        "median_cpu_us": {name: statistics.median(values) for name, values in cpu.items()},
        "ratio_cpu": best_cpu["sdk"] / best_cpu["httpx2"],
        "ratio_cpu_generated": best_cpu["generated"] / best_cpu["httpx2"],
        "ratio_cpu_sdk_vs_generated": best_cpu["sdk"] / best_cpu["generated"],
        "ratio_wall": best_wall["sdk"] / best_wall["httpx2"],
        "ratio_cpu_median_of_rounds": statistics.median(
            s / h for s, h in zip(cpu["sdk"], cpu["httpx2"], strict=True)
        ),
        "rounds_cpu_us": cpu,
    }
