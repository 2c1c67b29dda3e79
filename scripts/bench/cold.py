"""Figure 1: cold start to process exit, over https, in fresh processes, against two baselines.

Three sides start in turn: the SDK, the generated client (``tapti_api_client`` over httpx2, what
the SDK wraps) and raw httpx2. Each round starts every side once, the order rotating through all
six permutations, so drift on the machine reaches every side alike. Each side is judged by its
fastest start: a process start has no fast mode, noise only adds to it. Each start is timed from
``subprocess.run`` to the child's exit (imports, client, one call, the interpreter's teardown).
The calls go over HTTPS to a loopback server whose certificate a throwaway CA signed, every side
trusting the same realistic bundle (the system's CA certificates plus that CA) through
``SSL_CERT_FILE`` (``tls.py``), as a user's calls to the real API would.
"""

from __future__ import annotations

import itertools
import os
import statistics
import subprocess
import sys
import time
from typing import Any

from . import importtime
from .config import BENCH_DIR, CHILD_SCRIPT, FORBIDDEN_MODULES, SIDES, Settings
from .server import Server
from .tls import Tls, self_signed

# What each side imports before it can make a call (information only: figure 1 judges the call).
IMPORTS = {
    "sdk": "from tapti_ext import Tapti",
    "generated": "from tapti_api_client import AuthenticatedClient; "
    "from tapti_api_client.api.users import create_sdk_token; "
    "from tapti_api_client.models import CreateSdkTokenRequest",
    "httpx2": "import httpx2",
}
# Variables that would change what a child imports or whether it reuses cached bytecode.
DROPPED_VARIABLES = (
    "PYTHONDONTWRITEBYTECODE",
    "PYTHONPATH",
    "PYTHONSTARTUP",
    "PYTHONPROFILEIMPORTTIME",
)


def child_env(tls: Tls) -> dict[str, str]:
    """This environment without what would make the sides differ (every side reuses bytecode),
    and with the CA bundle that trusts the test server in ``SSL_CERT_FILE``; also the
    environment of figure 6's children."""
    env = {k: v for k, v in os.environ.items() if k not in DROPPED_VARIABLES}
    env.pop("SSL_CERT_DIR", None)
    env["SSL_CERT_FILE"] = str(tls.bundle)
    return env


def run_child(
    argv: list[str], env: dict[str, str]
) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, *argv], env=env, cwd=BENCH_DIR, capture_output=True, text=True, check=False
    )
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"a cold-start child failed: {argv}\n{proc.stderr}")
    return elapsed, proc


def first_call(side: str, url: str, delay_us: int, *, report: bool = False) -> list[str]:
    """The child's argv; only the SDK side gets the injected delay."""
    delay = delay_us if side == "sdk" else 0
    return [str(CHILD_SCRIPT), side, url, str(delay), "1" if report else "0"]


def timed_rounds(
    commands: dict[str, list[str]], rounds: int, env: dict[str, str]
) -> dict[str, list[float]]:
    """Seconds per start, per side; one warm-up start each writes the bytecode all reuse."""
    for argv in commands.values():
        run_child(argv, env)
    orders = list(itertools.permutations(commands))
    times: dict[str, list[float]] = {side: [] for side in commands}
    for index in range(rounds):
        for side in orders[index % len(orders)]:
            times[side].append(run_child(commands[side], env)[0])
    return times


def compare(times: dict[str, list[float]], side: str, base: str) -> dict[str, float]:
    """``side`` against ``base``: best against best, and the median of the per-round ratios."""
    ratios = [s / b for s, b in zip(times[side], times[base], strict=True)]
    return {
        "ratio_min_vs_min": min(times[side]) / min(times[base]),
        "ratio_median_of_rounds": statistics.median(ratios),
    }


def summary(times: dict[str, list[float]]) -> dict[str, Any]:
    return {
        "rounds": len(times["sdk"]),
        "min_ms": {side: min(values) * 1e3 for side, values in times.items()},
        "median_ms": {side: statistics.median(values) * 1e3 for side, values in times.items()},
        "sdk_vs_generated": compare(times, "sdk", "generated"),
        "sdk_vs_httpx": compare(times, "sdk", "httpx2"),
        "generated_vs_httpx": compare(times, "generated", "httpx2"),
        "seconds": times,
    }


def loaded_modules(url: str, delay_us: int, env: dict[str, str]) -> dict[str, Any]:
    """What each side holds in ``sys.modules`` after its call; the forbidden ones the SDK has."""
    loaded = {
        side: set(run_child(first_call(side, url, delay_us, report=True), env)[1].stdout.split())
        for side in SIDES
    }
    forbidden = sorted(
        name
        for name in loaded["sdk"]
        if any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN_MODULES)
    )
    return {
        "forbidden_checked": list(FORBIDDEN_MODULES),
        "forbidden_imported": forbidden,
        "count": {side: len(names) for side, names in loaded.items()},
        "sdk_beyond_generated": sorted(loaded["sdk"] - loaded["generated"]),
        "sdk_beyond_httpx": sorted(loaded["sdk"] - loaded["httpx2"]),
    }


def import_times(url: str, runs: int, env: dict[str, str]) -> dict[str, Any]:
    """``-X importtime`` of each side's first call, best of ``runs``, compared side to side."""
    best = {}
    for side in SIDES:
        argv = ["-X", "importtime", *first_call(side, url, 0)]
        best[side] = importtime.best_of(
            [importtime.parse(run_child(argv, env)[1].stderr) for _ in range(runs)]
        )
    return {
        "runs": runs,
        "sdk_beyond_httpx": importtime.beyond(best["sdk"], best["httpx2"]),
        "sdk_beyond_generated": importtime.beyond(best["sdk"], best["generated"]),
        "generated_beyond_httpx": importtime.beyond(best["generated"], best["httpx2"]),
    }


def cold_start(settings: Settings, delay_us: int) -> dict[str, Any]:
    """Every part of figure 1, against an HTTPS server of its own (``tls.py`` says why)."""
    tls = self_signed(BENCH_DIR / "tls")
    env = child_env(tls)
    with Server(tls) as server:
        calls = {side: first_call(side, server.url, delay_us) for side in SIDES}
        imports = {side: ["-c", code] for side, code in IMPORTS.items()}
        return {
            "scheme": "https",
            "ssl_cert_file": {
                "made_from": tls.system_bundle,
                "certificates": tls.bundle_certificates,
            },
            "first_call": summary(timed_rounds(calls, settings.cold_rounds, env)),
            "import": summary(timed_rounds(imports, settings.import_rounds, env)),
            "modules": loaded_modules(server.url, delay_us, env),
            "importtime": import_times(server.url, settings.importtime_runs, env),
        }
