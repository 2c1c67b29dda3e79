"""Paths, iteration counts and targets: everything a reader may want to change in one place."""

from __future__ import annotations

import dataclasses
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts"
BENCH_DIR = ROOT / ".bench"
PACKAGE = Path(__file__).resolve().parent
SERVER_SCRIPT = PACKAGE / "http_server.py"
CHILD_SCRIPT = PACKAGE / "child" / "first_call.py"
CONSTRUCT_SCRIPT = PACKAGE / "child" / "construct.py"

# The three sides of the cold start, in the order the table lists them.
SIDES = ("sdk", "generated", "httpx2")

# What a plain create_sdk_token call has no use for: it must not be imported by one.
FORBIDDEN_MODULES = (
    "tapti_ext.__main__",
    "tapti_ext._cli",
    "tapti_ext._cli_api",
    "tapti_ext._raw",
    "tapti_ext._tunnel",
    "tapti_ext.testing",
    "dateutil",
    "argparse",
    "respx",
    "http.server",
)
# Installed with httpx2's command-line extra, never by the SDK: the clean venv must not hold them
# (with them there, `import httpx2` costs ~40 ms more and every cold-start ratio looks better).
NOT_IN_CLEAN_VENV = ("click", "rich", "pygments")

# Figure 2's answers: decoded body sizes up to just under the SDK's 1 MiB cap, each sent as is
# and gzip-encoded (the server reads which from the user id: ``bench_request.sized_user``).
BODY_SIZES = (200, 1024, 64 * 1024, 900 * 1024)
BODY_VARIANTS = tuple((size, gzipped) for size in BODY_SIZES for gzipped in (False, True))

TARGET_COLD_VS_GENERATED = 1.03
TARGET_SYNC_CPU = 1.00
TARGET_ASYNC = 1.00
TARGET_CONNECTIONS = 1
TARGET_RSS_MB = 5.0
# Figure 6: one more client over https, construction and close.
TARGET_CLIENT_CPU_MS = 1.0
TARGET_CLIENT_RSS_KB = 50.0


@dataclasses.dataclass(frozen=True)
class Settings:
    cold_rounds: int  # each round starts every side once
    import_rounds: int
    importtime_runs: int
    # Figure 2, per body size: (rounds, calls per round); a round of each side takes ~15-30 ms.
    sync_plan: tuple[tuple[int, int, int], ...]
    async_calls: int
    async_concurrency: int
    async_rounds: int
    async_warmup_calls: int
    connection_calls: int
    memory_calls: int
    tracemalloc_calls: int
    clients: int  # figure 6: SDK clients made in one process
    baseline_clients: int  # httpx2 and generated clients (each loads its own CA bundle)
    client_runs: int  # fresh processes per side; each figure is the best run

    def sync_rounds(self, size: int) -> tuple[int, int]:
        """(rounds, calls per round) for answers of ``size`` bytes."""
        for largest, rounds, calls in self.sync_plan:
            if size <= largest:
                return rounds, calls
        raise ValueError(f"no sync plan for {size}-byte bodies")


FULL = Settings(
    cold_rounds=31,
    import_rounds=21,
    importtime_runs=5,
    sync_plan=((1024, 100, 40), (64 * 1024, 80, 20), (1 << 20, 60, 5)),
    async_calls=3_000,
    async_concurrency=50,
    async_rounds=9,
    async_warmup_calls=1_000,
    connection_calls=1_000,
    memory_calls=20_000,
    tracemalloc_calls=2_000,
    clients=1_000,
    baseline_clients=100,
    client_runs=3,
)
SMOKE = Settings(
    cold_rounds=2,
    import_rounds=2,
    importtime_runs=1,
    sync_plan=((1 << 20, 3, 3),),
    async_calls=300,
    async_concurrency=50,
    async_rounds=1,
    async_warmup_calls=100,
    connection_calls=100,
    memory_calls=500,
    tracemalloc_calls=100,
    clients=20,
    baseline_clients=5,
    client_runs=1,
)
