"""`make bench`: what the SDK costs on top of raw httpx, as ratios measured in one run.

Five figures, each against raw httpx in the same run (docs/benchmarks.md has the method):

1. cold start to the first call, in fresh processes (plus ``from tapti_ext import Tapti`` against
   ``import httpx``, and the modules a plain call must not import);
2. client CPU time per sync call, against ``httpx.Client.post`` and the generated client;
3. async throughput at concurrency 50, against ``httpx.AsyncClient``;
4. TCP connections used by 1,000 sequential calls on one client;
5. RSS growth over 20,000 calls on one client.

Every call goes to ``scripts/bench_server.py``, a keep-alive HTTP server in its own process.
Timings are paired (SDK and baseline back to back, alternating which goes first) and each side
is judged by its best round, because noise on a shared machine only ever adds time.

    python scripts/bench.py                      # the full run, a few minutes
    python scripts/bench.py --smoke              # seconds: proves the script works, judges nothing
    python scripts/bench.py --inject-delay-us 50 # busy-waits in the SDK's call path: must MISS

Writes a JSON file (``--json``, default ``.bench/results.json``, or ``.bench/smoke.json`` with
``--smoke``) and exits 0 whether or not a target is met, unless ``--strict`` is given.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import gc
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from tapti_ext import Tapti

ROOT = Path(__file__).resolve().parent.parent
SERVER_SCRIPT = ROOT / "scripts" / "bench_server.py"
BENCH_DIR = ROOT / ".bench"

API_KEY = "bench-key"
USER_ID = "u1"
CALLBACK_URL = "https://a.example/cb"
REDIRECT_URL = "https://a.example/r"
PLATFORMS = ["youtube"]
SCOPES = ["profile_read"]
PATH = f"/users/{USER_ID}/sdk-token"
# Exactly the JSON the SDK sends for the call above.
BODY = {
    "user_platforms": ["YOUTUBE"],
    "enabled_scopes": ["PROFILE_READ"],
    "callback_url": CALLBACK_URL,
    "redirect_url": REDIRECT_URL,
}
# What a plain create_sdk_token call has no use for: it must not be imported by one.
FORBIDDEN_MODULES = (
    "tapti_ext.__main__",
    "tapti_ext._cli",
    "tapti_ext._raw",
    "tapti_ext.testing",
    "dateutil",
    "argparse",
    "respx",
    "http.server",
)

# One busy-wait, used both here and in the cold-start children, so that --inject-delay-us
# puts the same fixed cost into every SDK call. It wraps Call.parse, which every sync and
# async create_sdk_token call goes through once; tapti_ext itself is not touched.
DELAY_SOURCE = """
def _install_delay(delay_ns):
    import time
    from tapti_ext._call import Call
    original = Call.parse
    def parse(self, response):
        end = time.perf_counter_ns() + delay_ns
        while time.perf_counter_ns() < end:
            pass
        return original(self, response)
    Call.parse = parse
