"""Print the peak-RSS table of the gzip-bomb calls (issue 11's closing note, docs/faults.md).

Each row is one ``create_sdk_token`` call, sync or async, against a loopback server sending a
bomb of zeros (1000-1024 MiB decoded) gzipped one to three times, measured in a fresh
interpreter: peak-RSS growth over a warmed-up baseline and the call's CPU time. The same
measurement as ``tests/test_compression.py`` (which asserts < 32 MiB and < 1 s).

    .venv/bin/python scripts/compression_rss.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from _bodies import Reply, bomb, crafted_server, measure, row, token_body, url_of

CASES = [("gzip", 1, 1000), ("gzip2", 2, 1024), ("gzip3", 3, 1024)]  # name, layers, MiB


def main() -> None:
    replies: dict[str, Reply] = {"warmup": (200, None, token_body("warmup"))}
    for name, layers, mib in CASES:
        header = ", ".join(["gzip"] * layers)
        replies[name] = (200, header, bomb(layers, mib))
        replies[f"{name}-400"] = (400, header, bomb(layers, mib))
    print(f"{'case (wire bytes)':<24} {'Content-Encoding':<22} {'code':>4} mode")
    with crafted_server(replies) as server:
        url = url_of(server)
        for name, layers, mib in CASES:
            label = f"{name} ({len(bomb(layers, mib))} B)"
            header = replies[name][1] or ""
            for status, case in ((200, name), (400, f"{name}-400")):
                for mode in ("sync", "async"):
                    print(row(label, header, status, mode, measure(url, case, mode)), flush=True)


if __name__ == "__main__":
    main()
