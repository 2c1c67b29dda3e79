"""Figure 2's arithmetic (scripts/bench/percall.py, report.py), on rounds made up for it.

Each side meets httpx2 in a rotation of its own; these check that every ratio is taken within
one rotation, and that what the report prints beside a ratio reproduces it.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
_ALLOCATOR = {"fixed": True, "trim_threshold": 256 << 20, "mmap_threshold": 32 << 20}


@pytest.fixture(scope="module")
def bench() -> tuple[ModuleType, ModuleType]:
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        from bench import percall, report  # noqa: PLC0415  (a script's package)
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    return percall, report


def _rotation(side: str, side_us: list[float], httpx2_us: list[float]) -> dict[str, Any]:
    return {
        "cpu_us": {side: side_us, "httpx2": httpx2_us},
        "wall_us": {side: [v * 1.1 for v in side_us], "httpx2": [v * 1.1 for v in httpx2_us]},
        "page_faults_per_call": {side: 0.0, "httpx2": 0.0},
    }


def test_each_ratio_is_taken_within_its_own_rotation(
    bench: tuple[ModuleType, ModuleType],
) -> None:
    percall, report = bench
    # The SDK at 0.95x httpx2; the machine 10% slower during the second rotation, where the
    # generated client equals httpx2: pairing across rotations would read 1.10x.
    sdk = _rotation("sdk", [95.0, 96.0, 97.0], [100.0, 101.0, 102.0])
    generated = _rotation("generated", [110.0, 111.1, 112.2], [110.0, 111.1, 112.2])
    fig = percall.summarize(sdk, generated, 1024, False, 3, 40)
    assert fig["ratio_cpu"] == pytest.approx(0.95, abs=0.002)
    assert fig["ratio_cpu_generated"] == pytest.approx(1.0)
    assert fig["ratio_cpu_best"] == pytest.approx(0.95)
    assert fig["ratio_cpu_generated_best"] == pytest.approx(1.0)
    assert fig["ratio_cpu_sdk_vs_generated_unpaired"] == pytest.approx(0.95, abs=0.002)
    assert set(fig["rounds_cpu_us"]) == {"sdk_vs_httpx2", "generated_vs_httpx2"}

    (printed, *_) = report.sync_rows({"variants": {"1024": fig}, "allocator": _ALLOCATOR})
    assert printed["measured"] == "0.950x"
    assert printed["result"] == "PASS"
    # The best rounds shown beside each ratio are that ratio's own: 95.0/100.0, 110.0/110.0.
    assert "best rounds SDK 95.0, httpx2 100.0 µs (0.950x)" in printed["detail"]
    assert "1.000x httpx2 (best 110.0 vs 110.0 µs)" in printed["detail"]


def test_a_slower_sdk_misses(bench: tuple[ModuleType, ModuleType]) -> None:
    percall, report = bench
    sdk = _rotation("sdk", [103.0, 104.0, 105.0], [100.0, 101.0, 102.0])
    generated = _rotation("generated", [100.0, 100.0, 100.0], [100.0, 100.0, 100.0])
    fig = percall.summarize(sdk, generated, 921600, True, 3, 5)
    (printed, *_) = report.sync_rows({"variants": {"x": fig}, "allocator": _ALLOCATOR})
    assert printed["result"] == "MISS"
    assert printed["figure"] == "2. sync CPU per call vs httpx2, 900 KiB gzip"