"""

SDK_CHILD = """
from tapti_ext import Tapti
{delay}
tapti = Tapti(api_key={key!r}, base_url={url!r})
token = tapti.user({user!r}).create_sdk_token(
    platforms={platforms!r}, scopes={scopes!r}, callback_url={callback!r}, redirect_url={redirect!r}
)
assert token.oauth_portal_url.startswith("https://")
tapti.close()
{report}
"""

HTTPX_CHILD = """
import httpx
client = httpx.Client(base_url={url!r}, headers={{"x-api-key": {key!r}}})
response = client.post({path!r}, json={body!r})
response.raise_for_status()
assert response.json()["oauth_portal_url"].startswith("https://")
client.close()
{report}
"""

REPORT_MODULES = "import sys; print(' '.join(sorted(sys.modules)))"


@dataclasses.dataclass(frozen=True)
class Settings:
    cold_pairs: int
    import_pairs: int
    rounds: int
    calls_per_round: int
    warmup_calls: int
    async_calls: int
    async_concurrency: int
    async_rounds: int
    async_warmup_calls: int
    connection_calls: int
    memory_calls: int
    tracemalloc_calls: int


FULL = Settings(
    cold_pairs=31,
    import_pairs=21,
    rounds=150,
    calls_per_round=100,
    warmup_calls=1_000,
    async_calls=5_000,
    async_concurrency=50,
    async_rounds=5,
    async_warmup_calls=1_000,
    connection_calls=1_000,
    memory_calls=20_000,
    tracemalloc_calls=2_000,
)
SMOKE = Settings(
    cold_pairs=2,
    import_pairs=2,
    rounds=6,
    calls_per_round=20,
    warmup_calls=50,
    async_calls=300,
    async_concurrency=50,
    async_rounds=1,
    async_warmup_calls=100,
    connection_calls=100,
    memory_calls=500,
    tracemalloc_calls=100,
)

TARGET_COLD = 1.20
TARGET_SYNC = 1.05
TARGET_ASYNC = 0.95
TARGET_CONNECTIONS = 1
TARGET_RSS_MB = 5.0


def install_delay(delay_us: int) -> None:
    namespace: dict[str, Any] = {}
    exec(DELAY_SOURCE, namespace)
    namespace["_install_delay"](delay_us * 1000)


def delay_snippet(delay_us: int) -> str:
    if not delay_us:
        return ""
    return DELAY_SOURCE + f"_install_delay({delay_us * 1000})\n"


# --- the server -----------------------------------------------------------------------------


class Server:
    """``bench_server.py`` in a process of its own, and its control endpoints."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(SERVER_SCRIPT)], stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("PORT "):
            self.process.kill()
            raise SystemExit(f"bench_server.py did not start: {line!r}")
        self.url = f"http://127.0.0.1:{int(line.split()[1])}"
        self.control = httpx.Client(base_url=self.url)

    def reset(self) -> None:
        self.control.post("/__reset").raise_for_status()

    def stats(self) -> dict[str, int]:
        response = self.control.get("/__stats")
        response.raise_for_status()
        result: dict[str, int] = response.json()
        return result

    def stop(self) -> None:
        self.control.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


# --- 1. cold start ----------------------------------------------------------------------------


