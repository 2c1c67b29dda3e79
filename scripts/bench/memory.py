"""Figures 4 and 5: TCP connections used by sequential calls, and memory growth over many calls.

Each side gets one fresh client: the server's counters are reset, ``connection_calls`` calls
(also the warm-up for the memory figure), then RSS around ``memory_calls`` calls, then
tracemalloc around further calls (apart from the RSS figure, since tracing costs memory itself).
"""

from __future__ import annotations

import gc
import os
import tracemalloc
from typing import Any

from . import callers
from .child.bench_request import API_KEY
from .config import Settings
from .server import Server


def rss_bytes() -> int:
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def traced_growth(run: callers.Run, calls: int) -> int:
    """Net bytes tracemalloc still holds after ``calls`` calls (after a tenth as many first)."""
    tracemalloc.start()
    try:
        run(max(calls // 10, 1))
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        run(calls)
        gc.collect()
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def measure_side(server: Server, run: callers.Run, settings: Settings) -> dict[str, Any]:
    server.reset()
    run(settings.connection_calls)
    first = server.stats()
    gc.collect()
    rss_before = rss_bytes()
    run(settings.memory_calls)
    gc.collect()
    rss_after = rss_bytes()
    total = server.stats()
    return {
        "connection_calls": settings.connection_calls,
        "connections": first["connections"],
        "requests_seen": first["requests"],
        "connections_all_calls": total["connections"],
        "requests_all_calls": total["requests"],
        "memory_calls": settings.memory_calls,
        "rss_growth_mb": (rss_after - rss_before) / 2**20,
        "rss_after_mb": rss_after / 2**20,
        "tracemalloc_calls": settings.tracemalloc_calls,
        "tracemalloc_growth_bytes": traced_growth(run, settings.tracemalloc_calls),
    }


def connections_and_memory(server: Server, settings: Settings) -> dict[str, Any]:
    from tapti_ext import Tapti  # noqa: PLC0415

    results: dict[str, Any] = {}
    with Tapti(api_key=API_KEY, base_url=server.url) as tapti:
        results["sdk"] = measure_side(server, callers.sdk(tapti), settings)
    with callers.httpx_client(server.url) as client:
        results["httpx2"] = measure_side(server, callers.plain_httpx(client), settings)
    return results
