"""The printed table, the import-time breakdown and the environment the figures came from."""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from typing import Any

from .config import (
    TARGET_ASYNC,
    TARGET_CLIENT_CPU_MS,
    TARGET_CLIENT_RSS_KB,
    TARGET_COLD_VS_GENERATED,
    TARGET_CONNECTIONS,
    TARGET_RSS_MB,
    TARGET_SYNC_CPU,
)

Row = dict[str, str]


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def environment() -> dict[str, Any]:
    """The machine, and every distribution installed where the figures are measured."""
    packages = sorted(
        f"{dist.metadata['Name']}=={dist.version}" for dist in metadata.distributions()
    )
    return {
        "cpus": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "cpu_model": cpu_model(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "prefix": sys.prefix,
        "packages": packages,
        "loadavg_start": os.getloadavg(),
    }


def row(
    figure: str, measured: str, target: str = "(info)", ok: bool | None = None, detail: str = ""
) -> Row:
    result = "" if ok is None else ("PASS" if ok else "MISS")
    return {
        "figure": figure,
        "measured": measured,
        "target": target,
        "result": result,
        "detail": detail,
    }


def cold_rows(cold: dict[str, Any]) -> list[Row]:
    first, imports, modules = cold["first_call"], cold["import"], cold["modules"]
    ms, vs_gen, vs_httpx = first["min_ms"], first["sdk_vs_generated"], first["sdk_vs_httpx"]
    ratio = vs_gen["ratio_min_vs_min"]
    bad = modules["forbidden_imported"]
    bundle = cold["ssl_cert_file"]
    count = modules["count"]
    return [
        row(
            "1. cold start to exit, https, vs generated client",
            f"{ratio:.3f}x",
            f"<= {TARGET_COLD_VS_GENERATED:.2f}x",
            ratio <= TARGET_COLD_VS_GENERATED,
            f"min {ms['sdk']:.1f} ms vs {ms['generated']:.1f} ms; median of "
            f"{first['rounds']} per-round ratios {vs_gen['ratio_median_of_rounds']:.3f}x; "
            f"SSL_CERT_FILE: {bundle['made_from']} + test CA, "
            f"{bundle['certificates']} certificates",
        ),
        row(
            "1. cold start to exit, https, vs raw httpx2",
            f"{vs_httpx['ratio_min_vs_min']:.3f}x",
            detail=f"httpx2 {ms['httpx2']:.1f} ms; generated vs httpx2 "
            f"{first['generated_vs_httpx']['ratio_min_vs_min']:.3f}x; median of per-round "
            f"ratios {vs_httpx['ratio_median_of_rounds']:.3f}x",
        ),
        row(
            "1. modules a plain call must not import",
            ", ".join(bad) if bad else "none",
            "none",
            not bad,
            f"{count['sdk']} modules vs {count['generated']} (generated), "
            f"{count['httpx2']} (httpx2)",
        ),
        row(
            "1. from tapti_ext import Tapti vs generated imports",
            f"{imports['sdk_vs_generated']['ratio_min_vs_min']:.3f}x",
            detail=f"min {imports['min_ms']['sdk']:.1f} ms vs {imports['min_ms']['generated']:.1f} "
            f"ms; vs import httpx2 ({imports['min_ms']['httpx2']:.1f} ms) "
            f"{imports['sdk_vs_httpx']['ratio_min_vs_min']:.3f}x",
        ),
    ]


def _size(size: int) -> str:
    return f"{size // 1024} KiB" if size >= 1024 else f"{size} B"


def sync_rows(sync: dict[str, Any]) -> list[Row]:
    rows = []
    for fig in sync["variants"].values():
        best, faults = fig["best_cpu_us"], fig["page_faults_per_call"]
        sdk, sdk_faults = best["sdk_vs_httpx2"], faults["sdk_vs_httpx2"]
        generated, generated_faults = best["generated_vs_httpx2"], faults["generated_vs_httpx2"]
        coding = "gzip" if fig["gzip"] else "identity"
        rows.append(
            row(
                f"2. sync CPU per call vs httpx2, {_size(fig['body_bytes'])} {coding}",
                f"{fig['ratio_cpu']:.3f}x",
                f"<= {TARGET_SYNC_CPU:.2f}x",
                fig["ratio_cpu"] <= TARGET_SYNC_CPU,
                f"median of {fig['rounds']} paired ratios (rounds of {fig['calls_per_round']} "
                f"calls); best rounds SDK {sdk['sdk']:.1f}, httpx2 {sdk['httpx2']:.1f} µs "
                f"({fig['ratio_cpu_best']:.3f}x); generated, in a rotation of its own, "
                f"{fig['ratio_cpu_generated']:.3f}x httpx2 (best {generated['generated']:.1f} "
                f"vs {generated['httpx2']:.1f} µs); page faults per call SDK "
                f"{sdk_faults['sdk']:.1f}, httpx2 {sdk_faults['httpx2']:.1f}, generated "
                f"{generated_faults['generated']:.1f}",
            )
        )
    allocator = sync["allocator"]
    fixed = "fixed" if allocator["fixed"] else "NOT fixed (not glibc?)"
    rows.append(
        row(
            "2. glibc trim and mmap thresholds during figure 2",
            fixed,
            detail=f"M_TRIM_THRESHOLD {allocator['trim_threshold'] >> 20} MiB, "
            f"M_MMAP_THRESHOLD {allocator['mmap_threshold'] >> 20} MiB",
        )
    )
    return rows


def sync_https_rows(sync: dict[str, Any]) -> list[Row]:
    rows = []
    for fig in sync["variants"].values():
        best = fig["best_cpu_us"]
        coding = "gzip" if fig["gzip"] else "identity"
        rows.append(
            row(
                f"2. over https: vs httpx2, {_size(fig['body_bytes'])} {coding}",
                f"{fig['ratio_cpu']:.3f}x",
                f"<= {TARGET_SYNC_CPU:.2f}x",
                fig["ratio_cpu"] <= TARGET_SYNC_CPU,
                f"median of {fig['rounds']} paired ratios (rounds of {fig['calls_per_round']} "
                f"calls); best rounds SDK {best['sdk']:.1f}, httpx2 {best['httpx2']:.1f} µs",
            )
        )
    return rows


def async_rows(fig: dict[str, Any]) -> list[Row]:
    median, best = fig["median_calls_per_s"], fig["best_calls_per_s"]
    return [
        row(
            "3. async throughput vs httpx2",
            f"{fig['ratio_throughput']:.3f}x",
            f">= {TARGET_ASYNC:.2f}x",
            fig["ratio_throughput"] >= TARGET_ASYNC,
            f"median of {fig['rounds']} paired ratios; median round {median['sdk']:.0f} vs "
            f"{median['httpx2']:.0f} calls/s, best {best['sdk']:.0f} vs {best['httpx2']:.0f} "
            f"({fig['ratio_throughput_best']:.3f}x); {fig['calls_per_round']} calls a round at "
            f"concurrency {fig['concurrency']}; CPU per call {fig['ratio_cpu']:.3f}x",
        )
    ]


def memory_rows(fig: dict[str, Any]) -> list[Row]:
    sdk, base = fig["sdk"], fig["httpx2"]
    reused = sdk["connections"] == TARGET_CONNECTIONS
    return [
        row(
            f"4. TCP connections, {sdk['connection_calls']} sequential calls",
            str(sdk["connections"]),
            f"== {TARGET_CONNECTIONS}",
            reused and sdk["requests_seen"] == sdk["connection_calls"],
            f"httpx2 {base['connections']}; over all "
            f"{sdk['requests_all_calls']} calls: {sdk['connections_all_calls']}",
        ),
        row(
            f"5. RSS growth over {sdk['memory_calls']} calls",
            f"{sdk['rss_growth_mb']:.2f} MB",
            f"< {TARGET_RSS_MB:.0f} MB",
            sdk["rss_growth_mb"] < TARGET_RSS_MB,
            f"httpx2 {base['rss_growth_mb']:.2f} MB; tracemalloc over "
            f"{sdk['tracemalloc_calls']} calls {sdk['tracemalloc_growth_bytes'] / 1024:+.1f} KiB "
            f"(httpx2 {base['tracemalloc_growth_bytes'] / 1024:+.1f} KiB)",
        ),
    ]


def client_rows(fig: dict[str, Any]) -> list[Row]:
    best, counts = fig["best"], fig["clients"]
    sdk, httpx, generated = best["sdk"], best["httpx2"], best["generated"]
    cpu, alive = sdk["cpu_ms_per_client"], sdk["rss_kb_per_client_alive"]
    where = f"{fig['url']}, SSL_CERT_FILE of {fig['bundle_certificates']} certificates"
    return [
        row(
            "6. one more Tapti over https: CPU, made and closed",
            f"{cpu:.3f} ms",
            f"<= {TARGET_CLIENT_CPU_MS:.0f} ms",
            cpu <= TARGET_CLIENT_CPU_MS,
            f"best of {fig['runs']} processes of {counts['sdk']} clients ({where}); "
            f"httpx2.Client {httpx['cpu_ms_per_client']:.2f} ms, generated client "
            f"{generated['cpu_ms_per_client']:.2f} ms (each of {counts['httpx2']} clients)",
        ),
        row(
            "6. one more Tapti over https: RSS while alive",
            f"{alive:.1f} KB",
            f"<= {TARGET_CLIENT_RSS_KB:.0f} KB",
            alive <= TARGET_CLIENT_RSS_KB,
            f"KiB per client; httpx2.Client {httpx['rss_kb_per_client_alive']:.0f} KB, generated "
            f"{generated['rss_kb_per_client_alive']:.0f} KB; after all are closed: SDK "
            f"{sdk['rss_kb_per_client_after_close']:.1f}, httpx2 "
            f"{httpx['rss_kb_per_client_after_close']:.1f}, generated "
            f"{generated['rss_kb_per_client_after_close']:.1f} KB per client",
        ),
    ]


BUILDERS = {
    "cold_start": cold_rows,
    "sync": sync_rows,
    "sync_https": sync_https_rows,
    "async": async_rows,
    "reuse_memory": memory_rows,
    "clients": client_rows,
}


def build_table(figures: dict[str, Any]) -> list[Row]:
    return [r for key, build in BUILDERS.items() if key in figures for r in build(figures[key])]


def print_table(rows: list[Row]) -> None:
    headers = {"figure": "Figure", "measured": "Measured", "target": "Target", "result": "Result"}
    widths = {key: max(len(headers[key]), *(len(r[key]) for r in rows)) for key in headers}
    line = "  ".join(headers[key].ljust(widths[key]) for key in headers)
    print(line)
    print("-" * len(line))
    for r in rows:
        print("  ".join(r[key].ljust(widths[key]) for key in headers).rstrip())
        if r["detail"]:
            print(" " * 4 + r["detail"])


def print_importtime(times: dict[str, Any]) -> None:
    """What the first call imports beyond each baseline (``-X importtime``, best of N runs)."""
    for key, title in (
        ("sdk_beyond_httpx", "the SDK's first call imports beyond raw httpx2"),
        ("sdk_beyond_generated", "the SDK's first call imports beyond the generated client"),
    ):
        part = times[key]
        print(f"{title}: {part['modules']} modules, {part['self_ms']:.1f} ms of import time")
        packages = ", ".join(
            f"{p['package']} {p['self_ms']:.1f} ms ({p['modules']})" for p in part["by_package"]
        )
        print(f"    by package (modules): {packages}")
        costliest = ", ".join(f"{m['module']} {m['self_ms']:.1f}" for m in part["costliest"][:8])
        print(f"    costliest (ms): {costliest}")
