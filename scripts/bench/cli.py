"""``make bench``: what the SDK costs on top of the generated client and raw httpx2, as ratios.

Run from the development environment, it builds the wheel, makes (or reuses) a clean venv
holding only that wheel and its runtime dependencies (``cleanvenv.py``), and runs itself again
there with ``--measure``: the development environment is never the measured one.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import importlib.util
import json
import os
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import cleanvenv, clients, cold, memory, percall, report, throughput
from .child import slowdown
from .config import BENCH_DIR, FULL, NOT_IN_CLEAN_VENV, SCRIPTS, SMOKE, Settings
from .server import Server


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="make bench", description=__doc__.split("\n", 1)[0])
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
        "--figures",
        default="1,2,3,4,6",
        help="which to run, e.g. 2,3 (4 means figures 4 and 5)",
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument(
        "--otel",
        action="store_true",
        help="with the otel extra (opentelemetry-api, no SDK configured) in the clean venv",
    )
    parser.add_argument(
        "--python",
        default=getattr(sys, "_base_executable", sys.executable),
        help="the interpreter the clean venv is made from (default: the one running this)",
    )
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.inject_delay_us < 0:
        parser.error("--inject-delay-us must be >= 0")
    if args.json is None:
        args.json = BENCH_DIR / ("smoke.json" if args.smoke else "results.json")
    args.json = args.json.resolve()
    return args


def launch(args: argparse.Namespace) -> int:
    """Build the wheel and the clean venv, then measure in a process of that venv."""
    BENCH_DIR.mkdir(exist_ok=True)
    venv = cleanvenv.ensure_venv(cleanvenv.build_wheel(), args.python, otel=args.otel)
    command = [str(cleanvenv.venv_python(venv)), "-m", "bench", "--measure"]
    command += ["--figures", args.figures, "--json", str(args.json)]
    command += ["--inject-delay-us", str(args.inject_delay_us)]
    command += ["--smoke"] * args.smoke + ["--strict"] * args.strict
    # From scripts/, so that `-m bench` finds this package and nothing else of the checkout.
    return subprocess.run(command, cwd=SCRIPTS, env=cleanvenv.quiet_env(), check=False).returncode


def check_measured_environment() -> None:
    """Refuse to measure anywhere but a clean venv running the installed wheel."""
    import tapti_ext  # noqa: PLC0415

    site = Path(sysconfig.get_paths()["purelib"]).resolve()
    where = Path(tapti_ext.__file__).resolve()
    problems = []
    if sys.prefix == sys.base_prefix:
        problems.append("not in a venv")
    if site not in where.parents:
        problems.append(f"tapti_ext comes from {where}, not from {site}")
    problems += [
        f"{name} is installed" for name in NOT_IN_CLEAN_VENV if importlib.util.find_spec(name)
    ]
    if problems:
        raise SystemExit(
            "--measure runs only in the clean venv `make bench` makes: " + "; ".join(problems)
        )


def run_figures(wanted: set[str], settings: Settings, delay_us: int) -> dict[str, Any]:
    """The figures asked for, each timed; 2 to 5 share one plain-HTTP server (1 and figure 2's
    https rows start an HTTPS one of their own, 6 makes no call)."""
    steps: list[tuple[str, str, Callable[[Server], Any]]] = [
        ("1", "cold_start", lambda _: cold.cold_start(settings, delay_us)),
        ("2", "sync", lambda server: percall.sync_per_call(server.url, settings)),
        ("2", "sync_https", lambda _: percall.sync_per_call_https(settings)),
        ("3", "async", lambda server: asyncio.run(throughput.async_throughput(server, settings))),
        ("4", "reuse_memory", lambda server: memory.connections_and_memory(server, settings)),
        ("6", "clients", lambda _: clients.client_cost(settings)),
    ]
    figures: dict[str, Any] = {"seconds": {}}
    with Server() as server:
        for number, key, step in steps:
            if number in wanted or (number == "4" and "5" in wanted):
                print(f"{number}. {key.replace('_', ' ')} ...", flush=True)
                started = time.perf_counter()
                figures[key] = step(server)
                figures["seconds"][key] = round(time.perf_counter() - started, 1)
    return figures


def print_results(
    args: argparse.Namespace,
    info: dict[str, Any],
    figures: dict[str, Any],
    rows: list[report.Row],
    seconds: float,
) -> list[str]:
    missed = [r["figure"] for r in rows if r["result"] == "MISS"]
    mode = "smoke" if args.smoke else "full"
    delay = f", SDK call path delayed {args.inject_delay_us} µs" if args.inject_delay_us else ""
    parts = ", ".join(f"{key} {value:.0f} s" for key, value in figures["seconds"].items())
    print(
        f"\nTapti SDK vs the generated client and raw httpx2 ({mode} run{delay}, {seconds:.0f} s:"
    )
    print(f"{parts})")
    print(
        f"{info['cpu_model']}, {info['cpus_usable']} CPUs, Python {info['python']} in "
        f"{info['prefix']}, load {info['loadavg_start'][0]:.2f} -> {info['loadavg_end'][0]:.2f}"
    )
    print("packages: " + ", ".join(info["packages"]) + "\n")
    report.print_table(rows)
    if "cold_start" in figures:
        print()
        report.print_importtime(figures["cold_start"]["importtime"])
    print()
    if args.smoke:
        print("smoke run: too few iterations for any ratio to mean anything; nothing is judged.")
    elif missed:
        print(f"MISSED {len(missed)} target(s): " + "; ".join(missed))
    else:
        print("every target met.")
    return missed


def measure(args: argparse.Namespace) -> int:
    check_measured_environment()
    settings = SMOKE if args.smoke else FULL
    wanted = {part.strip() for part in args.figures.split(",") if part.strip()}
    slowdown.install(args.inject_delay_us)
    info = report.environment()
    started = time.perf_counter()
    figures = run_figures(wanted, settings, args.inject_delay_us)
    info["loadavg_end"] = os.getloadavg()
    rows = report.build_table(figures)
    missed = print_results(args, info, figures, rows, time.perf_counter() - started)
    results = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "mode": "smoke" if args.smoke else "full",
        "inject_delay_us": args.inject_delay_us,
        "environment": info,
        "settings": dataclasses.asdict(settings),
        "figures": figures,
        "table": rows,
        "missed": missed,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"results written to {args.json}")
    return 1 if (args.strict and missed and not args.smoke) else 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return measure(args) if args.measure else launch(args)