def child_env() -> dict[str, str]:
    """This environment without PYTHONDONTWRITEBYTECODE: both sides start from cached bytecode."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def run_child(code: str, env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=BENCH_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"a cold-start child failed:\n{code}\n{proc.stderr}")
    return elapsed, proc.stdout


def paired_children(sdk_code: str, base_code: str, pairs: int) -> dict[str, Any]:
    env = child_env()
    run_child(sdk_code, env)  # warm-up: writes the bytecode both sides then start from
    run_child(base_code, env)
    sdk_times: list[float] = []
    base_times: list[float] = []
    ratios: list[float] = []
    for index in range(pairs):
        if index % 2 == 0:
            sdk, _ = run_child(sdk_code, env)
            base, _ = run_child(base_code, env)
        else:
            base, _ = run_child(base_code, env)
            sdk, _ = run_child(sdk_code, env)
        sdk_times.append(sdk)
        base_times.append(base)
        ratios.append(sdk / base)
    return {
        "pairs": pairs,
        "sdk_min_ms": min(sdk_times) * 1e3,
        "sdk_median_ms": statistics.median(sdk_times) * 1e3,
        "httpx_min_ms": min(base_times) * 1e3,
        "httpx_median_ms": statistics.median(base_times) * 1e3,
        "ratio_min_vs_min": min(sdk_times) / min(base_times),
        "ratio_median_of_pairs": statistics.median(ratios),
    }


def cold_start(server: Server, settings: Settings, delay_us: int) -> dict[str, Any]:
    fields = {
        "key": API_KEY,
        "url": server.url,
        "user": USER_ID,
        "platforms": PLATFORMS,
        "scopes": SCOPES,
        "callback": CALLBACK_URL,
        "redirect": REDIRECT_URL,
        "path": PATH,
        "body": BODY,
        "delay": delay_snippet(delay_us),
    }
    sdk_code = SDK_CHILD.format(report="", **fields)
    base_code = HTTPX_CHILD.format(report="", **fields)
    first_call = paired_children(sdk_code, base_code, settings.cold_pairs)
    imports = paired_children("from tapti_ext import Tapti", "import httpx", settings.import_pairs)

    env = child_env()
    _, sdk_modules = run_child(SDK_CHILD.format(report=REPORT_MODULES, **fields), env)
    _, base_modules = run_child(HTTPX_CHILD.format(report=REPORT_MODULES, **fields), env)
    loaded = set(sdk_modules.split())
    extra = sorted(loaded - set(base_modules.split()))
    forbidden = sorted(
        name
        for name in loaded
        if any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN_MODULES)
    )
    return {
        "first_call": first_call,
        "import": imports,
        "forbidden_checked": list(FORBIDDEN_MODULES),
        "forbidden_imported": forbidden,
        "modules_sdk": len(loaded),
        "modules_httpx": len(base_modules.split()),
        "modules_beyond_httpx": extra,
    }


# --- 2. sync per call ---------------------------------------------------------------------


def sdk_caller(tapti: Tapti) -> Callable[[int], None]:
    def sdk(calls: int) -> None:
        for _ in range(calls):
            tapti.user(USER_ID).create_sdk_token(
                platforms=PLATFORMS,
                scopes=SCOPES,
                callback_url=CALLBACK_URL,
                redirect_url=REDIRECT_URL,
            )

    return sdk


def httpx_caller(client: httpx.Client) -> Callable[[int], None]:
    def plain(calls: int) -> None:
        for _ in range(calls):
            response = client.post(PATH, json=BODY)
            response.raise_for_status()
            response.json()["oauth_portal_url"]

    return plain


def sync_per_call(server: Server, settings: Settings) -> dict[str, Any]:
    from tapti_api_client.api.users import create_sdk_token  # noqa: PLC0415
    from tapti_api_client.models import (  # noqa: PLC0415
        CreateSdkTokenRequest,
        CreateSdkTokenResponse,
        Platform,
        Scope,
    )

    from tapti_ext import Tapti  # noqa: PLC0415

    tapti = Tapti(api_key=API_KEY, base_url=server.url)
    generated_client = tapti.raw
    client = httpx.Client(base_url=server.url, headers={"x-api-key": API_KEY})

    def generated(calls: int) -> None:
        for _ in range(calls):
            body = CreateSdkTokenRequest(
                user_platforms=[Platform.YOUTUBE],
                enabled_scopes=[Scope.PROFILE_READ],
                callback_url=CALLBACK_URL,
                redirect_url=REDIRECT_URL,
            )
            response = create_sdk_token.sync_detailed(USER_ID, client=generated_client, body=body)
            if not isinstance(response.parsed, CreateSdkTokenResponse):
                raise SystemExit(f"the generated client got {response.status_code}")

    sides = {"sdk": sdk_caller(tapti), "httpx": httpx_caller(client), "generated": generated}
    try:
        results = paired_rounds(sides, settings)
    finally:
        tapti.close()
        client.close()
    cpu, wall = results["cpu_us"], results["wall_us"]
    return {
        "calls_per_side": settings.rounds * settings.calls_per_round,
        "rounds": settings.rounds,
        "calls_per_round": settings.calls_per_round,
        "best_cpu_us": {name: min(values) for name, values in cpu.items()},
        "best_wall_us": {name: min(values) for name, values in wall.items()},
        "median_cpu_us": {name: statistics.median(values) for name, values in cpu.items()},
        "ratio_cpu": min(cpu["sdk"]) / min(cpu["httpx"]),
        "ratio_cpu_generated": min(cpu["generated"]) / min(cpu["httpx"]),
        "ratio_cpu_sdk_vs_generated": min(cpu["sdk"]) / min(cpu["generated"]),
        "ratio_wall": min(wall["sdk"]) / min(wall["httpx"]),
        "ratio_cpu_median_of_rounds": statistics.median(
            s / h for s, h in zip(cpu["sdk"], cpu["httpx"], strict=True)
        ),
    }


def paired_rounds(
    sides: dict[str, Callable[[int], None]], settings: Settings
) -> dict[str, dict[str, list[float]]]:
    """Many short rounds, all sides back to back, the order rotating through every permutation."""
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
            run = sides[name]
            cpu_start = time.thread_time()
            wall_start = time.perf_counter()
            run(calls)
            wall_end = time.perf_counter()
            cpu_end = time.thread_time()
            cpu[name].append((cpu_end - cpu_start) / calls * 1e6)
            wall[name].append((wall_end - wall_start) / calls * 1e6)
    return {"cpu_us": cpu, "wall_us": wall}


# --- 3. async throughput ------------------------------------------------------------------


async def async_throughput(server: Server, settings: Settings) -> dict[str, Any]:
    """Paired rounds of ``async_calls`` calls each, every round on a fresh client per side.

    Judged by the median of the paired throughput ratios, not by best against best: here noise
    does not only add time. httpcore's pool at concurrency 50 (above its 20 keep-alive
    connections) falls into modes that differ by up to 2x in CPU per call, some of them faster
    than its steady state (a round that reconnected for every call ran at 800 calls/s against
    ~440), so one lucky round on one side would decide a best-of comparison. A fresh pool per
    round starts both sides from the same state, so each round is an independent sample.
    """
    rate: dict[str, list[float]] = {"sdk": [], "httpx": []}
    cpu: dict[str, list[float]] = {"sdk": [], "httpx": []}
    connects: dict[str, list[int]] = {"sdk": [], "httpx": []}
    for name in ("sdk", "httpx"):
        await async_round(name, server, settings.async_warmup_calls, settings.async_concurrency)
    gc.collect()
    for index in range(settings.async_rounds):
        for name in ("sdk", "httpx") if index % 2 == 0 else ("httpx", "sdk"):
            accepted = server.stats()["accepted"]
            calls_per_s, cpu_us = await async_round(
                name, server, settings.async_calls, settings.async_concurrency
            )
            connects[name].append(server.stats()["accepted"] - accepted)
            rate[name].append(calls_per_s)
            cpu[name].append(cpu_us)
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
            s / h for s, h in zip(rate["sdk"], rate["httpx"], strict=True)
        ),
        "ratio_throughput_best": max(rate["sdk"]) / max(rate["httpx"]),
        "ratio_cpu": statistics.median(
            s / h for s, h in zip(cpu["sdk"], cpu["httpx"], strict=True)
        ),
    }


async def async_round(
    name: str, server: Server, calls: int, concurrency: int
) -> tuple[float, float]:
    """One round on a fresh client: calls per second and CPU µs per call."""
    from tapti_ext import AsyncTapti  # noqa: PLC0415

    if name == "sdk":
        async with AsyncTapti(api_key=API_KEY, base_url=server.url) as tapti:

            async def sdk() -> None:
                await tapti.user(USER_ID).create_sdk_token(
                    platforms=PLATFORMS,
                    scopes=SCOPES,
                    callback_url=CALLBACK_URL,
                    redirect_url=REDIRECT_URL,
                )

            return await run_concurrently(sdk, calls, concurrency)
    async with httpx.AsyncClient(base_url=server.url, headers={"x-api-key": API_KEY}) as client:

        async def plain() -> None:
            response = await client.post(PATH, json=BODY)
            response.raise_for_status()
            response.json()["oauth_portal_url"]

        return await run_concurrently(plain, calls, concurrency)


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

    cpu_start = time.thread_time()
    wall_start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - wall_start
    cpu = time.thread_time() - cpu_start
    return total / wall, cpu / total * 1e6


# --- 4 and 5. connections and memory -----------------------------------------------------


def rss_bytes() -> int:
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def connections_and_memory(server: Server, settings: Settings) -> dict[str, Any]:
    """On one fresh client per side: connections used, then RSS and tracemalloc growth."""
    from tapti_ext import Tapti  # noqa: PLC0415

    results: dict[str, Any] = {}
    for side in ("sdk", "httpx"):
        if side == "sdk":
            tapti = Tapti(api_key=API_KEY, base_url=server.url)
            calls, close = sdk_caller(tapti), tapti.close
        else:
            client = httpx.Client(base_url=server.url, headers={"x-api-key": API_KEY})
            calls, close = httpx_caller(client), client.close
        try:
            server.reset()
            calls(settings.connection_calls)  # also the warm-up before the memory figure
            first = server.stats()
            gc.collect()
            rss_before = rss_bytes()
            calls(settings.memory_calls)
            gc.collect()
            rss_after = rss_bytes()
            total = server.stats()
            tracemalloc.start()
            calls(settings.tracemalloc_calls // 10)
            gc.collect()
            traced_before = tracemalloc.get_traced_memory()[0]
            calls(settings.tracemalloc_calls)
            gc.collect()
            traced_after = tracemalloc.get_traced_memory()[0]
            tracemalloc.stop()
        finally:
            close()
        results[side] = {
            "connection_calls": settings.connection_calls,
            "connections": first["connections"],
            "requests_seen": first["requests"],
            "connections_all_calls": total["connections"],
            "requests_all_calls": total["requests"],
            "memory_calls": settings.memory_calls,
            "rss_growth_mb": (rss_after - rss_before) / 2**20,
            "rss_after_mb": rss_after / 2**20,
            "tracemalloc_calls": settings.tracemalloc_calls,
            "tracemalloc_growth_bytes": traced_after - traced_before,
        }
    return results


# --- report ---------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    model = "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import tapti_ext  # noqa: PLC0415

    return {
        "cpus": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "cpu_model": model,
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "httpx": httpx.__version__,
        "tapti": tapti_ext.__version__,
        "loadavg_start": os.getloadavg(),
    }


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def build_table(figures: dict[str, Any]) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []

    def row(figure: str, measured: str, target: str, result: str, detail: str = "") -> None:
        rows.append(
            {
                "figure": figure,
                "measured": measured,
                "target": target,
                "result": result,
                "detail": detail,
            }
        )

    if "cold_start" in figures:
        cold = figures["cold_start"]
        first, imports = cold["first_call"], cold["import"]
        ratio = first["ratio_min_vs_min"]
        row(
            "1. cold start to first call",
            f"{ratio:.3f}x",
            f"<= {TARGET_COLD:.2f}x",
            verdict(ratio <= TARGET_COLD),
            f"min {first['sdk_min_ms']:.1f} ms vs {first['httpx_min_ms']:.1f} ms; "
            f"median of {first['pairs']} paired ratios {first['ratio_median_of_pairs']:.3f}x",
        )
        bad = cold["forbidden_imported"]
        row(
            "1. modules a plain call must not import",
            ", ".join(bad) if bad else "none",
            "none",
            verdict(not bad),
            f"{cold['modules_sdk']} modules vs {cold['modules_httpx']} for httpx",
        )
        row(
            "1. from tapti_ext import Tapti vs import httpx",
            f"{imports['ratio_min_vs_min']:.3f}x",
            "(info)",
            "",
            f"min {imports['sdk_min_ms']:.1f} ms vs {imports['httpx_min_ms']:.1f} ms; "
            f"median of paired ratios {imports['ratio_median_of_pairs']:.3f}x",
        )
    if "sync" in figures:
        sync = figures["sync"]
        cpu, wall = sync["best_cpu_us"], sync["best_wall_us"]
        row(
            "2. sync CPU per call vs httpx",
            f"{sync['ratio_cpu']:.3f}x",
            f"<= {TARGET_SYNC:.2f}x",
            verdict(sync["ratio_cpu"] <= TARGET_SYNC),
            f"best round {cpu['sdk']:.1f} vs {cpu['httpx']:.1f} µs CPU; "
            f"{sync['calls_per_side']} calls a side",
        )
        row(
            "2. sync CPU, generated client vs httpx",
            f"{sync['ratio_cpu_generated']:.3f}x",
            "(info, ~1.03x)",
            "",
            f"{cpu['generated']:.1f} µs CPU; SDK vs generated "
            f"{sync['ratio_cpu_sdk_vs_generated']:.3f}x",
        )
        row(
            "2. sync wall per call vs httpx",
            f"{sync['ratio_wall']:.3f}x",
            "(info)",
            "",
            f"best round {wall['sdk']:.1f} vs {wall['httpx']:.1f} µs wall "
            f"(generated {wall['generated']:.1f})",
        )
    if "async" in figures:
        fig = figures["async"]
        median, best = fig["median_calls_per_s"], fig["best_calls_per_s"]
        row(
            "3. async throughput vs httpx",
            f"{fig['ratio_throughput']:.3f}x",
            f">= {TARGET_ASYNC:.2f}x",
            verdict(fig["ratio_throughput"] >= TARGET_ASYNC),
            f"median of {fig['rounds']} paired ratios; median round {median['sdk']:.0f} vs "
            f"{median['httpx']:.0f} calls/s, best {best['sdk']:.0f} vs {best['httpx']:.0f} "
            f"({fig['ratio_throughput_best']:.3f}x); {fig['calls_per_round']} calls a round at "
            f"concurrency {fig['concurrency']}; CPU per call {fig['ratio_cpu']:.3f}x",
        )
    if "reuse_memory" in figures:
        sdk, base = figures["reuse_memory"]["sdk"], figures["reuse_memory"]["httpx"]
        row(
            f"4. TCP connections, {sdk['connection_calls']} sequential calls",
            str(sdk["connections"]),
            f"== {TARGET_CONNECTIONS}",
            verdict(
                sdk["connections"] == TARGET_CONNECTIONS
                and sdk["requests_seen"] == sdk["connection_calls"]
            ),
            f"httpx {base['connections']}; over all "
            f"{sdk['requests_all_calls']} calls: {sdk['connections_all_calls']}",
        )
        row(
            f"5. RSS growth over {sdk['memory_calls']} calls",
            f"{sdk['rss_growth_mb']:.2f} MB",
            f"< {TARGET_RSS_MB:.0f} MB",
            verdict(sdk["rss_growth_mb"] < TARGET_RSS_MB),
            f"httpx {base['rss_growth_mb']:.2f} MB; tracemalloc over "
            f"{sdk['tracemalloc_calls']} calls {sdk['tracemalloc_growth_bytes'] / 1024:+.1f} KiB "
            f"(httpx {base['tracemalloc_growth_bytes'] / 1024:+.1f} KiB)",
        )
    return rows


def print_table(rows: list[dict[str, str]]) -> None:
    headers = {"figure": "Figure", "measured": "Measured", "target": "Target", "result": "Result"}
    widths = {key: max(len(headers[key]), *(len(r[key]) for r in rows)) for key in headers}
    line = "  ".join(headers[key].ljust(widths[key]) for key in headers)
    print(line)
    print("-" * len(line))
    for r in rows:
        print("  ".join(r[key].ljust(widths[key]) for key in headers).rstrip())
        if r["detail"]:
            print(" " * 4 + r["detail"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--smoke", action="store_true", help="a few iterations: judges nothing")
    parser.add_argument(
        "--inject-delay-us",
        type=int,
        default=0,
        metavar="N",
        help="busy-wait N µs in every SDK call (proves the benchmark can fail)",
    )
    parser.add_argument("--json", type=Path, default=None, metavar="PATH")
    parser.add_argument(
        "--figures", default="1,2,3,4", help="which to run, e.g. 2,3 (4 means figures 4 and 5)"
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    if args.inject_delay_us < 0:
        parser.error("--inject-delay-us must be >= 0")
    settings = SMOKE if args.smoke else FULL
    wanted = {part.strip() for part in args.figures.split(",") if part.strip()}
    json_path = args.json or BENCH_DIR / ("smoke.json" if args.smoke else "results.json")
    BENCH_DIR.mkdir(exist_ok=True)

    if args.inject_delay_us:
        install_delay(args.inject_delay_us)
    info = machine()
    started = time.perf_counter()
    figures: dict[str, Any] = {}
    server = Server()
    try:
        if "1" in wanted:
            print("1. cold start ...", flush=True)
            figures["cold_start"] = cold_start(server, settings, args.inject_delay_us)
        if "2" in wanted:
            print("2. sync per call ...", flush=True)
            figures["sync"] = sync_per_call(server, settings)
        if "3" in wanted:
            print("3. async throughput ...", flush=True)
            figures["async"] = asyncio.run(async_throughput(server, settings))
        if "4" in wanted or "5" in wanted:
            print("4/5. connection reuse and memory ...", flush=True)
            figures["reuse_memory"] = connections_and_memory(server, settings)
    finally:
        server.stop()
    info["loadavg_end"] = os.getloadavg()
    rows = build_table(figures)
    missed = [r["figure"] for r in rows if r["result"] == "MISS"]

    print()
    mode = "smoke" if args.smoke else "full"
    delay = f", SDK call path delayed {args.inject_delay_us} µs" if args.inject_delay_us else ""
    print(f"Tapti SDK vs raw httpx ({mode} run{delay}, {time.perf_counter() - started:.0f} s)")
    print(
        f"{info['cpu_model']}, {info['cpus_usable']} CPUs, Python {info['python']}, "
        f"httpx {info['httpx']}, load {info['loadavg_start'][0]:.2f} -> "
        f"{info['loadavg_end'][0]:.2f}"
    )
    print()
    print_table(rows)
    print()
    if args.smoke:
        print("smoke run: too few iterations for any ratio to mean anything; nothing is judged.")
    elif missed:
        print(f"MISSED {len(missed)} target(s): " + "; ".join(missed))
    else:
        print("every target met.")

    report = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "mode": mode,
        "inject_delay_us": args.inject_delay_us,
        "machine": info,
        "settings": dataclasses.asdict(settings),
        "figures": figures,
        "table": rows,
        "missed": missed,
    }
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"results written to {json_path}")
    return 1 if (args.strict and missed and not args.smoke) else 0


if __name__ == "__main__":
    raise SystemExit(main())
