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

# The three sides of the cold start, in the order the table lists them.
SIDES = ("sdk", "generated", "httpx2")

# What a plain create_sdk_token call has no use for: it must not be imported by one.
FORBIDDEN_MODULES = (
    "tapti_ext.__main__",
    "tapti_ext._cli",
    "tapti_ext._cli_api",
    "tapti_ext._raw",
    "tapti_ext.testing",
    "dateutil",
    "argparse",
    "respx",
    "http.server",
)
# Installed with httpx2's command-line extra, never by the SDK: the clean venv must not hold them
# (with them there, `import httpx2` costs ~40 ms more and every cold-start ratio looks better).
NOT_IN_CLEAN_VENV = ("click", "rich", "pygments")

TARGET_COLD_VS_GENERATED = 1.03
TARGET_SYNC_CPU = 1.00
TARGET_ASYNC = 0.95
TARGET_CONNECTIONS = 1
TARGET_RSS_MB = 5.0


@dataclasses.dataclass(frozen=True)
class Settings:
    cold_rounds: int  # each round starts every side once
    import_rounds: int
    importtime_runs: int
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
    cold_rounds=31,
    import_rounds=21,
    importtime_runs=5,
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
    cold_rounds=2,
    import_rounds=2,
    importtime_runs=1,
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
