"""Figure 6: what one more client costs over https, in CPU and RSS, construction and close.

A backend that creates a client per request (common, if wasteful) pays this on every request.
httpx2 loads the CA bundle into a new TLS context for every ``httpx2.Client``; the SDK keeps one
per process and trust setting (``tapti_ext._pool._ssl_context``). Each side runs in fresh
processes (``child/construct.py``), so that one side's freed memory never becomes another's
cheap allocation, with ``SSL_CERT_FILE`` set to the same realistic bundle as figure 1
(``tls.py``). The base URL is the SDK's real default, ``https://api.tapti.ai``: no connection is
made, and a non-loopback host makes the SDK read the proxy variables, as it would for users.
Each figure is the best of ``client_runs`` processes (noise only adds CPU time and RSS).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from .cold import child_env
from .config import BENCH_DIR, CONSTRUCT_SCRIPT, Settings
from .tls import self_signed

URL = "https://api.tapti.ai"
SIDES = ("sdk", "httpx2", "generated")
_FIELDS = (
    "cpu_ms_per_client",
    "construct_cpu_ms_per_client",
    "rss_kb_per_client_alive",
    "rss_kb_per_client_after_close",
)


def run_side(side: str, count: int, env: dict[str, str]) -> dict[str, float]:
    argv = [sys.executable, str(CONSTRUCT_SCRIPT), side, URL, str(count)]
    proc = subprocess.run(argv, env=env, cwd=BENCH_DIR, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"the construction child failed: {side}\n{proc.stderr}")
    result: dict[str, float] = json.loads(proc.stdout)
    return result


def client_cost(settings: Settings) -> dict[str, Any]:
    tls = self_signed(BENCH_DIR / "tls")
    env = child_env(tls)
    counts = {
        "sdk": settings.clients,
        "httpx2": settings.baseline_clients,
        "generated": settings.baseline_clients,
    }
    runs: dict[str, list[dict[str, float]]] = {side: [] for side in SIDES}
    for index in range(settings.client_runs):
        order = SIDES[index % len(SIDES) :] + SIDES[: index % len(SIDES)]
        for side in order:
            runs[side].append(run_side(side, counts[side], env))
    best = {
        side: {field: min(run[field] for run in results) for field in _FIELDS}
        for side, results in runs.items()
    }
    return {
        "url": URL,
        "ssl_cert_file": str(Path(tls.bundle)),
        "bundle_certificates": tls.bundle_certificates,
        "clients": counts,
        "runs": settings.client_runs,
        "best": best,
        "all_runs": runs,
    }
