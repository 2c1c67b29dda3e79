"""Where a cold start's milliseconds go: ``python -X importtime``, parsed and compared."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

PREFIX = "import time:"


def parse(stderr: str) -> dict[str, int]:
    """Each module's own import time in µs (the "self" column), by dotted name."""
    found: dict[str, int] = {}
    for line in stderr.splitlines():
        if not line.startswith(PREFIX):
            continue
        self_us, _cumulative, name = line[len(PREFIX) :].split("|", 2)
        if self_us.strip().isdigit():  # the header line has words there
            found[name.strip()] = int(self_us)
    return found


def best_of(runs: list[dict[str, int]]) -> dict[str, int]:
    """Per module, the smallest time of all runs that imported it: noise only adds time."""
    best: dict[str, int] = {}
    for run in runs:
        for name, micros in run.items():
            best[name] = min(micros, best.get(name, micros))
    return best


def beyond(side: dict[str, int], baseline: dict[str, int], top: int = 15) -> dict[str, Any]:
    """The modules ``side`` imports that ``baseline`` does not, by package and the costliest."""
    extra = {name: micros for name, micros in side.items() if name not in baseline}
    packages: dict[str, list[int]] = defaultdict(list)
    for name, micros in extra.items():
        packages[name.split(".", 1)[0]].append(micros)
    totals = sorted(packages.items(), key=lambda item: -sum(item[1]))
    by_package = [
        {"package": name, "modules": len(times), "self_ms": sum(times) / 1e3}
        for name, times in totals
    ]
    costliest = sorted(extra.items(), key=lambda item: -item[1])[:top]
    return {
        "modules": len(extra),
        "self_ms": sum(extra.values()) / 1e3,
        "by_package": by_package,
        "costliest": [{"module": name, "self_ms": micros / 1e3} for name, micros in costliest],
    }
