"""Many clients in one fresh process: CPU and RSS per client, construction and close.

    python construct.py SIDE URL COUNT

SIDE is ``sdk`` (``Tapti``), ``generated`` (``AuthenticatedClient`` with its httpx2 client built,
as its first call builds it) or ``httpx2`` (``httpx2.Client``). One client is made and closed
first, so that what a process pays once (imports, the SDK's shared TLS context) is not counted;
then COUNT clients are made and kept (RSS measured while all are alive), then all are closed
(RSS measured again). Prints one JSON object. No call is made: this is the cost of the client.
"""

# ruff: noqa: PLC0415  (each side imports its own library, and only its own, when it runs)

import gc
import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from bench_request import API_KEY

Pair = tuple[Callable[[], Any], Callable[[Any], None]]


def sdk(url: str) -> Pair:
    from tapti_ext import Tapti

    return (lambda: Tapti(api_key=API_KEY, base_url=url)), (lambda client: client.close())


def generated(url: str) -> Pair:
    from tapti_api_client import AuthenticatedClient

    def make() -> Any:
        client = AuthenticatedClient(
            base_url=url, token=API_KEY, prefix="", auth_header_name="x-api-key"
        )
        client.get_httpx_client()
        return client

    return make, (lambda client: client.get_httpx_client().close())


def plain_httpx(url: str) -> Pair:
    import httpx2

    def make() -> Any:
        return httpx2.Client(base_url=url, headers={"x-api-key": API_KEY})

    return make, (lambda client: client.close())


SIDES = {"sdk": sdk, "generated": generated, "httpx2": plain_httpx}


def rss() -> int:
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def measure(make: Callable[[], Any], close: Callable[[Any], None], count: int) -> dict[str, float]:
    close(make())
    gc.collect()
    rss_start = rss()
    cpu_start = time.thread_time()
    clients = [make() for _ in range(count)]
    cpu_made = time.thread_time()
    rss_alive = rss()
    cpu_close = time.thread_time()
    for client in clients:
        close(client)
    cpu_closed = time.thread_time()
    clients.clear()
    gc.collect()
    rss_end = rss()
    return {
        "clients": count,
        "cpu_ms_per_client": ((cpu_made - cpu_start) + (cpu_closed - cpu_close)) / count * 1e3,
        "construct_cpu_ms_per_client": (cpu_made - cpu_start) / count * 1e3,
        "rss_kb_per_client_alive": (rss_alive - rss_start) / count / 1024,
        "rss_kb_per_client_after_close": (rss_end - rss_start) / count / 1024,
        "rss_mb_start": rss_start / 2**20,
    }


if __name__ == "__main__":
    side, url, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    print(json.dumps(measure(*SIDES[side](url), count)))
