"""Print the peak-RSS table of the compression-bomb calls (issue 11's closing note).

Each row is one ``create_sdk_token`` call, sync or async, against a loopback server sending a
bomb of zeros (1000-1024 MiB decoded) under the listed ``Content-Encoding``, measured in a
fresh interpreter: peak-RSS growth over a warmed-up baseline and the call's CPU time. The same
measurement as ``tests/test_compression.py`` (which asserts < 32 MiB and < 1 s).

    .venv/bin/python scripts/compression_rss.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from _bodies import (
    Reply,
    bomb,
    bounded_brotli,
    bounded_zstd,
    crafted_server,
    measure,
    row,
    token_body,
    url_of,
)

CASES = [
    ("gzip", "gzip", 1000),
    ("deflate", "deflate", 1000),
    ("gzip2", "gzip, gzip", 1024),
    ("mixed2", "deflate, gzip", 1024),
    ("gzip3", "gzip, gzip, gzip", 1024),
]
if bounded_brotli() is not None:
    CASES += [("br", "br", 1024), ("br2", "br, gzip", 1024)]
if bounded_zstd() is not None:
    CASES += [("zstd", "zstd", 1024), ("zstd2", "zstd, gzip", 1024)]


def main() -> None:
    replies: dict[str, Reply] = {"warmup": (200, None, token_body("warmup"))}
    for name, coding, mib in CASES:
        replies[name] = (200, coding, bomb(coding, mib))
        replies[f"{name}-400"] = (400, coding, bomb(coding, mib))
    print(f"{'case (wire bytes)':<24} {'Content-Encoding':<22} {'code':>4} mode")
    with crafted_server(replies) as server:
        url = url_of(server)
        for name, coding, mib in CASES:
            label = f"{name} ({len(bomb(coding, mib))} B)"
            for status, case in ((200, name), (400, f"{name}-400")):
                for mode in ("sync", "async"):
                    print(row(label, coding, status, mode, measure(url, case, mode)), flush=True)


if __name__ == "__main__":
    main()
